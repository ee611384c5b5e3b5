"""Signed links in messages (unsubscribe, preferences): tamper-proof, no login needed.

A token is ``base64url(json).base64url(hmac-sha256)``. It carries who and what, never
secrets; the signature proves we issued it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any


class InvalidToken(ValueError):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(payload: dict[str, Any], secret: str) -> str:
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def verify(token: str, secret: str, *, now: datetime | None = None) -> dict[str, Any]:
    """The payload of a token we issued. A token with an expiry (``exp``, epoch seconds)
    is refused after it, when ``now`` is given."""
    try:
        body, mac = token.split(".", 1)
        expected = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(mac)):
            raise InvalidToken("the link's signature does not match")
        payload = json.loads(_unb64(body))
    except (ValueError, TypeError) as exc:
        raise InvalidToken(f"not a Touchline link: {exc}") from exc
    if not isinstance(payload, dict):
        raise InvalidToken("not a Touchline link")
    expires = payload.get("exp")
    if expires is not None and now is not None and now.timestamp() > float(expires):
        raise InvalidToken("the link has expired")
    return payload


def signed_link(
    public_url: str, secret: str, purpose: str, *, customer_id: str, expires_at: datetime,
    **extra: str,
) -> str:  # fmt: skip
    """A link to one of our pages for one customer: ``purpose`` is the page (``p`` for
    preferences, ``c`` to confirm SMS) and is signed too, so one page's token never opens
    another."""
    token = sign({"k": purpose, "c": customer_id, "exp": int(expires_at.timestamp()), **extra},
                 secret)  # fmt: skip
    return f"{public_url.rstrip('/')}/{purpose}/{token}"


def verify_link(token: str, secret: str, purpose: str, now: datetime) -> dict[str, Any]:
    payload = verify(token, secret, now=now)
    if payload.get("k") != purpose or not payload.get("c") or "exp" not in payload:
        raise InvalidToken("the link is not for this page")
    return payload


def unsubscribe_url(
    public_url: str, secret: str, *, customer_id: str, channel: str, touch_id: str
) -> str:
    token = sign({"c": customer_id, "ch": channel, "t": touch_id}, secret)
    return f"{public_url.rstrip('/')}/u/{token}"
