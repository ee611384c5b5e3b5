"""Privacy: a customer's right to be forgotten and to get a copy of their data (GDPR Art. 15,
17 and 20; CCPA's rights to know and to delete).

The public operations are in ``touchline.privacy.actions``: ``forget_customer`` and
``export_customer``. What erasure removes and what it keeps, and why, is in docs/privacy.md.
"""
