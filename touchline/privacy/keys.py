"""Keyed hashes: how an erased address stays provable without staying readable.

After erasure the consent ledger keeps its evidence (GDPR Art. 7(1): the controller must be
able to show that the person consented; Art. 17(3)(e): what defends a legal claim may be
kept), but every address in it becomes ``hmac-sha256:<hex>`` of the address under
``settings.erasure_key``. With the key, "did +14155550101 consent on 3 March?" can still be
answered, and an address that comes back (a re-import) is recognised; without it, the
hash cannot be reversed by trying every phone number, as a plain SHA-256 could be.
"""

from __future__ import annotations

import hashlib
import hmac

from touchline.config import Settings

PREFIX = "hmac-sha256:"


def keyed_hash(settings: Settings, kind: str, value: str) -> str:
    """The keyed hash of a normalised value of one kind (email, phone, customer id…).

    The kind is part of the message, so that one string erased as two kinds (a WhatsApp
    number that is also the SMS number) still hashes the same per kind, never across."""
    key = settings.erasure_key.get_secret_value().encode()
    digest = hmac.new(key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()
    return f"{PREFIX}{digest}"


def is_keyed_hash(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)
