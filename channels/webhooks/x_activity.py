"""X's Account Activity webhooks: the CRC challenge, the signature, DMs and mentions.

X proves our webhook is ours by a challenge-response check (CRC): a GET with
``crc_token``, to be answered with ``{"response_token": "sha256=" + base64(HMAC-SHA256(
consumer secret, crc_token))}`` — at registration and again about hourly. Every event is
then POSTed as JSON with ``x-twitter-webhooks-signature: sha256=<base64 HMAC-SHA256
(consumer secret, raw body)>``.

A payload names the account it is for (``for_user_id``) and carries, among other kinds:
  - ``direct_message_events`` (``type: message_create``): DMs in our conversations, ours
    included — a DM whose sender is us is our own message echoed back, not a customer's;
  - ``tweet_create_events``: Tweets that mention us (and our own Tweets, skipped).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from channels.webhooks.base import WebhookPayloadError, WebhookSignatureError

SIGNATURE_HEADER = "x-twitter-webhooks-signature"
DM, MENTION = "dm", "mention"


@dataclass(frozen=True)
class SocialMessage:
    """A DM to us or a Tweet mentioning us."""

    event_id: str  # the DM event id or the Tweet id: unique per message, the dedup key
    kind: str  # dm | mention
    sender_id: str
    handle: str | None  # the sender's screen name, as X sent it (None: X did not say)
    text: str
    occurred_at: datetime | None


def _hmac(secret: str, data: bytes) -> str:
    digest = hmac.new(secret.encode(), data, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def crc_response(crc_token: str, consumer_secret: str) -> dict[str, str]:
    if not crc_token:
        raise WebhookPayloadError("crc_token is required")
    return {"response_token": _hmac(consumer_secret, crc_token.encode())}


def verify(body: bytes, headers: Mapping[str, str], consumer_secret: str) -> None:
    """Raise WebhookSignatureError unless the body is signed with our consumer secret."""
    given = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER), "")
    if not given:
        raise WebhookSignatureError(f"no {SIGNATURE_HEADER} header")
    if not hmac.compare_digest(given.encode(), _hmac(consumer_secret, body).encode()):
        raise WebhookSignatureError(f"{SIGNATURE_HEADER} does not match the body")


def parse(body: bytes) -> list[SocialMessage]:
    """The customers' DMs and mentions in one payload; everything else is left out."""
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise WebhookPayloadError(f"not JSON: {exc}") from exc
    if not isinstance(payload, dict) or not payload.get("for_user_id"):
        raise WebhookPayloadError("an Account Activity payload names its for_user_id")
    ours = str(payload["for_user_id"])
    try:
        return [
            *_direct_messages(payload, ours),
            *_mentions(payload.get("tweet_create_events") or [], ours),
        ]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise WebhookPayloadError(f"unreadable event: {type(exc).__name__} {exc}") from exc


def _direct_messages(payload: dict[str, Any], ours: str) -> list[SocialMessage]:
    users: dict[str, Any] = payload.get("users") or {}
    found = []
    for event in payload.get("direct_message_events") or []:
        if event.get("type") != "message_create":
            continue
        create = event["message_create"]
        sender = str(create["sender_id"])
        if sender == ours:
            continue  # our own message, echoed to us
        stamp = event.get("created_timestamp")
        found.append(
            SocialMessage(
                event_id=str(event["id"]),
                kind=DM,
                sender_id=sender,
                handle=(users.get(sender) or {}).get("screen_name"),
                text=str(create["message_data"].get("text") or ""),
                occurred_at=datetime.fromtimestamp(int(stamp) / 1000, UTC) if stamp else None,
            )
        )
    return found


def _mentions(tweets: list[dict[str, Any]], ours: str) -> list[SocialMessage]:
    found = []
    for tweet in tweets:
        user = tweet["user"]
        author = str(user.get("id_str") or user["id"])
        mentioned = {
            str(m.get("id_str") or m.get("id"))
            for m in (tweet.get("entities") or {}).get("user_mentions") or []
        }
        if author == ours or ours not in mentioned:
            continue  # our own Tweet, or one that does not mention us
        stamp = tweet.get("created_at")
        found.append(
            SocialMessage(
                event_id=str(tweet.get("id_str") or tweet["id"]),
                kind=MENTION,
                sender_id=author,
                handle=user.get("screen_name"),
                # Tweets over 140 characters carry their whole text in extended_tweet.
                text=str((tweet.get("extended_tweet") or {}).get("full_text") or tweet["text"]),
                occurred_at=(
                    datetime.strptime(stamp, "%a %b %d %H:%M:%S %z %Y") if stamp else None
                ),
            )
        )
    return found
