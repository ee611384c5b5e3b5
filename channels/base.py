"""What every channel accepts and returns. No vendor types cross this line."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
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
    dispatch_id: str | None = None  # the send attempt, findable at the provider after a crash


@dataclass(frozen=True)
class SmsMessage:
    touch_id: str
    to: str
    body: str
    tags: tuple[str, ...] = ()
    dispatch_id: str | None = None


@dataclass(frozen=True)
class WhatsAppMessage:
    """Free text inside the customer's 24-hour session window; outside it, only an approved
    template (``content_sid`` with its variables) may open a conversation."""

    touch_id: str
    to: str  # E.164; the adapter adds the ``whatsapp:`` prefix
    body: str | None = None
    content_sid: str | None = None
    content_variables: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    dispatch_id: str | None = None


@dataclass(frozen=True)
class DirectMessage:
    """An X direct message to a handle."""

    touch_id: str
    to: str  # the handle, without @
    text: str
    tags: tuple[str, ...] = ()
    dispatch_id: str | None = None


Message = EmailMessage | SmsMessage | WhatsAppMessage | DirectMessage


def content_digest(message: Message) -> str:
    """What identifies a message's content at the provider when its id was never learnt:
    the subject of an email (the provider's activity log shows it), the body of an SMS."""
    if isinstance(message, EmailMessage):
        text = message.subject
    elif isinstance(message, SmsMessage):
        text = message.body
    elif isinstance(message, WhatsAppMessage):
        text = message.body or f"{message.content_sid}:{sorted(message.content_variables.items())}"
    else:
        text = message.text
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class InDoubt:
    """A message that may or may not have reached the provider: the worker sending it died
    between the request and recording the answer."""

    touch_id: str
    to: str
    digest: str  # content_digest() of the message as it was sent
    dispatch_id: str
    since: datetime  # when that attempt started


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

    def find_sent(
        self, in_doubt: Sequence[InDoubt], known_ids: frozenset[str]
    ) -> dict[str, Receipt]:
        """Which of these messages the provider accepted, by touch id. ``known_ids`` are
        provider ids already recorded for other touches: never claimed twice. Raises the
        same errors as ``send`` when the provider cannot be asked."""
        ...

    def close(self) -> None: ...
