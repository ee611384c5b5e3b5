"""X's Account Activity webhook: the CRC challenge, then signed DMs and mentions.

A POST that fails its signature check gets 403 and is stored nowhere.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from channels.webhooks import WebhookPayloadError, WebhookSignatureError, x_activity
from touchline.api.deps import ApiState, state
from touchline.api.openapi import WEBHOOK_ERRORS
from touchline.api.webhooks import WebhookReceipt
from touchline.inbound_social import handle_x_messages

log = logging.getLogger(__name__)
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
async def x_events(request: Request, app: ApiState = Depends(state)) -> WebhookReceipt:
    body = await request.body()
    try:
        x_activity.verify(body, request.headers, app.settings.x_consumer_secret.get_secret_value())
        messages = x_activity.parse(body)
    except WebhookSignatureError as exc:
        log.warning("refused an X webhook: %s", exc)
        raise HTTPException(403, "signature verification failed") from exc
    except WebhookPayloadError as exc:
        raise HTTPException(400, str(exc)) from exc
    report = handle_x_messages(app.db, messages, app.clock.now(), app.settings)
    return WebhookReceipt(
        recorded=report.recorded, duplicates=report.duplicates, unmatched=report.unmatched
    )
