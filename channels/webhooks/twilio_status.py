"""Twilio message status callbacks: signature validation and parsing.

Twilio signs every webhook with HMAC-SHA1 of the full URL and the sorted POST parameters
(X-Twilio-Signature); the SDK's RequestValidator checks it. The URL must be the one Twilio
called, i.e. our public URL, not whatever a proxy forwarded to.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qs, parse_qsl, urlsplit

from twilio.request_validator import RequestValidator

from channels.webhooks.base import ProviderEvent, WebhookPayloadError, WebhookSignatureError

SIGNATURE_HEADER = "X-Twilio-Signature"
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


def verify(url: str, body: bytes, headers: Mapping[str, str], auth_token: str) -> dict[str, str]:
    """Returns the form parameters once the signature checks out."""
    signature = {k.lower(): v for k, v in headers.items()}.get(SIGNATURE_HEADER.lower())
    if not signature:
        raise WebhookSignatureError("missing X-Twilio-Signature")
    try:
        params = dict(
            parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookSignatureError(f"unreadable form body: {exc}") from exc
    if not RequestValidator(auth_token).validate(url, params, signature):
        raise WebhookSignatureError("the Twilio signature does not match URL and parameters")
    return params


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
