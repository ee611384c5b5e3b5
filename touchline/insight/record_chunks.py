"""Enrollments with their touches and the touches' interactions, read a page of cases at a
time: what the event log and the conformance check replay.

A page holds whole cases (every enrollment of the page's enrollments, or of the page's
customers), so a case's events never straddle two pages and memory holds one page.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Connection

from touchline import ids
from touchline.db import chunked
from touchline.engine.enroll import CONVERTED
from touchline.record import Enrollment, Interaction, Touch

CaseKind = Literal["enrollment", "customer"]
PAGE_CASES = 2000

ENROLLMENT_COLUMNS = (
    "enrollment_id", "journey", "journey_version", "customer_id", "entered_at", "status",
    "current_step", "ended_at", "end_reason", "holdout",
)  # fmt: skip
TOUCH_COLUMNS = ("touch_id", "enrollment_id", "step", "channel", "created_at")
INTERACTION_COLUMNS = ("touch_id", "kind", "channel", "provider", "occurred_at")
CONVERSION_COLUMNS = ("enrollment_id", "occurred_at")


@dataclass(frozen=True)
class RecordPage:
    enrollments: pd.DataFrame  # ENROLLMENT_COLUMNS
    touches: pd.DataFrame  # TOUCH_COLUMNS
    interactions: pd.DataFrame  # INTERACTION_COLUMNS (only interactions of these touches)
    conversions: pd.DataFrame  # CONVERSION_COLUMNS


def _frame(columns: tuple[str, ...], rows: list[tuple[object, ...]]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame({c: pd.Series([], dtype="object") for c in columns})
    return pd.DataFrame(dict(zip(columns, zip(*rows, strict=True), strict=True)))


def _page_keys(
    connection: Connection, case: CaseKind, journey: str | None, after: str | None, size: int
) -> list[str]:
    column = Enrollment.id if case == "enrollment" else Enrollment.customer_id
    query = select(column).distinct().order_by(column).limit(size)
    if journey:
        query = query.where(Enrollment.journey_key == journey)
    if after is not None:
        query = query.where(column > after)
    return list(connection.execute(query).scalars())


def iter_record_pages(
    connection: Connection,
    *,
    case: CaseKind = "enrollment",
    journey: str | None = None,
    page_cases: int = PAGE_CASES,
) -> Iterator[RecordPage]:
    after: str | None = None
    while keys := _page_keys(connection, case, journey, after, page_cases):
        after = keys[-1]
        key_column = Enrollment.id if case == "enrollment" else Enrollment.customer_id
        enrollments: list[tuple[object, ...]] = []
        for part in chunked(keys):
            query = select(
                Enrollment.id, Enrollment.journey_key, Enrollment.journey_version,
                Enrollment.customer_id, Enrollment.entered_at, Enrollment.status,
                Enrollment.current_step, Enrollment.ended_at, Enrollment.end_reason,
                Enrollment.holdout,
            ).where(key_column.in_(part))  # fmt: skip
            if journey:
                query = query.where(Enrollment.journey_key == journey)
            enrollments += [tuple(r) for r in connection.execute(query)]
        enrollment_ids = [str(r[0]) for r in enrollments]
        touches: list[tuple[object, ...]] = []
        interactions: list[tuple[object, ...]] = []
        conversions: list[tuple[object, ...]] = []
        for part in chunked(enrollment_ids):
            touches += [
                tuple(r)
                for r in connection.execute(
                    select(Touch.id, Touch.enrollment_id, Touch.step_id, Touch.channel,
                           Touch.created_at).where(Touch.enrollment_id.in_(part))
                )
            ]  # fmt: skip
            interactions += [
                tuple(r)
                for r in connection.execute(
                    select(Interaction.touch_id, Interaction.kind, Interaction.channel,
                           Interaction.provider, Interaction.occurred_at)
                    .join(Touch, Touch.id == Interaction.touch_id)
                    .where(Touch.enrollment_id.in_(part))
                )
            ]  # fmt: skip
            # A conversion's id derives from its enrollment: found by key, no JSON lookups.
            by_id = {ids.interaction_id("conversion", e): e for e in part}
            conversions += [
                (by_id[i], at)
                for i, at in connection.execute(
                    select(Interaction.id, Interaction.occurred_at).where(
                        Interaction.id.in_(list(by_id)), Interaction.kind == CONVERTED
                    )
                )
            ]
        yield RecordPage(
            _frame(ENROLLMENT_COLUMNS, enrollments),
            _frame(TOUCH_COLUMNS, touches),
            _frame(INTERACTION_COLUMNS, interactions),
            _frame(CONVERSION_COLUMNS, conversions),
        )
