"""Advancing due enrollments, a batch at a time.

A claimed batch is interpreted in rounds. In each round the enrollments are grouped by
(journey version, step) and each group's step runs once for the whole group — one decision
pass, one render pass, one concurrent dispatch, a handful of queries — whatever the group's
size. Enrollments that move on to a step that can run now (a branch after a wait) go into
the next round; the others have parked or ended. Their new state is written in one
statement at the end, guarded by this worker's lease, so a batch that was taken over after
a crash cannot be overwritten by its first owner.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from touchline.engine.claim import claim_due
from touchline.engine.context import Engine
from touchline.engine.report import BatchReport
from touchline.engine.steps.branch import run_branch
from touchline.engine.steps.send import run_send
from touchline.engine.steps.split import run_split
from touchline.engine.steps.wait import run_wait
from touchline.engine.transitions import Continue, End, Park, Transition
from touchline.engine.visits import with_visit_completed
from touchline.journeys.model import (
    EXIT,
    BranchStep,
    ExitStep,
    JourneyDefinition,
    SendStep,
    SplitStep,
    WaitStep,
)
from touchline.record import Enrollment
from touchline.record.enrollments import ACTIVE, COMPLETED, FAILED

log = logging.getLogger(__name__)


def advance_next_batch(engine: Engine, now: datetime, limit: int | None = None) -> BatchReport:
    """Claim up to ``limit`` due enrollments and advance them. ``claimed == 0``: no due work."""
    limit = limit or engine.settings.batch_size
    with engine.db.session() as session:
        claimed = claim_due(
            session,
            now=now,
            limit=limit,
            worker=engine.worker_id,
            lease=timedelta(seconds=engine.settings.lease_seconds),
        )
        if not claimed:
            return BatchReport()
        return advance_batch(engine, session, claimed, now)


def advance_batch(
    engine: Engine, session: Session, claimed: list[Enrollment], now: datetime
) -> BatchReport:
    report = BatchReport(claimed=len(claimed))
    final: dict[str, dict[str, Any]] = {}
    active = list(claimed)
    for _ in range(engine.settings.max_steps_per_advance):
        groups: dict[tuple[int, str], list[Enrollment]] = defaultdict(list)
        for enrollment in active:
            groups[(enrollment.journey_id, enrollment.current_step or "")].append(enrollment)
        active = []
        for (journey_id, step_id), members in groups.items():
            journey = engine.definitions.get(session, journey_id)
            try:
                transitions = _run_step(engine, session, journey, step_id, members, now, report)
            except KeyError:
                # The step does not exist in this version: a corrupt record, not a journey
                # mistake (versions are immutable). Fail the enrollments loudly, not silently.
                transitions = {
                    m.id: End(
                        FAILED,
                        f"step '{step_id}' not in {journey.key} v{members[0].journey_version}",
                    )
                    for m in members
                }
            report.steps[(journey.key, step_id)] += len(members)
            for enrollment in members:
                moved = _apply(enrollment, transitions[enrollment.id], now, final, journey, report)
                if moved:
                    active.append(enrollment)
        if not active:
            break
    else:
        # A journey that keeps moving without waiting; park rather than spin (the loader
        # refuses such loops, so this is a guard, not a path).
        for enrollment in active:
            log.warning(
                "enrollment %s still moving after %s steps; parked",
                enrollment.id,
                engine.settings.max_steps_per_advance,
            )
            final[enrollment.id] = _state(enrollment, next_action_at=now + timedelta(minutes=1))
    _write(session, final, engine.worker_id, now)
    session.commit()
    return report


def _run_step(
    engine: Engine,
    session: Session,
    journey: JourneyDefinition,
    step_id: str,
    members: list[Enrollment],
    now: datetime,
    report: BatchReport,
) -> dict[str, Transition]:
    step = journey.step(step_id)
    if isinstance(step, SendStep):
        return run_send(engine, session, journey, step, members, now, report)
    if isinstance(step, WaitStep):
        return run_wait(session, journey, step, members, now, engine.settings.default_timezone)
    if isinstance(step, SplitStep):
        return run_split(journey, step, members)
    if isinstance(step, BranchStep):
        return run_branch(session, journey, step, members, now)
    if isinstance(step, ExitStep):
        return {m.id: End(COMPLETED, step.reason or f"exit step {step.id}") for m in members}
    raise TypeError(f"no runner for {type(step).__name__}")


def _apply(
    enrollment: Enrollment,
    transition: Transition,
    now: datetime,
    final: dict[str, dict[str, Any]],
    journey: JourneyDefinition,
    report: BatchReport,
) -> bool:
    """Apply a transition in memory; True when the enrollment runs again this batch."""
    if isinstance(transition, Continue | End) and enrollment.current_step:
        # A journey may loop back to a step (through a wait): each visit of a send step
        # is its own touch, numbered by the visits completed before it.
        enrollment.context = with_visit_completed(enrollment.context, enrollment.current_step)
    if isinstance(transition, Continue):
        if transition.next_step is None:
            transition = End(COMPLETED, "reached the end of the journey")
        elif transition.next_step == EXIT:
            transition = End(COMPLETED, f"left at {transition.reason or 'a branch'}")
        else:
            enrollment.current_step = transition.next_step
            enrollment.step_entered_at = now
            enrollment.next_action_at = now
            return True
    if isinstance(transition, Park):
        enrollment.next_action_at = transition.until
        final[enrollment.id] = _state(enrollment, waiting_for=transition.waiting_for)
        report.parked += 1
        return False
    assert isinstance(transition, End)
    final[enrollment.id] = _state(
        enrollment,
        status=transition.status,
        ended_at=now,
        end_reason=transition.reason,
        next_action_at=None,
    )
    report.ended[(journey.key, transition.status, _short(transition.reason))] += 1
    return False


def _state(enrollment: Enrollment, **overrides: Any) -> dict[str, Any]:
    state = {
        "status": ACTIVE,
        "current_step": enrollment.current_step,
        "step_entered_at": enrollment.step_entered_at,
        "next_action_at": enrollment.next_action_at,
        "context": enrollment.context,
        "ended_at": None,
        "end_reason": None,
        "waiting_for": None,
        "revision": enrollment.revision,
    }
    state.update(overrides)
    return state


def _write(session: Session, final: dict[str, dict[str, Any]], worker: str, now: datetime) -> None:
    """Save the batch's enrollments, each only if still this worker's, still active, and
    unchanged since the claim (same revision). An enrollment that fails the guard keeps its
    stored state and is simply advanced again: its steps are idempotent."""
    if not final:
        return
    table = Enrollment.__table__
    columns = (
        "status", "current_step", "step_entered_at", "next_action_at", "context",
        "ended_at", "end_reason", "waiting_for",
    )  # fmt: skip
    statement = (
        update(table)  # type: ignore[arg-type]
        .where(
            table.c.id == bindparam("b_id"),  # type: ignore[attr-defined]
            table.c.lease_owner == worker,  # type: ignore[attr-defined]
            table.c.status == ACTIVE,  # type: ignore[attr-defined]
            table.c.revision == bindparam("b_revision"),  # type: ignore[attr-defined]
        )
        .values(
            {c: bindparam(f"b_{c}") for c in columns}
            | {
                "lease_owner": None,
                "lease_expires_at": None,
                "updated_at": now,
                "revision": table.c.revision + 1,
            }  # type: ignore[attr-defined]
        )
    )
    session.execute(
        statement,
        [
            {"b_id": eid, "b_revision": state["revision"], **{f"b_{c}": state[c] for c in columns}}
            for eid, state in final.items()
        ],
    )
    # Ended or woken meanwhile: keep what the other writer said, just give the lease back.
    session.execute(
        update(table)  # type: ignore[arg-type]
        .where(table.c.id.in_(list(final)), table.c.lease_owner == worker)  # type: ignore[attr-defined]
        .values(lease_owner=None, lease_expires_at=None)
    )


def _short(reason: str) -> str:
    return reason.split(" (")[0]
