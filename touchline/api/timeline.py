"""The single customer view over HTTP: ``GET /customers/{customer_id}/timeline`` — every
event, consent change, address, suppression, merge, enrollment, decision, send and
engagement of one customer, across channels, oldest first (touchline.timeline).

Operators only (the bearer token of touchline.api.auth); an unknown customer is a 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from preference_center.ledger import customer_or_error
from touchline.api.auth import require_operator
from touchline.api.deps import ApiState, state
from touchline.api.openapi import OPERATOR_ERRORS
from touchline.record import Preference
from touchline.timeline import customer_timeline

router = APIRouter(
    prefix="/customers/{customer_id}",
    dependencies=[Depends(require_operator)],
    responses=OPERATOR_ERRORS,
)
App = Annotated[ApiState, Depends(state)]


class TimelineEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime = Field(description="When it happened (UTC)")
    kind: str = Field(
        description="event, consent, identity, suppressed, unsuppressed, merge, enrolled, "
        "decision, ended, or an interaction: sent, delivered, opened, clicked, replied, "
        "bounced, failed, skipped, converted …"
    )
    channel: str | None = None
    summary: str
    detail: dict[str, Any] = Field(
        default_factory=dict,
        description="What the record holds: a decision's reasons, a consent's source, topic "
        "and evidence, an event's payload …",
    )


class TimelineOut(BaseModel):
    customer_id: str
    merged_into: str | None = Field(
        None, description="Set when this profile was merged into another: its story went there"
    )
    timezone: str | None = Field(None, description="The customer's stated time zone")
    entries: list[TimelineEntryOut]


@router.get(
    "/timeline",
    response_model=TimelineOut,
    tags=["customers"],
    summary="Everything that happened to a customer, across channels, oldest first",
)
def get_timeline(customer_id: str, app: App) -> TimelineOut:
    with app.db.session() as session:
        customer = customer_or_error(session, customer_id)
        preference = session.get(Preference, customer_id)
        entries = customer_timeline(session, customer_id)
        return TimelineOut(
            customer_id=customer.id,
            merged_into=customer.merged_into,
            timezone=preference.timezone if preference else None,
            entries=[TimelineEntryOut.model_validate(entry) for entry in entries],
        )
