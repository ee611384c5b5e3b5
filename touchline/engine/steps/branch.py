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

from touchline import ids
from touchline.db import chunked
from touchline.engine.transitions import Continue, Transition
from touchline.journeys.model import (
    AllCondition,
    AnyCondition,
    AttributeCondition,
    BranchStep,
    Comparison,
    EngagementCondition,
    JourneyDefinition,
    NotCondition,
    PayloadCondition,
)
from touchline.record import Customer, Enrollment, Interaction
from touchline.record.touches import CLICKED, DELIVERED, OPENED, REPLIED

# A level of engagement is proven by itself or by anything that implies it: a click
# proves the open even when the tracking pixel was blocked.
PROVEN_BY = {
    "delivered": {DELIVERED, OPENED, CLICKED, REPLIED},
    "opened": {OPENED, CLICKED},
    "clicked": {CLICKED},
    "replied": {REPLIED},
}


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
        holds = facts.evaluate(step.if_, enrollment)
        target = step.then if holds else step.else_
        transitions[enrollment.id] = Continue(
            following if target is None else target,
            f"{step.id}: condition {'true' if holds else 'false'}",
        )
    return transitions


class _Facts:
    """Loads, once per batch, only what the conditions ask about."""

    def __init__(self, session: Session, enrollments: list[Enrollment], now: datetime):
        self.session, self.enrollments, self.now = session, enrollments, now
        self._engagement: dict[str, dict[str, set[str]]] = {}  # step -> enrollment -> kinds
        self._attributes: dict[str, dict[str, Any]] | None = None

    def evaluate(self, condition: Any, enrollment: Enrollment) -> bool:
        if isinstance(condition, EngagementCondition):
            kinds = self._engaged(condition.step).get(enrollment.id, set())
            return bool(kinds & PROVEN_BY[condition.engaged])
        if isinstance(condition, AttributeCondition):
            value = _lookup(
                self._customer_attributes().get(enrollment.customer_id, {}), condition.attribute
            )
            return _compare(condition, value)
        if isinstance(condition, PayloadCondition):
            payload = enrollment.context.get("event", {}).get("payload", {})
            return _compare(condition, _lookup(payload, condition.payload))
        if isinstance(condition, AllCondition):
            return all(self.evaluate(c, enrollment) for c in condition.all)
        if isinstance(condition, AnyCondition):
            return any(self.evaluate(c, enrollment) for c in condition.any)
        if isinstance(condition, NotCondition):
            return not self.evaluate(condition.not_, enrollment)
        raise TypeError(f"unknown condition {condition!r}")

    def _engaged(self, step_id: str) -> dict[str, set[str]]:
        if step_id not in self._engagement:
            by_touch = {ids.touch_id(e.id, step_id): e.id for e in self.enrollments}
            found: dict[str, set[str]] = defaultdict(set)
            for chunk in chunked(list(by_touch)):
                for touch_id, kind in self.session.execute(
                    select(Interaction.touch_id, Interaction.kind).where(
                        Interaction.touch_id.in_(chunk),
                        Interaction.occurred_at <= self.now,
                    )
                ):
                    found[by_touch[touch_id]].add(kind)
            self._engagement[step_id] = found
        return self._engagement[step_id]

    def _customer_attributes(self) -> dict[str, dict[str, Any]]:
        if self._attributes is None:
            customers = sorted({e.customer_id for e in self.enrollments})
            self._attributes = {}
            for chunk in chunked(customers):
                self._attributes.update(
                    self.session.execute(
                        select(Customer.id, Customer.attributes).where(Customer.id.in_(chunk))
                    ).all()
                )
        return self._attributes


_MISSING = object()


def _lookup(data: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(data, dict) and part in data:
            data = data[part]
        else:
            return _MISSING
    return data


def _compare(condition: Comparison, value: Any) -> bool:
    operator, operand = condition.operator, condition.operand
    if operator == "exists":
        return (value is not _MISSING and value is not None) == operand
    if value is _MISSING:
        return operator == "not_equals"
    if operator == "equals":
        return value == operand
    if operator == "not_equals":
        return value != operand
    if operator == "in":
        return value in operand
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False  # "abc" > 10 is simply not true
    return {
        "gt": number > operand,
        "gte": number >= operand,
        "lt": number < operand,
        "lte": number <= operand,
    }[operator]
