"""Genesis events over HTTP: ``POST /events`` — one event or a batch.

Batches are admitted event by event, like our file imports and like Segment's and
Customer.io's batch APIs: a bad event (malformed, dated in the future, of a type the
tracking plan does not declare, a payload that breaks its schema, attributes that would
take its customer past their limit) refuses only itself. The answer is 202 with the ids
accepted and, for each refused event, its index in the batch and the reason (``rejected``),
so a producer resends only those. When every event is refused the answer is 422 and
nothing is stored; a single event that is refused is a 422 too. Storing is idempotent on
the event id: a resend after a timeout stores nothing twice and enrolls nobody twice.

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
from touchline.intake.ingest import ingest
from touchline.intake.schema import MAX_EVENT_BYTES, parse_event
from touchline.words import counted

router = APIRouter(
    tags=["events"], dependencies=[Depends(require_events_sender)], responses=EVENTS_ERRORS
)
MAX_BATCH = 1000


class Problem(BaseModel):
    field: str
    message: str


class RejectedEvent(BaseModel):
    index: int  # position in the batch (0 for a single event)
    id: str | None  # the event's id, when it had a readable one
    reason: str  # every problem, "field: message; …"
    problems: list[Problem]


class EventsAccepted(BaseModel):
    accepted: list[str]  # stored now
    duplicates: list[str]  # already stored earlier (or twice in this request): nothing done
    enrolled: int
    rejected: list[RejectedEvent] = []  # refused, each alone; the others went in
    warnings: list[Problem] = []  # accepted, but worth a look (permissive tracking plan)


class EventsRefused(BaseModel):
    detail: str
    problems: list[Problem]
    rejected: list[RejectedEvent] = []  # when events were read: each one's index and reason


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


@router.post(
    "/events",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EventsAccepted,
    responses={
        413: {"model": EventsRefused, "description": "the body or the batch is too large"},
        422: {"model": EventsRefused, "description": "every event was refused; nothing was stored"},
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
        return _refuse(
            413, f"{counted(len(raw), 'event')} in one request; the limit is {MAX_BATCH:,}", []
        )

    found: dict[int, list[dict[str, str]]] = {}  # index -> the problems that refuse it
    for index, item in enumerate(raw):
        size = len(json.dumps(item, separators=(",", ":")))
        if size > MAX_EVENT_BYTES:
            found[index] = [{"field": _field(single, index, "") or "body",
                             "message": f"the event is {size:,} bytes; the limit is {MAX_EVENT_BYTES:,}"}]  # fmt: skip
            continue
        for p in parse_event(item)[1]:
            found.setdefault(index, []).append(
                {"field": _field(single, index, p.field), "message": p.message}
            )

    # The well-formed ones go on to admission (time, tracking plan, payload schema, the
    # customer's attributes within their limit, counted with what they already hold) and
    # storing: ingest stores, deduplicates on id and enrolls, in one transaction — a request
    # is at most one such batch. In a worker thread: the database calls block, and the
    # event loop must keep answering other requests. The index rides as the "line".
    report = await run_in_threadpool(
        ingest, app.db, [(index, item) for index, item in enumerate(raw) if index not in found],
        now=app.clock.now(), source="api", batch_size=MAX_BATCH, settings=app.settings,
    )  # fmt: skip
    for problem in report.rejected:
        index = problem.line or 0
        found.setdefault(index, []).append(
            {"field": _field(single, index, problem.field), "message": problem.message}
        )
    rejected = [_rejected(index, raw[index], problems) for index, problems in sorted(found.items())]
    if len(found) == len(raw):
        detail = "the event was refused" if single else "every event was refused"
        return JSONResponse(
            {"detail": f"{detail}; nothing was stored",
             "problems": [p.model_dump() for r in rejected for p in r.problems],
             "rejected": [r.model_dump() for r in rejected]},
            status_code=422,
        )  # fmt: skip
    warnings = [
        Problem(field=_field(single, w.line or 0, w.field), message=w.message)
        for w in report.warnings
    ]
    return EventsAccepted(
        accepted=report.accepted, duplicates=report.duplicates, enrolled=report.enrolled,
        rejected=rejected, warnings=warnings,
    )  # fmt: skip


def _field(single: bool, index: int, field: str) -> str:
    """Where a problem is: ``events[3].occurred_at`` in a batch, ``occurred_at`` alone."""
    return ".".join(part for part in ("" if single else f"events[{index}]", field) if part)


def _rejected(index: int, item: Any, problems: list[dict[str, str]]) -> RejectedEvent:
    event_id = item.get("id") if isinstance(item, dict) else None
    return RejectedEvent(
        index=index,
        id=event_id if isinstance(event_id, str) else None,
        reason="; ".join(
            f"{p['field']}: {p['message']}" if p["field"] else p["message"] for p in problems
        ),
        problems=[Problem(**p) for p in problems],
    )
