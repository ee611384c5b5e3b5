"""Live counts of a journey, for ``touchline journeys status``: where its enrollments stand
and what it sent today. Proofs are not touches: nothing here counts them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from touchline.engine.enroll import CONVERTED, NOT_ENROLLED
from touchline.lifecycle.states import Standing, standings
from touchline.record import Enrollment, Interaction, Journey, Touch
from touchline.record.enrollments import ACTIVE
from touchline.record.touches import FAILED, SENT


@dataclass
class JourneyStatus:
    standing: Standing
    version: int
    active_by_step: dict[str, int] = field(default_factory=dict)
    waiting: int = 0  # active, next action later than now (a wait, a scheduled send)
    due_within_hour: int = 0  # active, next action by now + 1 h (overdue included)
    sent_today: dict[str, int] = field(default_factory=dict)  # channel -> sent
    failed_today: int = 0
    conversions: int = 0
    conversions_today: int = 0
    not_enrolled_today: int = 0  # triggers that found the journey not live

    @property
    def active(self) -> int:
        return sum(self.active_by_step.values())


def journey_status(session: Session, now: datetime, key: str | None = None) -> list[JourneyStatus]:
    """One status per published journey (or just ``key``), from the record as it is now."""
    versions = dict(
        session.execute(select(Journey.key, func.max(Journey.version)).group_by(Journey.key)).all()
    )
    if key is not None:
        versions = {k: v for k, v in versions.items() if k == key}
    if not versions:
        return []
    states = standings(session, set(versions))
    statuses = {k: JourneyStatus(states[k], v) for k, v in sorted(versions.items())}
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    keys = list(statuses)

    for jkey, step, count in session.execute(
        select(Enrollment.journey_key, Enrollment.current_step, func.count())
        .where(Enrollment.status == ACTIVE, Enrollment.journey_key.in_(keys))
        .group_by(Enrollment.journey_key, Enrollment.current_step)
    ):
        statuses[jkey].active_by_step[step or "-"] = count
    for jkey, later, soon in session.execute(
        select(
            Enrollment.journey_key,
            func.sum(_flag(Enrollment.next_action_at > now)),
            func.sum(_flag(Enrollment.next_action_at <= now + timedelta(hours=1))),
        )
        .where(Enrollment.status == ACTIVE, Enrollment.journey_key.in_(keys))
        .group_by(Enrollment.journey_key)
    ):
        statuses[jkey].waiting, statuses[jkey].due_within_hour = int(later or 0), int(soon or 0)

    sent: Counter[tuple[str, str]] = Counter()
    for jkey, kind, channel, count in session.execute(
        select(Touch.journey_key, Interaction.kind, Interaction.channel, func.count())
        .join(Touch, Touch.id == Interaction.touch_id)
        .where(
            Touch.journey_key.in_(keys),
            Interaction.kind.in_([SENT, FAILED]),
            Interaction.occurred_at >= today,
        )
        .group_by(Touch.journey_key, Interaction.kind, Interaction.channel)
    ):
        if kind == SENT:
            sent[(jkey, channel or "-")] += count
        else:
            statuses[jkey].failed_today += count
    for (jkey, channel), count in sent.items():
        statuses[jkey].sent_today[channel] = count

    # Through a subquery: PostgreSQL would not match the JSON path's two bound parameters
    # in SELECT and GROUP BY.
    rows = (
        select(
            Interaction.detail["journey"].as_string().label("journey"),
            Interaction.kind,
            Interaction.occurred_at,
        )
        .where(
            Interaction.touch_id.is_(None),
            Interaction.kind.in_([CONVERTED, NOT_ENROLLED]),
        )
        .subquery()
    )
    for jkey, kind, total, recent in session.execute(
        select(
            rows.c.journey, rows.c.kind, func.count(), func.sum(_flag(rows.c.occurred_at >= today))
        )
        .where(rows.c.journey.in_(keys))
        .group_by(rows.c.journey, rows.c.kind)
    ):
        status = statuses[jkey]
        if kind == CONVERTED:
            status.conversions, status.conversions_today = total, int(recent or 0)
        else:
            status.not_enrolled_today = int(recent or 0)
    return list(statuses.values())


def _flag(condition: object) -> object:
    from sqlalchemy import case

    return case((condition, 1), else_=0)  # type: ignore[arg-type]
