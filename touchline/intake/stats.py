"""What came in, by event type, against the tracking plan: ``touchline events stats``.

In permissive mode undeclared types are stored (with a warning to the producer); this is
where they are counted, so someone declares them or fixes the producer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from touchline.db import Database
from touchline.intake.tracking_plan import TrackingPlan
from touchline.record import Event


@dataclass(frozen=True)
class TypeCount:
    type: str
    events: int
    last_received_at: datetime | None
    declared: bool


@dataclass(frozen=True)
class EventStats:
    types: list[TypeCount]

    @property
    def unknown(self) -> list[TypeCount]:
        return [t for t in self.types if not t.declared]

    @property
    def unknown_events(self) -> int:
        return sum(t.events for t in self.unknown)


def event_stats(db: Database, plan: TrackingPlan, since: datetime | None = None) -> EventStats:
    """Events stored per type (received since ``since``), declared types with none too."""
    query = select(Event.type, func.count(), func.max(Event.received_at)).group_by(Event.type)
    if since is not None:
        query = query.where(Event.received_at >= since)
    with db.session() as session:
        rows = {t: (n, last) for t, n, last in session.execute(query)}
    types = [TypeCount(t, n, last, t in plan) for t, (n, last) in rows.items()]
    types += [TypeCount(t, 0, None, True) for t in plan.events if t not in rows]
    return EventStats(sorted(types, key=lambda t: (t.declared, -t.events, t.type)))
