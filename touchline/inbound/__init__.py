"""What customers and providers send us, into the record and the journeys.

- ``provider_events``: delivery and engagement reports from SendGrid and Twilio (delivered,
  opened, clicked, bounced, unsubscribed…), each stored once on its touch.
- ``texts``: SMS and WhatsApp messages customers text us: keywords, replies, ``*.received``.
- ``social``: X DMs and mentions from customers.

The HTTP side (signature checks, routes) lives in ``touchline.api``; this package starts
from payloads already verified and parsed by ``channels.webhooks``.
"""

from touchline.inbound.provider_events import EngagementReport, record_provider_events
from touchline.inbound.social import SocialReport, handle_x_messages
from touchline.inbound.texts import InboundResult, handle_inbound_sms

__all__ = [
    "EngagementReport",
    "InboundResult",
    "SocialReport",
    "handle_inbound_sms",
    "handle_x_messages",
    "record_provider_events",
]
