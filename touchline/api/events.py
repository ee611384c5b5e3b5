"""Genesis events over HTTP: ``POST /events`` — one event or a batch.

The request is validated whole before anything is stored: a batch with one bad event is
refused with 422 naming each bad field (``events[3].occurred_at``), and nothing of it is
stored, so a producer fixes and resends the batch as it was. Storing is idempotent on the
event id: a resend after a timeout stores nothing twice and enrolls nobody twice.

Accepted events are stored and their enrollments created in the same transaction as the
response is prepared; workers pick up what is due (``touchline worker``, or the
``advance-journeys`` deployment), so the answer is 202: accepted, not yet sent.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from touchline.api.auth import require_events_sender
from touchline.api.deps import ApiState, state
from touchline.api.openapi import EVENTS_ERRORS
from touchline.intake.attributes import oversized_attributes
from touchline.intake.ingest import ingest
from touchline.intake.schema import MAX_EVENT_BYTES, parse_event

router = APIRouter(
    tags=["events"], dependencies=[Depends(require_events_sender)], responses=EVENTS_ERRORS
)
MAX_BATCH = 1000


class EventsAccepted(BaseModel):
    accepted: list[str]  # stored now
    duplicates: list[str]  # already stored earlier (or twice in this request): nothing done
    enrolled: int


class Problem(BaseModel):
    field: str
    message: str


class EventsRefused(BaseModel):
    detail: str
    problems: list[Problem]


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


def _refuse(code: int, detail: str, problems: list[dict[str, str]]) -> JSONResponse:
    return JSONResponse({"detail": detail, "problems": problems}, status_code=code)


def _oversized_attributes(
    app: ApiState, changes: list[tuple[int, str, dict[str, Any]]], single: bool
) -> list[dict[str, str]]:
    """Problems for events that would take their customer's attributes past the limit,
    counted with what the customer already holds (ingest checks again as it stores)."""
    with app.db.session() as session:
        found = oversized_attributes(
            session, [(cid, attrs) for _, cid, attrs in changes],
            app.settings.customer_attributes_max_bytes,
        )  # fmt: skip
    return [
        {"field": "profile.attributes" if single else f"events[{changes[i][0]}].profile.attributes",
         "message": message}
        for i, message in found.items()
    ]  # fmt: skip


@router.post(
    "/events",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EventsAccepted,
    responses={
        413: {"model": EventsRefused, "description": "the body or the batch is too large"},
        422: {"model": EventsRefused, "description": "an event is invalid; nothing was stored"},
    },
    summary='Send genesis events: one event object, or {"events": [...]} (at most 1,000)',
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "example": {
                        "id": "evt_8f2c",
                        "type": "cart.abandoned",
                        "customer_id": "c_1042",
                        "occurred_at": "2026-11-23T09:12:00+01:00",
                        "payload": {"cart": {"total": 84.5, "currency": "EUR"}},
                    }
                }
            },
        }
    },
)
async def post_events(
    request: Request, app: Annotated[ApiState, Depends(state)]
) -> EventsAccepted | JSONResponse:
    body = await request.body()
    # The request guard refused larger bodies before reading them; kept for an app mounted
    # without it.
    limit = app.settings.events_max_body_bytes
    if len(body) > limit:
        return _refuse(413, f"the body is {len(body):,} bytes; the limit is {limit:,}", [])
    try:
        # NaN and Infinity are not JSON (Python accepts them; PostgreSQL's JSONB does not).
        document: Any = json.loads(body, parse_constant=_not_json)
    except ValueError as exc:
        return _refuse(422, "the body is not JSON", [{"field": "", "message": str(exc)}])
    if _has_nul(document):
        # A NUL character cannot be stored in PostgreSQL text or JSONB.
        return _refuse(422, "the body contains a NUL character (\\u0000)",
                       [{"field": "", "message": "remove \\u0000 from the strings"}])  # fmt: skip
    single = isinstance(document, dict) and "events" not in document
    raw = [document] if single else document.get("events") if isinstance(document, dict) else None
    if not isinstance(raw, list) or not raw:
        return _refuse(422, "send one event object or {\"events\": [...]}",
                       [{"field": "events", "message": "must be a non-empty list"}])  # fmt: skip
    if len(raw) > MAX_BATCH:
        return _refuse(413, f"{len(raw):,} events in one request; the limit is {MAX_BATCH:,}", [])

    problems: list[dict[str, str]] = []
    attribute_changes: list[tuple[int, str, dict[str, Any]]] = []
    for index, item in enumerate(raw):
        where = "" if single else f"events[{index}]"
        size = len(json.dumps(item, separators=(",", ":")))
        if size > MAX_EVENT_BYTES:
            problems.append({"field": where or "body",
                             "message": f"the event is {size:,} bytes; the limit is {MAX_EVENT_BYTES:,}"})  # fmt: skip
            continue
        event, found = parse_event(item)
        for p in found:
            field = ".".join(part for part in (where, p.field) if part)
            problems.append({"field": field, "message": p.message})
        if event is not None and event.profile is not None and event.profile.attributes:
            attribute_changes.append((index, event.customer_id, event.profile.attributes))
    if attribute_changes and not problems:
        problems = await run_in_threadpool(_oversized_attributes, app, attribute_changes, single)
    if problems:
        return _refuse(422, "invalid events; nothing was stored", problems)

    # Validated already: ingest stores, deduplicates on id and enrolls, in one transaction
    # per 1,000 events — a request is at most one such batch. In a worker thread: the
    # database calls block, and the event loop must keep answering other requests.
    report = await run_in_threadpool(
        ingest, app.db, [(None, item) for item in raw], now=app.clock.now(), source="api",
        batch_size=MAX_BATCH, settings=app.settings,
    )  # fmt: skip
    return EventsAccepted(
        accepted=report.accepted, duplicates=report.duplicates, enrolled=report.enrolled
    )
