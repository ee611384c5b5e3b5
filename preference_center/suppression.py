"""Suppressing an address: the one way a suppression row is written.

A suppression is about the address, not the person (touchline.record.suppressions): a
hard bounce, a spam complaint, a STOP from a number we do not know. Writing one is
idempotent — an address already suppressed (and not lifted) gets no second row — so a
repeated webhook or keyword changes nothing. The final gate (preference_center.gate)
reads suppressions as they are at the moment of sending.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from touchline.db import chunked
from touchline.record import Suppression


@dataclass(frozen=True)
class SuppressionIn:
    kind: str  # email | phone | whatsapp | x_handle (identity kinds)
    value: str  # normalised, as identities are
    reason: str  # bounce | spamreport | invalid | admin | stop…
    source: str
    evidence: Mapping[str, Any]


def suppress_addresses(
    session: Session, entries: Sequence[SuppressionIn], at: datetime
) -> list[Suppression]:
    """Suppress each address not already suppressed; returns the rows written."""
    wanted = {(e.kind, e.value): e for e in entries}
    if not wanted:
        return []
    active: set[tuple[str, str]] = set()
    for chunk in chunked(sorted({value for _, value in wanted})):
        active.update(
            session.execute(
                select(Suppression.kind, Suppression.value).where(
                    Suppression.value.in_(chunk), Suppression.lifted_at.is_(None)
                )
            ).tuples()
        )
    rows = [
        Suppression(kind=e.kind, value=e.value, reason=e.reason[:32], source=e.source[:64],
                    evidence=dict(e.evidence), created_at=at)
        for key, e in wanted.items()
        if key not in active
    ]  # fmt: skip
    session.add_all(rows)
    session.flush()
    return rows
