"""From stored events to enrollments, exits and conversions — for a batch of events at once.

- A trigger event enrolls its customer in every live journey it triggers, subject to the
  journey's re-entry rule. Enrollment ids are deterministic, so a replayed event (or a
  retried batch) enrolls nobody twice.
- An exit event ends, on arrival, the customer's active enrollments in journeys that exit
  on it — a customer waiting two days leaves the moment they buy, not when the wait ends.
- A goal event within the goal window records one conversion per enrollment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from touchline import ids
from touchline.db import chunked, insert_ignoring_duplicates
from touchline.engine.conditions import holds
from touchline.engine.steps.branch import customer_attributes
from touchline.journeys.model import JourneyDefinition, WaitStep
from touchline.lifecycle.states import standings
from touchline.record import Enrollment, Interaction
from touchline.record.enrollments import ACTIVE, EXITED

CONVERTED = "converted"
# A triggering event that enrolled nobody because the journey was not live (paused,
# stopped…): recorded, so nothing is lost and reports show it.
NOT_ENROLLED = "not_enrolled"


@dataclass(frozen=True)
class StoredEvent:
    id: str
    type: str
    customer_id: str
    occurred_at: datetime
    payload: dict[str, Any]


@dataclass(frozen=True)
class LiveJourney:
    """A published version; ``newest`` versions take new enrollments, every version keeps
    applying its exits and goal to the enrollments it has."""

    journey_id: int
    version: int
    definition: JourneyDefinition
    newest: bool = True


@dataclass
class EnrollReport:
    enrolled: int = 0
    exited: int = 0
    converted: int = 0
    not_reentered: int = 0
    not_enrolled: int = 0  # the journey was paused, stopped, archived or a draft


def process_events(
    session: Session, events: Sequence[StoredEvent], journeys: Sequence[LiveJourney], now: datetime
) -> EnrollReport:
    report = EnrollReport()
    if not events or not journeys:
        return report
    # An event dated a little ahead (within the clock-skew tolerance) counts from now:
    # re-entry windows, waits and goals never start from a time that has not come yet.
    events = [replace(e, occurred_at=now) if e.occurred_at > now else e for e in events]
    _enroll(session, events, journeys, now, report)
    waited_for = {
        step.for_event
        for journey in journeys
        for step in journey.definition.steps
        if isinstance(step, WaitStep) and step.for_event
    }
    _wake(session, [e for e in events if e.type in waited_for], now)
    _exit(session, events, journeys, now, report)
    _convert(session, events, journeys, now, report)
    return report


def _enroll(
    session: Session,
    events: Sequence[StoredEvent],
    journeys: Sequence[LiveJourney],
    now: datetime,
    report: EnrollReport,
) -> None:
    rows: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    attributes: dict[str, dict[str, Any]] | None = None
    newest = [j for j in journeys if j.newest]
    refusals = {
        key: s.entry_refusal
        for key, s in standings(session, {j.definition.key for j in newest}).items()
    }
    for journey in newest:
        definition = journey.definition
        triggering = sorted(
            (e for e in events if e.type == definition.trigger.event), key=lambda e: e.occurred_at
        )
        if definition.trigger.where is not None and triggering:
            if attributes is None:  # loaded once, after this batch's profile updates
                attributes = customer_attributes(session, {e.customer_id for e in events})
            triggering = [
                e
                for e in triggering
                if holds(
                    definition.trigger.where,
                    attributes=attributes.get(e.customer_id, {}),
                    payload=e.payload,
                )
            ]
        if not triggering:
            continue
        if (refusal := refusals.get(definition.key)) is not None:
            refused.extend(_not_enrolled(definition.key, e, refusal, now) for e in triggering)
            continue
        customers = {e.customer_id for e in triggering}
        last_entry = last_entries(session, definition, customers)
        entered = once_entered(session, definition, customers)
        for event in triggering:
            entry_key = _entry_key(definition, event, last_entry.get(event.customer_id))
            if entry_key is None or event.customer_id in entered:
                report.not_reentered += 1
                continue
            last_entry[event.customer_id] = event.occurred_at
            rows.append(
                enrollment_row(
                    journey,
                    event.customer_id,
                    entry_key,
                    now,
                    trigger_at=event.occurred_at,
                    trigger_event_id=event.id,
                    context={
                        "event": {
                            "id": event.id,
                            "type": event.type,
                            "occurred_at": event.occurred_at.isoformat(),
                            "payload": event.payload,
                        }
                    },
                )
            )
    inserted = insert_ignoring_duplicates(
        session, Enrollment, rows, conflict_columns=["id"], returning="id"
    )
    report.enrolled += len(inserted)
    report.not_reentered += len(rows) - len(inserted)
    report.not_enrolled += len(
        insert_ignoring_duplicates(
            session, Interaction, refused, conflict_columns=["id"], returning="id"
        )
    )


def _not_enrolled(
    journey_key: str, event: StoredEvent, reason: str, now: datetime
) -> dict[str, Any]:
    return {
        "id": ids.interaction_id(NOT_ENROLLED, journey_key, event.id),
        "touch_id": None,
        "customer_id": event.customer_id,
        "kind": NOT_ENROLLED,
        "channel": None,
        "provider": None,
        "provider_message_id": None,
        "occurred_at": event.occurred_at,
        "recorded_at": now,
        "detail": {"journey": journey_key, "event_id": event.id, "event_type": event.type,
                   "reason": reason},
    }  # fmt: skip


def enrollment_row(
    journey: LiveJourney,
    customer_id: str,
    entry_key: str,
    now: datetime,
    *,
    trigger_at: datetime,
    trigger_event_id: str | None,
    context: dict[str, Any],
) -> dict[str, Any]:
    """A new enrollment, ready to insert: its id is derived from journey, customer and entry
    key; its holdout membership from journey and customer, so it never changes."""
    definition = journey.definition
    return {
        "id": ids.enrollment_id(definition.key, customer_id, entry_key),
        "journey_id": journey.journey_id,
        "journey_key": definition.key,
        "journey_version": journey.version,
        "customer_id": customer_id,
        "trigger_event_id": trigger_event_id,
        "trigger_at": trigger_at,
        "status": ACTIVE,
        "holdout": ids.fraction("holdout", definition.key, customer_id) * 100 < definition.holdout,
        "revision": 0,
        "current_step": definition.first_step_id,
        "step_entered_at": now,
        "next_action_at": now,
        "context": context,
        "entered_at": now,
        "updated_at": now,
    }


def _wake(session: Session, events: Sequence[StoredEvent], now: datetime) -> None:
    """Enrollments waiting for one of these events become due at once; bumping the revision
    tells a worker holding one of them that its copy is stale."""
    if not events:
        return
    table = Enrollment.__table__
    rows = [{"b_customer": e.customer_id, "b_type": e.type, "b_at": e.occurred_at} for e in events]
    session.execute(
        update(table)  # type: ignore[arg-type]
        .where(
            table.c.customer_id == bindparam("b_customer"),  # type: ignore[attr-defined]
            table.c.waiting_for == bindparam("b_type"),  # type: ignore[attr-defined]
            table.c.status == ACTIVE,  # type: ignore[attr-defined]
            table.c.step_entered_at <= bindparam("b_at"),  # type: ignore[attr-defined]
        )
        .values(next_action_at=now, revision=table.c.revision + 1, updated_at=now)  # type: ignore[attr-defined]
        .execution_options(synchronize_session=False),
        rows,
    )


def _entry_key(
    definition: JourneyDefinition, event: StoredEvent, last: datetime | None
) -> str | None:
    """The key that makes the enrollment id; None when the re-entry rule says no."""
    mode = definition.reentry.mode
    if mode == "once":
        return "once"
    if mode == "every_event":
        return f"event:{event.id}"
    window = definition.reentry.window
    assert window is not None
    if last is not None and event.occurred_at < last + window:
        return None
    return f"event:{event.id}"


def last_entries(
    session: Session, definition: JourneyDefinition, customers: set[str]
) -> dict[str, datetime]:
    if definition.reentry.mode != "window":
        return {}
    result: dict[str, datetime] = {}
    for chunk in chunked(sorted(customers)):
        for customer, last in session.execute(
            select(Enrollment.customer_id, func.max(Enrollment.trigger_at))
            .where(Enrollment.journey_key == definition.key, Enrollment.customer_id.in_(chunk))
            .group_by(Enrollment.customer_id)
        ):
            result[customer] = last
    return result


def once_entered(session: Session, definition: JourneyDefinition, customers: set[str]) -> set[str]:
    """Customers already in a ``reentry: once`` journey under an enrollment that is not
    their own id: one moved to them by a merge (the profile merged away entered first).
    Their own enrollment is caught by its deterministic id; this one is not."""
    if definition.reentry.mode != "once":
        return set()
    found: set[str] = set()
    for chunk in chunked(sorted(customers)):
        found.update(
            session.execute(
                select(Enrollment.customer_id).where(
                    Enrollment.journey_key == definition.key, Enrollment.customer_id.in_(chunk)
                )
            ).scalars()
        )
    return found


def _exit(
    session: Session,
    events: Sequence[StoredEvent],
    journeys: Sequence[LiveJourney],
    now: datetime,
    report: EnrollReport,
) -> None:
    # Each version exits on the events its own definition names: an enrollment keeps the
    # rules it entered with.
    for journey in journeys:
        exit_events = set(journey.definition.exit_on)
        relevant = [e for e in events if e.type in exit_events]
        if not relevant:
            continue
        updates = []
        grouped = _by_customer(relevant)
        for enrollment_id, customer, trigger_at in _candidates(
            session, journey, relevant, active_only=True
        ):
            event = _first_after(grouped, customer, trigger_at)
            if event is not None:
                updates.append(
                    {"b_id": enrollment_id, "b_reason": f"exit event {event.type} ({event.id})"}
                )
        if updates:
            statement = (
                update(Enrollment.__table__)  # type: ignore[arg-type]
                .where(
                    Enrollment.__table__.c.id == bindparam("b_id"),
                    Enrollment.__table__.c.status == ACTIVE,
                )
                .values(
                    status=EXITED,
                    ended_at=now,
                    next_action_at=None,
                    end_reason=bindparam("b_reason"),
                    updated_at=now,
                )
            )
            session.execute(statement, updates)
            report.exited += len(updates)


def _convert(
    session: Session,
    events: Sequence[StoredEvent],
    journeys: Sequence[LiveJourney],
    now: datetime,
    report: EnrollReport,
) -> None:
    rows = []
    for journey in journeys:
        goal = journey.definition.goal
        if goal is None:
            continue
        relevant = [e for e in events if e.type == goal.event]
        if not relevant:
            continue
        grouped = _by_customer(relevant)
        for enrollment_id, customer, trigger_at in _candidates(
            session, journey, relevant, active_only=False
        ):
            event = _first_after(grouped, customer, trigger_at)
            if event is None or event.occurred_at > trigger_at + goal.within:
                continue
            rows.append(
                {
                    # One conversion per enrollment, whichever goal event came first.
                    "id": ids.interaction_id("conversion", enrollment_id),
                    "touch_id": None,
                    "customer_id": customer,
                    "kind": CONVERTED,
                    "channel": None,
                    "provider": None,
                    "provider_message_id": None,
                    "occurred_at": event.occurred_at,
                    "recorded_at": now,
                    "detail": {
                        "journey": journey.definition.key,
                        "enrollment_id": enrollment_id,
                        "event_id": event.id,
                        "hours_after_entry": round(
                            (event.occurred_at - trigger_at).total_seconds() / 3600, 2
                        ),
                        **(
                            {"revenue": event.payload["revenue"]}
                            if isinstance(event.payload.get("revenue"), int | float)
                            else {}
                        ),
                    },
                }
            )
    inserted = insert_ignoring_duplicates(
        session, Interaction, rows, conflict_columns=["id"], returning="id"
    )
    report.converted += len(inserted)


def _candidates(
    session: Session, journey: LiveJourney, events: Sequence[StoredEvent], *, active_only: bool
) -> list[tuple[str, str, datetime]]:
    """(enrollment id, customer, trigger time) of this version for the events' customers."""
    found = []
    customers = sorted({e.customer_id for e in events})
    for chunk in chunked(customers):
        query = select(Enrollment.id, Enrollment.customer_id, Enrollment.trigger_at).where(
            Enrollment.journey_id == journey.journey_id, Enrollment.customer_id.in_(chunk)
        )
        if active_only:
            query = query.where(Enrollment.status == ACTIVE)
        found.extend(tuple(row) for row in session.execute(query))
    return found


def _by_customer(events: Sequence[StoredEvent]) -> dict[str, list[StoredEvent]]:
    grouped: dict[str, list[StoredEvent]] = {}
    for event in sorted(events, key=lambda e: e.occurred_at):
        grouped.setdefault(event.customer_id, []).append(event)
    return grouped


def _first_after(
    grouped: dict[str, list[StoredEvent]], customer: str, moment: datetime
) -> StoredEvent | None:
    """The customer's earliest event at or after ``moment`` (an event before the entry
    belongs to an earlier story)."""
    return next((e for e in grouped.get(customer, ()) if e.occurred_at >= moment), None)
