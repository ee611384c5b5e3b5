"""The wait step: for a duration, until a local-time window, or for an event with a timeout.

Durations are measured from entering the step, so a late worker does not lengthen a wait.
Windows are in the customer's own time zone. An event wait is answered by the event table
(the truth), not by whoever woke the enrollment: intake only makes it due sooner.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from preference_center.quiet_hours import is_valid_timezone, zone
from touchline.db import chunked
from touchline.engine.transitions import Continue, Park, Transition
from touchline.journeys.model import DAYS, JourneyDefinition, LocalWindow, WaitStep
from touchline.record import Enrollment, Event, Preference


def run_wait(
    session: Session,
    journey: JourneyDefinition,
    step: WaitStep,
    enrollments: list[Enrollment],
    now: datetime,
    default_timezone: str,
) -> dict[str, Transition]:
    following = journey.next_step_id(step.id)
    if step.duration is not None:
        transitions: dict[str, Transition] = {}
        for enrollment in enrollments:
            due = (enrollment.step_entered_at or now) + step.duration
            transitions[enrollment.id] = (
                Continue(following) if now >= due else Park(due, f"waiting {step.id}")
            )
        return transitions
    if step.until is not None:
        zones = _timezones(session, enrollments, default_timezone)
        transitions = {}
        for enrollment in enrollments:
            opens = next_opening(step.until, now, zones[enrollment.customer_id])
            transitions[enrollment.id] = (
                Continue(following)
                if opens <= now
                else Park(opens, f"waiting for {step.id}'s window")
            )
        return transitions
    return _wait_for_event(session, step, enrollments, now, following)


def _wait_for_event(
    session: Session,
    step: WaitStep,
    enrollments: list[Enrollment],
    now: datetime,
    following: str | None,
) -> dict[str, Transition]:
    assert step.for_event is not None and step.timeout is not None
    entered = {e.id: e.step_entered_at or now for e in enrollments}
    first_event: dict[str, tuple[datetime, str]] = {}
    by_customer: dict[str, list[Enrollment]] = {}
    for enrollment in enrollments:
        by_customer.setdefault(enrollment.customer_id, []).append(enrollment)
    for chunk in chunked(sorted(by_customer)):
        for customer, event_id, occurred in session.execute(
            select(Event.customer_id, Event.id, Event.occurred_at)
            .where(
                Event.type == step.for_event, Event.customer_id.in_(chunk), Event.occurred_at <= now
            )
            .order_by(Event.occurred_at)
        ):
            for enrollment in by_customer[customer]:
                if occurred >= entered[enrollment.id] and enrollment.id not in first_event:
                    first_event[enrollment.id] = (occurred, event_id)
    transitions: dict[str, Transition] = {}
    for enrollment in enrollments:
        deadline = entered[enrollment.id] + step.timeout
        waits = dict(enrollment.context.get("waits", {}))
        if enrollment.id in first_event and first_event[enrollment.id][0] <= deadline:
            occurred, event_id = first_event[enrollment.id]
            waits[step.id] = {"outcome": "event", "event_id": event_id, "at": occurred.isoformat()}
            enrollment.context = {**enrollment.context, "waits": waits}
            target = step.on_event if step.on_event is not None else following
            transitions[enrollment.id] = Continue(target, f"{step.for_event} came")
        elif now >= deadline:
            waits[step.id] = {"outcome": "timeout", "at": deadline.isoformat()}
            enrollment.context = {**enrollment.context, "waits": waits}
            target = step.on_timeout if step.on_timeout is not None else following
            transitions[enrollment.id] = Continue(
                target, f"no {step.for_event} within {step.timeout}"
            )
        else:
            transitions[enrollment.id] = Park(
                deadline, f"waiting for {step.for_event}", waiting_for=step.for_event
            )
    return transitions


def next_opening(window: LocalWindow, now: datetime, tz: ZoneInfo) -> datetime:
    """``now`` if it lies in the window, else the window's next start (UTC)."""
    local = now.astimezone(tz)
    start, end = window.between
    days = {DAYS.index(d) for d in window.days}
    for offset in range(8):
        day = (local + timedelta(days=offset)).date()
        if day.weekday() not in days:
            continue
        opens = datetime.combine(day, start, tzinfo=tz)
        closes = datetime.combine(day, end, tzinfo=tz)
        if offset == 0 and opens <= local < closes:
            return now
        if opens > local:
            return opens.astimezone(UTC)
    raise AssertionError("a weekly window opens within eight days")


def _timezones(
    session: Session, enrollments: list[Enrollment], default: str
) -> dict[str, ZoneInfo]:
    customers = sorted({e.customer_id for e in enrollments})
    stated: dict[str, str | None] = {}
    for chunk in chunked(customers):
        stated.update(
            session.execute(
                select(Preference.customer_id, Preference.timezone).where(
                    Preference.customer_id.in_(chunk)
                )
            ).all()
        )
    return {
        c: zone(stated[c]) if stated.get(c) and is_valid_timezone(stated[c]) else zone(default)
        for c in customers
    }  # type: ignore[arg-type]
