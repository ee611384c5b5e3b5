"""X's Account Activity webhook: the CRC challenge, then signed DMs and mentions.

A POST that fails its signature check gets 403 and is stored nowhere.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from channels.webhooks import x_activity
from touchline.api.deps import ApiState, state
from touchline.api.openapi import WEBHOOK_ERRORS
from touchline.api.webhook_auth import XMessages
from touchline.api.webhooks import WebhookReceipt
from touchline.inbound import handle_x_messages

router = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=WEBHOOK_ERRORS)


@router.get("/x", summary="X Account Activity CRC check (challenge-response)")
def x_crc(
    app: ApiState = Depends(state),
    crc_token: str = Query(..., min_length=1, description="X's challenge"),
) -> dict[str, str]:
    return x_activity.crc_response(crc_token, app.settings.x_consumer_secret.get_secret_value())


@router.post(
    "/x",
    response_model=WebhookReceipt,
    summary="X Account Activity events (signed): DMs and mentions from customers",
)
async def x_events(messages: XMessages, app: ApiState = Depends(state)) -> WebhookReceipt:
    report = handle_x_messages(app.db, messages, app.clock.now(), app.settings)
    return WebhookReceipt(
        recorded=report.recorded, duplicates=report.duplicates, unmatched=report.unmatched
    )
