"""Provider webhooks. A request that fails its signature check gets 403 and is stored nowhere
(the checks are dependencies: touchline.api.webhook_auth)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel

from channels.webhooks import twilio_inbound
from touchline.api.deps import ApiState, state
from touchline.api.openapi import WEBHOOK_ERRORS
from touchline.api.webhook_auth import SendGridEvents, TwilioInbound, TwilioStatus
from touchline.inbound import handle_inbound_sms, record_provider_events

router = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=WEBHOOK_ERRORS)


class WebhookReceipt(BaseModel):
    recorded: int
    duplicates: int
    unmatched: int


@router.post(
    "/sendgrid/events", response_model=WebhookReceipt, summary="SendGrid Event Webhook (signed)"
)
async def sendgrid(events: SendGridEvents, app: ApiState = Depends(state)) -> WebhookReceipt:
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
async def twilio(event: TwilioStatus, app: ApiState = Depends(state)) -> WebhookReceipt:
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
async def twilio_inbound_sms(message: TwilioInbound, app: ApiState = Depends(state)) -> Response:
    result = handle_inbound_sms(app.db, message, app.clock.now(), app.settings)
    reply = result.reply if app.settings.sms_keyword_replies else None
    return Response(twilio_inbound.reply_twiml(reply), media_type="application/xml")
