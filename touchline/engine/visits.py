"""How many times an enrollment has been through each step.

Journeys may loop (a reminder every week until the customer buys), so a step can be
visited more than once. Touch ids are derived from enrollment, step *and visit*: the second
visit of a send step is a new touch, while a replayed batch of the same visit still finds
the touch it already made. Counts live in the enrollment's context under ``visits``; the
first visit has the id touches had before loops existed.
"""

from __future__ import annotations

from typing import Any

from touchline import ids

KEY = "visits"


def completed_visits(context: dict[str, Any], step_id: str) -> int:
    return int(context.get(KEY, {}).get(step_id, 0))


def with_visit_completed(context: dict[str, Any], step_id: str) -> dict[str, Any]:
    """A new context (never mutated in place: the write-back compares revisions, not
    contents) with one more completed visit of ``step_id``."""
    visits = dict(context.get(KEY, {}))
    visits[step_id] = visits.get(step_id, 0) + 1
    return {**context, KEY: visits}


def current_touch_id(enrollment_id: str, context: dict[str, Any], step_id: str) -> str:
    """The touch of the visit under way at a send step."""
    return ids.touch_id(enrollment_id, step_id, completed_visits(context, step_id) + 1)


def last_touch_id(enrollment_id: str, context: dict[str, Any], step_id: str) -> str:
    """The touch of the most recent completed visit of an earlier send step."""
    return ids.touch_id(enrollment_id, step_id, max(1, completed_visits(context, step_id)))
