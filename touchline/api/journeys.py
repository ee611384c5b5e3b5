"""Journeys in operation over HTTP, for operators (the bearer token of touchline.api.auth):
pause, resume, stop (drain or exit) and archive, each stored with who, when and why; the
live status; the history of changes.

A pause returns once it is committed: from then on no provider request of the journey
starts, in any process (touchline.lifecycle.fence). Unknown journey: 404; a change the
journey's state does not allow: 409 naming the state and what it allows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field, field_validator

from touchline.api.auth import require_operator
from touchline.api.deps import ApiState, state
from touchline.api.openapi import error_responses
from touchline.errors import JourneyNotFoundError
from touchline.lifecycle.states import (
    ARCHIVED,
    DRAIN,
    EXIT,
    LIVE,
    PAUSED,
    STOPPED,
    Change,
    LifecycleError,
    change_state,
    history,
)  # fmt: skip
from touchline.lifecycle.status import JourneyStatus, journey_status

router = APIRouter(
    prefix="/journeys",
    tags=["journeys"],
    dependencies=[Depends(require_operator)],
    responses=error_responses(401, 403, 404, 409, 413, 422),
)
App = Annotated[ApiState, Depends(state)]


class ChangeIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="Why: stored with the change")
    by: str = Field("api", min_length=1, max_length=128, description="Who asked for it")

    @field_validator("reason", "by")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


class StopIn(ChangeIn):
    mode: Literal["drain", "exit"] = Field(
        description="drain: in-flight enrollments finish, nobody enters; exit: end them all now"
    )


class ChangeOut(BaseModel):
    journey: str
    from_state: str
    to_state: str
    stop_mode: str | None
    reason: str
    changed_by: str
    changed_at: datetime
    enrollments_ended: int


class StatusOut(BaseModel):
    journey: str
    version: int
    state: str
    stop_mode: str | None
    reason: str | None
    changed_by: str | None
    changed_at: datetime | None
    active_by_step: dict[str, int]
    waiting: int
    due_within_hour: int
    sent_today: dict[str, int]
    failed_today: int
    conversions: int
    conversions_today: int
    not_enrolled_today: int


@router.get("/status", response_model=list[StatusOut])
def all_statuses(app: App) -> list[StatusOut]:
    with app.db.session() as session:
        return [_status(s) for s in journey_status(session, app.clock.now())]


@router.get("/{journey_key}/status", response_model=StatusOut)
def one_status(journey_key: str, app: App) -> StatusOut:
    with app.db.session() as session:
        found = journey_status(session, app.clock.now(), journey_key)
    if not found:
        raise HTTPException(404, f"no published journey '{journey_key}'")
    return _status(found[0])


@router.get("/{journey_key}/history", response_model=list[ChangeOut])
def changes(journey_key: str, app: App) -> list[ChangeOut]:
    with app.db.session() as session:
        rows = history(session, journey_key)
    return [
        ChangeOut(
            journey=r.journey_key,
            from_state=r.from_state,
            to_state=r.to_state,
            stop_mode=r.stop_mode,
            reason=r.reason,
            changed_by=r.changed_by,
            changed_at=r.changed_at,
            enrollments_ended=int(r.detail.get("enrollments_ended", 0)),
        )
        for r in rows
    ]


# Plain ``def`` routes run in FastAPI's thread pool: a pause waits for the requests in
# flight (at most a channel's timeout) without blocking the event loop.
@router.post("/{journey_key}/pause", response_model=ChangeOut)
def pause(journey_key: str, body: ChangeIn, app: App) -> ChangeOut:
    return _change(app, journey_key, PAUSED, body)


@router.post("/{journey_key}/resume", response_model=ChangeOut)
def resume(journey_key: str, body: ChangeIn, app: App) -> ChangeOut:
    return _change(app, journey_key, LIVE, body)


@router.post("/{journey_key}/stop", response_model=ChangeOut)
def stop(journey_key: str, body: StopIn, app: App) -> ChangeOut:
    return _change(app, journey_key, STOPPED, body, DRAIN if body.mode == "drain" else EXIT)


@router.post("/{journey_key}/archive", response_model=ChangeOut)
def archive(journey_key: str, body: ChangeIn, app: App) -> ChangeOut:
    return _change(app, journey_key, ARCHIVED, body)


def _change(
    app: ApiState, journey_key: str, to: str, body: ChangeIn, mode: str | None = None
) -> ChangeOut:
    try:
        change: Change = change_state(app.db, journey_key, to, reason=body.reason, who=body.by,
                                      now=app.clock.now(), stop_mode=mode)  # fmt: skip
    except JourneyNotFoundError as exc:
        raise HTTPException(404, str(exc)) from exc
    except LifecycleError as exc:
        raise HTTPException(409, str(exc)) from exc
    return ChangeOut(journey=change.journey_key, from_state=change.from_state,
                     to_state=change.to_state, stop_mode=change.stop_mode, reason=change.reason,
                     changed_by=change.changed_by, changed_at=change.changed_at,
                     enrollments_ended=change.ended)  # fmt: skip


def _status(s: JourneyStatus) -> StatusOut:
    st = s.standing
    return StatusOut(
        journey=st.journey_key, version=s.version, state=st.state, stop_mode=st.stop_mode,
        reason=st.reason, changed_by=st.changed_by, changed_at=st.changed_at,
        active_by_step=s.active_by_step, waiting=s.waiting, due_within_hour=s.due_within_hour,
        sent_today=s.sent_today, failed_today=s.failed_today, conversions=s.conversions,
        conversions_today=s.conversions_today, not_enrolled_today=s.not_enrolled_today,
    )  # fmt: skip
