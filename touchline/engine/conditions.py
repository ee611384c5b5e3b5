"""Evaluating the journey language's conditions against one enrollment's facts.

Branch steps and trigger filters both use it; the facts (attributes, payload, engagement)
are loaded per batch by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from touchline.journeys.model import (
    AllCondition,
    AnyCondition,
    AttributeCondition,
    Comparison,
    EngagementCondition,
    NotCondition,
    PayloadCondition,
)
from touchline.record.touches import CLICKED, DELIVERED, OPENED, REPLIED

# A level of engagement is proven by itself or by anything that implies it: a click
# proves the open even when the tracking pixel was blocked.
PROVEN_BY = {
    "delivered": {DELIVERED, OPENED, CLICKED, REPLIED},
    "opened": {OPENED, CLICKED},
    "clicked": {CLICKED},
    "replied": {REPLIED},
}
_MISSING = object()


def holds(
    condition: Any,
    *,
    attributes: Mapping[str, Any],
    payload: Mapping[str, Any],
    engagement: Callable[[str], set[str]] = lambda _step: set(),
) -> bool:
    """``engagement(step_id)`` gives the interaction kinds of that step's touch."""
    if isinstance(condition, EngagementCondition):
        return bool(engagement(condition.step) & PROVEN_BY[condition.engaged])
    if isinstance(condition, AttributeCondition):
        return compare(condition, lookup(attributes, condition.attribute))
    if isinstance(condition, PayloadCondition):
        return compare(condition, lookup(payload, condition.payload))
    if isinstance(condition, AllCondition):
        return all(
            holds(c, attributes=attributes, payload=payload, engagement=engagement)
            for c in condition.all
        )
    if isinstance(condition, AnyCondition):
        return any(
            holds(c, attributes=attributes, payload=payload, engagement=engagement)
            for c in condition.any
        )
    if isinstance(condition, NotCondition):
        return not holds(
            condition.not_, attributes=attributes, payload=payload, engagement=engagement
        )
    raise TypeError(f"unknown condition {condition!r}")


def lookup(data: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(data, Mapping) and part in data:
            data = data[part]
        else:
            return _MISSING
    return data


def compare(condition: Comparison, value: Any) -> bool:
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
    if operator == "contains_any":
        if isinstance(value, str):
            text = value.casefold()
            return any(word.casefold() in text for word in operand)
        if isinstance(value, list):
            return any(word in value for word in operand)
        return False
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
