"""Signed provider webhooks: one FastAPI dependency per provider that verifies, then parses.

A route declares what it needs (``events: SendGridEvents``) and receives it only once the
signature checked out and the payload parsed. Otherwise the request ends here, stored
nowhere: a failed signature answers 403 with a fixed body (and a log line, as refusals are
worth seeing), a signed payload that does not parse answers 400 with the parser's reason.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request

from channels.webhooks import (
    ProviderEvent,
    WebhookPayloadError,
    WebhookSignatureError,
    sendgrid_events,
    twilio_inbound,
    twilio_signature,
    twilio_status,
    x_activity,
)
from channels.webhooks.twilio_inbound import InboundMessage
from channels.webhooks.x_activity import SocialMessage
from touchline.api.deps import ApiState, state

log = logging.getLogger(__name__)
T = TypeVar("T")
Check = Callable[[bytes, Request, ApiState], T]


def signed_webhook(refused: str, check: Check[T]) -> Callable[..., Awaitable[T]]:
    """A dependency running ``check`` (verify, then parse) on the raw body.

    ``refused`` names the request in the log line, e.g. "a SendGrid webhook".
    """

    async def verified(request: Request, app: ApiState = Depends(state)) -> T:
        body = await request.body()
        try:
            return check(body, request, app)
        except WebhookSignatureError as exc:
            log.warning("refused %s: %s", refused, exc)
            raise HTTPException(403, "signature verification failed") from exc
        except WebhookPayloadError as exc:
            raise HTTPException(400, str(exc)) from exc

    return verified


def public_url(request: Request, app: ApiState) -> str:
    # Twilio signed the URL it called: our public URL, whatever proxies forwarded to us.
    return (
        app.settings.public_url.rstrip("/")
        + request.url.path
        + (f"?{request.url.query}" if request.url.query else "")
    )


def _sendgrid(body: bytes, request: Request, app: ApiState) -> list[ProviderEvent]:
    max_age = app.settings.sendgrid_webhook_max_age
    sendgrid_events.verify(body, request.headers, app.sendgrid_public_key, app.clock.now(), max_age)
    return sendgrid_events.parse(body)


def _twilio_params(body: bytes, request: Request, app: ApiState) -> dict[str, str]:
    secret = app.settings.twilio_auth_token.get_secret_value()
    return twilio_signature.verify(public_url(request, app), body, request.headers, secret)


def _twilio_status(body: bytes, request: Request, app: ApiState) -> ProviderEvent | None:
    params = _twilio_params(body, request, app)
    return twilio_status.parse_status(public_url(request, app), params)


def _twilio_inbound(body: bytes, request: Request, app: ApiState) -> InboundMessage:
    return twilio_inbound.parse_inbound(_twilio_params(body, request, app))


def _x(body: bytes, request: Request, app: ApiState) -> list[SocialMessage]:
    x_activity.verify(body, request.headers, app.settings.x_consumer_secret.get_secret_value())
    return x_activity.parse(body)


SendGridEvents = Annotated[
    list[ProviderEvent], Depends(signed_webhook("a SendGrid webhook", _sendgrid))
]
# None: a status the record does not keep (accepted, scheduled, sending…).
TwilioStatus = Annotated[
    ProviderEvent | None, Depends(signed_webhook("a Twilio webhook", _twilio_status))
]
TwilioInbound = Annotated[
    InboundMessage, Depends(signed_webhook("a Twilio inbound message", _twilio_inbound))
]
XMessages = Annotated[list[SocialMessage], Depends(signed_webhook("an X webhook", _x))]
