"""The branch step: evaluate a condition per enrollment, for the whole batch at once.

Engagement conditions read the interaction record: one query for every enrollment of the
batch. Only engagement that happened by ``now`` counts, so a fast-forwarded clock and a
real one take the same path.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from touchline.db import chunked
from touchline.engine.conditions import holds
from touchline.engine.transitions import Continue, Transition
from touchline.engine.visits import last_touch_id
from touchline.journeys.model import BranchStep, JourneyDefinition
from touchline.record import Customer, Enrollment, Interaction


def run_branch(
    session: Session,
    journey: JourneyDefinition,
    step: BranchStep,
    enrollments: list[Enrollment],
    now: datetime,
) -> dict[str, Transition]:
    following = journey.next_step_id(step.id)
    facts = _Facts(session, enrollments, now)
    transitions: dict[str, Transition] = {}
    for enrollment in enrollments:
        result = holds(
            step.if_,
            attributes=facts.attributes(enrollment.customer_id),
            payload=enrollment.context.get("event", {}).get("payload", {}),
            engagement=lambda step_id, e=enrollment: facts.engaged(step_id, e.id),
        )
        target = step.then if result else step.else_
        transitions[enrollment.id] = Continue(
            following if target is None else target,
            f"{step.id}: condition {'true' if result else 'false'}",
        )
    return transitions


class _Facts:
    """Loads, once per batch and only when a condition asks, what conditions look at."""

    def __init__(self, session: Session, enrollments: list[Enrollment], now: datetime):
        self.session, self.enrollments, self.now = session, enrollments, now
        self._engagement: dict[str, dict[str, set[str]]] = {}  # step -> enrollment -> kinds
        self._attributes: dict[str, dict[str, Any]] | None = None

    def engaged(self, step_id: str, enrollment_id: str) -> set[str]:
        if step_id not in self._engagement:
            by_touch = {last_touch_id(e.id, e.context, step_id): e.id for e in self.enrollments}
            found: dict[str, set[str]] = defaultdict(set)
            for chunk in chunked(list(by_touch)):
                for touch_id, kind in self.session.execute(
                    select(Interaction.touch_id, Interaction.kind).where(
                        Interaction.touch_id.in_(chunk), Interaction.occurred_at <= self.now
                    )
                ):
                    found[by_touch[touch_id]].add(kind)
            self._engagement[step_id] = found
        return self._engagement[step_id].get(enrollment_id, set())

    def attributes(self, customer_id: str) -> dict[str, Any]:
        if self._attributes is None:
            self._attributes = customer_attributes(
                self.session, {e.customer_id for e in self.enrollments}
            )
        return self._attributes.get(customer_id, {})


def customer_attributes(session: Session, customer_ids: set[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for chunk in chunked(sorted(customer_ids)):
        found.update(
            session.execute(
                select(Customer.id, Customer.attributes).where(Customer.id.in_(chunk))
            ).all()
        )
    return found
