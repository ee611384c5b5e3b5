"""Provider webhooks: verify the signature, then parse into ``ProviderEvent``s."""

from channels.webhooks import (
    sendgrid_events,
    twilio_inbound,
    twilio_signature,
    twilio_status,
    x_activity,
)
from channels.webhooks.base import (
    ProviderEvent,
    WebhookError,
    WebhookPayloadError,
    WebhookSignatureError,
)

__all__ = [
    "ProviderEvent",
    "WebhookError",
    "WebhookPayloadError",
    "WebhookSignatureError",
    "sendgrid_events",
    "twilio_inbound",
    "twilio_signature",
    "twilio_status",
    "x_activity",
]
