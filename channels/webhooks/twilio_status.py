"""Twilio message status callbacks: parsing, once twilio_signature.verify has checked them."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qs, urlsplit

from channels.webhooks.base import ProviderEvent, WebhookPayloadError

STATUSES = {"accepted", "scheduled", "queued", "sending", "sent", "delivered", "undelivered", "failed", "read", "canceled", "receiving", "received"}  # fmt: skip
# Twilio's statuses in the record's vocabulary. "sent" means handed to the carrier, which is
# what SendGrid calls "processed"; our own "sent" means the provider accepted the request.
# "failed" (Twilio could not send at all) is recorded as undelivered with the status in the
# detail: the record's "failed" is a touch's own outcome. Queued is kept (a message stuck
# in Twilio's queue is worth seeing); accepted, scheduled and sending are not.
KINDS = {
    "queued": "queued",
    "sent": "processed",
    "delivered": "delivered",
    "undelivered": "undelivered",
    "failed": "undelivered",
    "read": "opened",
}


def parse_status(url: str, params: Mapping[str, str]) -> ProviderEvent | None:
    """The callback as a ProviderEvent, or None for statuses the record does not keep."""
    sid = params.get("MessageSid") or params.get("SmsSid")
    status = params.get("MessageStatus") or params.get("SmsStatus")
    if not sid or not status:
        raise WebhookPayloadError("a status callback needs MessageSid and MessageStatus")
    if status not in STATUSES:
        raise WebhookPayloadError(f"unknown message status '{status}'")
    if status not in KINDS:
        return None
    touch = parse_qs(urlsplit(url).query).get("touch_id")
    detail = {"status": status}
    if params.get("ErrorCode"):
        detail["error_code"] = params["ErrorCode"]
    return ProviderEvent(
        provider="twilio",
        # Each status is reported once per message; a retried callback repeats the pair.
        event_id=f"{sid}:{status}",
        kind=KINDS[status],
        provider_message_id=sid,
        touch_id=touch[0] if touch else None,
        recipient=params.get("To"),
        occurred_at=None,  # Twilio's callbacks carry no event time
        detail=detail,
    )
