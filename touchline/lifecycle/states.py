"""The states a journey goes through, the changes allowed between them, and each change
stored with who, when and why.

- ``draft``: not running (nothing enters, nothing is sent).
- ``live``: triggers enroll, enrollments advance and send. A published journey without a
  stored state is live, as every journey was before states existed.
- ``paused``: triggering events are recorded as not enrolled ("journey paused"), enrolled
  customers hold at their next step, and no provider request starts after the pause is
  committed (see ``fence``). ``resume`` takes it back to live.
- ``stopped``: nobody new enters. ``drain``: enrollments in flight carry on to their end;
  ``exit``: every active enrollment ends now, with the reason.
- ``archived``: stopped for good and out of the way; nothing runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from touchline.db import Database, insert_ignoring_duplicates
from touchline.errors import JourneyNotFoundError, TouchlineError
from touchline.record import Enrollment, Journey, JourneyState, JourneyStateChange
from touchline.record.enrollments import ACTIVE, EXITED

DRAFT, LIVE, PAUSED, STOPPED, ARCHIVED = "draft", "live", "paused", "stopped", "archived"
STATES = (DRAFT, LIVE, PAUSED, STOPPED, ARCHIVED)
DRAIN, EXIT = "drain", "exit"

ALLOWED: dict[str, frozenset[str]] = {
    DRAFT: frozenset({LIVE, ARCHIVED}),
    LIVE: frozenset({PAUSED, STOPPED}),
    PAUSED: frozenset({LIVE, STOPPED}),
    # A stop --drain may become a stop --exit (the drain is taking too long).
    STOPPED: frozenset({STOPPED, ARCHIVED}),
    ARCHIVED: frozenset(),
}

PAUSED_REASON = "journey paused"


class LifecycleError(TouchlineError):
    """A state change that is not allowed, or a journey that does not exist."""


@dataclass(frozen=True)
class Standing:
    """A journey's state as stored (or ``live`` when none is)."""

    journey_key: str
    state: str
    stop_mode: str | None = None
    reason: str | None = None
    changed_by: str | None = None
    changed_at: datetime | None = None

    @property
    def halt_reason(self) -> str | None:
        """Why no provider request may start for this journey now (None: they may)."""
        return halt_reason(self.state, self.stop_mode)

    @property
    def entry_refusal(self) -> str | None:
        """Why a triggering event does not enroll anybody now (None: it does)."""
        return None if self.state == LIVE else f"journey {self.state}"


def halt_reason(state: str | None, stop_mode: str | None) -> str | None:
    if state is None or state == LIVE or (state == STOPPED and stop_mode == DRAIN):
        return None
    if state == PAUSED:
        return PAUSED_REASON
    return f"journey {state}"


def halted_clause() -> Any:
    """SQL: the journey_state rows whose journeys may not send (for claims and probes)."""
    table = JourneyState.__table__.c  # type: ignore[attr-defined]
    return or_(
        table.state.in_([DRAFT, PAUSED, ARCHIVED]),
        and_(table.state == STOPPED, or_(table.stop_mode.is_(None), table.stop_mode == EXIT)),
    )


def halted_keys_query() -> Any:
    return select(JourneyState.journey_key).where(halted_clause())


def standing(session: Session, journey_key: str) -> Standing:
    row = session.get(JourneyState, journey_key)
    if row is None:
        return Standing(journey_key, LIVE)
    return _standing(row)


def standings(session: Session, keys: set[str] | None = None) -> dict[str, Standing]:
    """Every stored state (or those of ``keys``); keys without a row are live."""
    query = select(JourneyState)
    if keys is not None:
        query = query.where(JourneyState.journey_key.in_(sorted(keys)))
    found = {row.journey_key: _standing(row) for row in session.execute(query).scalars()}
    for key in keys or ():
        found.setdefault(key, Standing(key, LIVE))
    return found


def _standing(row: JourneyState) -> Standing:
    return Standing(row.journey_key, row.state, row.stop_mode, row.reason, row.changed_by,
                    row.changed_at)  # fmt: skip


def ensure_state_row(db: Database, journey_key: str, now: datetime) -> None:
    """A row for the fence to lock: a journey published before it had one is live."""
    with db.session() as session:
        insert_ignoring_duplicates(
            session,
            JourneyState,
            [{"journey_key": journey_key, "state": LIVE, "stop_mode": None,
              "reason": "published", "changed_by": "touchline", "changed_at": now}],
            conflict_columns=["journey_key"],
        )  # fmt: skip


@dataclass(frozen=True)
class Change:
    journey_key: str
    from_state: str
    to_state: str
    stop_mode: str | None
    reason: str
    changed_by: str
    changed_at: datetime
    ended: int = 0  # enrollments ended by stop --exit
    committed_at: float = 0.0  # time.time() right after the commit returned


def change_state(
    db: Database,
    journey_key: str,
    to_state: str,
    *,
    reason: str,
    who: str,
    now: datetime,
    stop_mode: str | None = None,
) -> Change:
    """Move a journey to ``to_state``, stored with who, when and why. A change that halts
    sending waits for the provider requests in flight (they hold the fence) and commits
    before any other starts: from the commit on, none does."""
    import time

    from touchline.lifecycle.fence import exclusive

    reason = (reason or "").strip()
    if not reason:
        raise LifecycleError("give a reason (--reason TEXT): it is stored with the change")
    if len(reason) > 500:
        raise LifecycleError("the reason is longer than 500 characters")
    if to_state not in STATES:
        raise LifecycleError(f"unknown state '{to_state}'; states are {', '.join(STATES)}")
    if to_state == STOPPED and stop_mode not in (DRAIN, EXIT):
        raise LifecycleError("a stop is either --drain (in-flight finish) or --exit (end them now)")
    with db.session() as session:
        if session.execute(select(Journey.id).where(Journey.key == journey_key)).first() is None:
            raise JourneyNotFoundError(f"no published journey '{journey_key}'")
    ensure_state_row(db, journey_key, now)
    with db.session() as session, exclusive(db, journey_key, session):
        # Waits for every request in flight (each holds the fence shared) and queues every
        # new one behind it until the commit.
        row = session.execute(
            select(JourneyState).where(JourneyState.journey_key == journey_key).with_for_update()
        ).scalar_one()
        before = row.state
        if to_state not in ALLOWED[before] or (before == STOPPED and to_state == STOPPED and
                                               (row.stop_mode, stop_mode) != (DRAIN, EXIT)):  # fmt: skip
            allowed = ", ".join(sorted(ALLOWED[before])) or "nothing"
            raise LifecycleError(
                f"{journey_key} is {before}{_mode(row.stop_mode)}; it cannot become "
                f"{to_state}{_mode(stop_mode)} (from {before}: {allowed})"
            )
        row.state, row.stop_mode = to_state, stop_mode if to_state == STOPPED else None
        row.reason, row.changed_by, row.changed_at = reason, who, now
        ended = 0
        if to_state == STOPPED and stop_mode == EXIT:
            ended = _end_active(session, journey_key, reason, now)
        session.add(
            JourneyStateChange(
                journey_key=journey_key, from_state=before, to_state=to_state,
                stop_mode=row.stop_mode, reason=reason, changed_by=who, changed_at=now,
                detail={"enrollments_ended": ended} if ended else {},
            )
        )  # fmt: skip
        session.commit()
        committed_at = time.time()
    return Change(journey_key, before, to_state, row.stop_mode, reason, who, now, ended,
                  committed_at)  # fmt: skip


def _mode(mode: str | None) -> str:
    return f" ({mode})" if mode else ""


def _end_active(session: Session, journey_key: str, reason: str, now: datetime) -> int:
    table = Enrollment.__table__.c  # type: ignore[attr-defined]
    result = session.execute(
        update(Enrollment.__table__)  # type: ignore[arg-type]
        .where(table.journey_key == journey_key, table.status == ACTIVE)
        .values(
            status=EXITED,
            ended_at=now,
            next_action_at=None,
            end_reason=f"journey stopped: {reason}"[:500],
            updated_at=now,
            revision=table.revision + 1,
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def history(session: Session, journey_key: str) -> list[JourneyStateChange]:
    return list(
        session.execute(
            select(JourneyStateChange)
            .where(JourneyStateChange.journey_key == journey_key)
            .order_by(JourneyStateChange.changed_at, JourneyStateChange.id)
        ).scalars()
    )
