"""Provider adapters behind one interface. Vendor SDKs and their exceptions stay in here."""

from channels.base import Channel, EmailMessage, Message, Receipt, SmsMessage
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
    "EmailMessage",
    "Message",
    "PermanentChannelError",
    "ProviderConfigurationError",
    "Receipt",
    "SmsMessage",
    "TransientChannelError",
    "build_channels",
]
