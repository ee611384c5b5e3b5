"""Twilio's webhook signature, shared by status callbacks and inbound messages.

Twilio signs every webhook with HMAC-SHA1 of the full URL and the sorted POST parameters
(X-Twilio-Signature); the SDK's RequestValidator checks it. The URL must be the one Twilio
called, i.e. our public URL, not whatever a proxy forwarded to.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl

from twilio.request_validator import RequestValidator

from channels.webhooks.base import WebhookSignatureError

SIGNATURE_HEADER = "X-Twilio-Signature"


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
