"""The limit on a customer's attributes, counted over everything they would hold.

Each event's ``profile.attributes`` is merged into what the customer already has (later
values win), so events that are each small can still grow one customer without bound; the
record's JSON column, every profile load and every rendered context would carry it. The
limit is on the merged total (TOUCHLINE_CUSTOMER_ATTRIBUTES_MAX_BYTES, 16 KiB by default).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from touchline.intake.schema import attributes_size_problem
from touchline.record import Customer


def oversized_attributes(
    session: Session, changes: Sequence[tuple[str, dict[str, Any]]], limit: int
) -> dict[int, str]:
    """For each (customer id, new attributes) in order, the problem if merging it into the
    customer's current attributes (and the earlier items' that fit) would pass ``limit``:
    {index: problem}. Items that do not fit are left out of later items' totals."""
    wanted = sorted({cid for cid, attrs in changes if attrs})
    current: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = session.execute(
            select(Customer.id, Customer.attributes).where(Customer.id.in_(chunk))
        ).all()
        current.update({cid: dict(attrs or {}) for cid, attrs in rows})
    problems: dict[int, str] = {}
    for index, (cid, attrs) in enumerate(changes):
        if not attrs:
            continue
        merged = {**current.get(cid, {}), **attrs}
        problem = attributes_size_problem(merged, limit)
        if problem:
            problems[index] = problem
        else:
            current[cid] = merged
    return problems
