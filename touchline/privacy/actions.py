"""The privacy requests an operator carries out: forget a customer, export a customer.

Each runs in one transaction with its audit row: an erasure that fails half-way leaves
nothing half-erased, and no request is carried out without its trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from touchline.config import Settings
from touchline.db import Database
from touchline.privacy.audit import audit, customer_key
from touchline.privacy.erasure import erase_customer
from touchline.privacy.export import counts_of, export_customer
from touchline.record.privacy import ERASE, EXPORT


@dataclass(frozen=True)
class ForgetResult:
    customer_id: str
    profiles: list[str]
    customer_key: str
    counts: dict[str, int]
    audit_id: int


def forget_customer(
    db: Database, customer_id: str, *, settings: Settings, now: datetime, actor: str, via: str
) -> ForgetResult:
    """Erase the customer (and profiles merged into them); UnknownCustomerError if none."""
    with db.session() as session:
        erasure = erase_customer(session, customer_id, settings=settings, at=now)
        counts = {name: n for name, n in sorted(erasure.counts.items()) if n}
        row = audit(
            session, settings, action=ERASE, customer_id=erasure.customer_id, actor=actor,
            via=via, at=now, counts={**counts, "profiles": len(erasure.profiles)},
        )  # fmt: skip
        return ForgetResult(
            erasure.customer_id,
            erasure.profiles,
            customer_key(settings, erasure.customer_id),
            counts,
            int(row.id or 0),
        )


def export_customer_data(
    db: Database, customer_id: str, *, settings: Settings, now: datetime, actor: str, via: str
) -> dict[str, Any]:
    """Everything held about the customer, as JSON-ready data; audited."""
    with db.session() as session:
        export = export_customer(session, customer_id, settings=settings, at=now)
        audit(
            session, settings, action=EXPORT, customer_id=export["customer_id"], actor=actor,
            via=via, at=now, counts=counts_of(export),
        )  # fmt: skip
        return export
