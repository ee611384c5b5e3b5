"""SendGrid's Event Webhook: signature verification and parsing.

SendGrid posts JSON arrays of events, signed with ECDSA (see Mail Settings > Signed Event
Webhook). It delivers duplicates routinely, so every event carries ``sg_event_id`` for
deduplication; ``sg_message_id`` starts with the ``X-Message-Id`` returned by Mail Send.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sendgrid.helpers.eventwebhook import EventWebhook

from channels.webhooks.base import ProviderEvent, WebhookPayloadError, WebhookSignatureError

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
# A signed request further than this from now is refused, so a captured request cannot be
# replayed later (Touchline passes its setting, TOUCHLINE_SENDGRID_WEBHOOK_MAX_AGE).
DEFAULT_MAX_AGE = timedelta(minutes=10)

KINDS = {
    "processed": "processed",
    "deferred": "deferred",
    "delivered": "delivered",
    "open": "opened",
    "click": "clicked",
    "bounce": "bounced",
    "dropped": "dropped",
    "spamreport": "spam_report",
    "unsubscribe": "unsubscribed",
    "group_unsubscribe": "unsubscribed",
    "group_resubscribe": "resubscribed",
}
CONSENT_KINDS = frozenset({"unsubscribed", "resubscribed"})
STANDARD_FIELDS = {
    "email", "timestamp", "event", "sg_event_id", "sg_message_id", "smtp-id", "category",
    "useragent", "ip", "url", "reason", "status", "type", "response", "attempt",
    "asm_group_id", "sg_machine_open", "tls", "cert_err", "bounce_classification",
    "url_offset", "marketing_campaign_id", "marketing_campaign_name", "pool",
}  # fmt: skip
DETAIL_FIELDS = (
    "reason",
    "status",
    "type",
    "response",
    "url",
    "useragent",
    "asm_group_id",
    "bounce_classification",
    "attempt",
)


def verify(
    body: bytes,
    headers: Mapping[str, str],
    public_key: str,
    now: datetime,
    max_age: timedelta = DEFAULT_MAX_AGE,
) -> None:
    """Raise WebhookSignatureError unless the body was signed with the key's private half,
    at a time within ``max_age`` of ``now`` (the receiver's clock, injected for tests)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    signature = lowered.get(SIGNATURE_HEADER.lower())
    timestamp = lowered.get(TIMESTAMP_HEADER.lower())
    if not signature or not timestamp:
        raise WebhookSignatureError("missing SendGrid signature headers")
    if not public_key:
        raise WebhookSignatureError("no SendGrid Event Webhook public key configured")
    # Seconds since the epoch, as digits only: int() would also take " 12", "+12", "1_2" or a
    # 5,000-digit number (which it refuses with ValueError only after a while).
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise WebhookSignatureError("the signature timestamp is not a Unix time in seconds")
    age = now.timestamp() - int(timestamp)
    if not math.isfinite(age) or abs(age) > max_age.total_seconds():
        raise WebhookSignatureError(
            f"the signature timestamp is {age:.0f} s away from now "
            f"(at most {max_age.total_seconds():.0f} s allowed)"
        )
    try:
        helper = EventWebhook(public_key)
        valid = helper.verify_signature(body.decode("utf-8"), signature, timestamp)
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise WebhookSignatureError(f"cannot check the signature: {exc}") from exc
    if not valid:
        raise WebhookSignatureError("the SendGrid signature does not match the body")


def parse(body: bytes) -> list[ProviderEvent]:
    try:
        raw = json.loads(body)
    except ValueError as exc:
        raise WebhookPayloadError(f"not JSON: {exc}") from exc
    if not isinstance(raw, list):
        raise WebhookPayloadError("SendGrid posts a JSON array of events")
    events = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not item.get("sg_event_id") or not item.get("event"):
            raise WebhookPayloadError(f"event {index} lacks sg_event_id or event")
        kind = KINDS.get(item["event"], item["event"])
        message_id = item.get("sg_message_id")
        custom = {k: v for k, v in item.items() if k not in STANDARD_FIELDS}
        occurred = None
        if isinstance(item.get("timestamp"), int | float):
            occurred = datetime.fromtimestamp(item["timestamp"], UTC)
        detail: dict[str, Any] = {k: item[k] for k in DETAIL_FIELDS if k in item}
        # The provider's own name: "unsubscribe" (from everything) and "group_unsubscribe"
        # (from one group) are both "unsubscribed" to us, and mean different things.
        detail["event"] = item["event"]
        if kind in CONSENT_KINDS and "ip" in item:
            detail["ip"] = item["ip"]  # evidence of who unsubscribed, kept for the ledger
        if kind == "dropped" or item.get("type") == "blocked":
            detail["permanent"] = True
        events.append(
            ProviderEvent(
                provider="sendgrid",
                event_id=str(item["sg_event_id"]),
                kind=kind,
                # The part before the first dot is the X-Message-Id we stored at send time.
                provider_message_id=message_id.split(".", 1)[0] if message_id else None,
                touch_id=str(custom["touch_id"]) if "touch_id" in custom else None,
                recipient=item.get("email"),
                occurred_at=occurred,
                detail=detail,
            )
        )
    return events
