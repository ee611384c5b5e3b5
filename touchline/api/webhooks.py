"""Provider webhooks. A request that fails its signature check gets 403 and is stored nowhere."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel

from channels.webhooks import (
    WebhookPayloadError,
    WebhookSignatureError,
    sendgrid_events,
    twilio_inbound,
    twilio_status,
)
from touchline.api.deps import ApiState, state
from touchline.api.openapi import WEBHOOK_ERRORS
from touchline.engagement import record_provider_events
from touchline.inbound import handle_inbound_sms

log = logging.getLogger(__name__)
router = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=WEBHOOK_ERRORS)


class WebhookReceipt(BaseModel):
    recorded: int
    duplicates: int
    unmatched: int


@router.post(
    "/sendgrid/events", response_model=WebhookReceipt, summary="SendGrid Event Webhook (signed)"
)
async def sendgrid(request: Request, app: ApiState = Depends(state)) -> WebhookReceipt:
    body = await request.body()
    try:
        sendgrid_events.verify(
            body, request.headers, app.sendgrid_public_key, app.clock.now(),
            app.settings.sendgrid_webhook_max_age,
        )  # fmt: skip
        events = sendgrid_events.parse(body)
    except WebhookSignatureError as exc:
        log.warning("refused a SendGrid webhook: %s", exc)
        raise HTTPException(403, "signature verification failed") from exc
    except WebhookPayloadError as exc:
        raise HTTPException(400, str(exc)) from exc
    with app.db.session() as session:
        report = record_provider_events(session, events, app.clock.now(), app.settings)
    return WebhookReceipt(
        recorded=report.recorded, duplicates=report.duplicates, unmatched=len(report.unmatched)
    )


@router.post(
    "/twilio/status",
    response_model=WebhookReceipt,
    summary="Twilio message status callback (signed)",
)
async def twilio(request: Request, app: ApiState = Depends(state)) -> WebhookReceipt:
    body = await request.body()
    url = _public_url(request, app)
    try:
        params = twilio_status.verify(
            url, body, request.headers, app.settings.twilio_auth_token.get_secret_value()
        )
        event = twilio_status.parse_status(url, params)
    except WebhookSignatureError as exc:
        log.warning("refused a Twilio webhook: %s", exc)
        raise HTTPException(403, "signature verification failed") from exc
    except WebhookPayloadError as exc:
        raise HTTPException(400, str(exc)) from exc
    if event is None:
        return WebhookReceipt(recorded=0, duplicates=0, unmatched=0)
    with app.db.session() as session:
        report = record_provider_events(session, [event], app.clock.now(), app.settings)
    return WebhookReceipt(
        recorded=report.recorded, duplicates=report.duplicates, unmatched=len(report.unmatched)
    )


@router.post(
    "/twilio/inbound",
    summary="Twilio inbound SMS and WhatsApp (signed): keywords, replies, *.received events",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}, "description": "TwiML"}},
)
async def twilio_inbound_sms(request: Request, app: ApiState = Depends(state)) -> Response:
    body = await request.body()
    url = _public_url(request, app)
    try:
        params = twilio_status.verify(
            url, body, request.headers, app.settings.twilio_auth_token.get_secret_value()
        )
        message = twilio_inbound.parse_inbound(params)
    except WebhookSignatureError as exc:
        log.warning("refused a Twilio inbound message: %s", exc)
        raise HTTPException(403, "signature verification failed") from exc
    except WebhookPayloadError as exc:
        raise HTTPException(400, str(exc)) from exc
    result = handle_inbound_sms(app.db, message, app.clock.now(), app.settings)
    reply = result.reply if app.settings.sms_keyword_replies else None
    return Response(twilio_inbound.reply_twiml(reply), media_type="application/xml")


def _public_url(request: Request, app: ApiState) -> str:
    # Twilio signed the URL it called: our public URL, whatever proxies forwarded to us.
    return (
        app.settings.public_url.rstrip("/")
        + request.url.path
        + (f"?{request.url.query}" if request.url.query else "")
    )
