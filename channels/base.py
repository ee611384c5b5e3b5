"""What every channel accepts and returns. No vendor types cross this line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol


@dataclass(frozen=True)
class EmailMessage:
    touch_id: str
    to: str
    subject: str
    html: str
    text: str
    to_name: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()  # journey, step: become provider categories for reporting


@dataclass(frozen=True)
class SmsMessage:
    touch_id: str
    to: str
    body: str
    tags: tuple[str, ...] = ()


Message = EmailMessage | SmsMessage


@dataclass(frozen=True)
class Receipt:
    """The provider accepted the message; delivery is reported later by webhook."""

    provider: str
    provider_message_id: str
    status: str
    detail: Mapping[str, Any] = field(default_factory=dict)


class Channel(Protocol):
    name: ClassVar[str]  # the channel: email, sms
    provider: ClassVar[str]  # who carries it: sendgrid, twilio

    def send(self, message: Any) -> Receipt:
        """Send one message. Raises ``TransientChannelError`` (worth a retry),
        ``PermanentChannelError`` (this message will never go) or
        ``ProviderConfigurationError`` (nothing will go until an operator acts)."""
        ...

    def close(self) -> None: ...
