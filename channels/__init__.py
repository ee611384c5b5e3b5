"""Provider adapters behind one interface. Vendor SDKs and their exceptions stay in here."""

from channels.base import (
    Channel,
    DirectMessage,
    EmailMessage,
    InDoubt,
    Message,
    Receipt,
    SmsMessage,
    WhatsAppMessage,
    content_digest,
)
from channels.errors import (
    ChannelError,
    PermanentChannelError,
    ProviderConfigurationError,
    TransientChannelError,
)
from channels.registry import build_channels

__all__ = [
    "Channel",
    "ChannelError",
    "DirectMessage",
    "EmailMessage",
    "InDoubt",
    "Message",
    "PermanentChannelError",
    "ProviderConfigurationError",
    "Receipt",
    "SmsMessage",
    "TransientChannelError",
    "WhatsAppMessage",
    "build_channels",
    "content_digest",
]
