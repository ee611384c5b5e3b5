"""What provider webhooks become once verified and parsed: vendor-neutral events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class WebhookError(Exception):
    pass


class WebhookSignatureError(WebhookError):
    """Unsigned, tampered, or signed with another key: refuse, store nothing."""


class WebhookPayloadError(WebhookError):
    """Signed correctly but not something we can read."""


@dataclass(frozen=True)
class ProviderEvent:
    provider: str
    event_id: str  # unique per provider event: the deduplication key
    kind: str  # processed, delivered, opened, clicked, bounced, dropped, spam_report, unsubscribed, sent, undelivered, failed…
    provider_message_id: str | None
    touch_id: str | None
    recipient: str | None
    occurred_at: datetime | None  # None: the provider gave no time; the receiver stamps it
    detail: dict[str, Any] = field(default_factory=dict)
