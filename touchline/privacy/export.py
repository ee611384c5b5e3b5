"""Everything Touchline holds about a customer, as JSON (GDPR Art. 15 and 20, CCPA's right
to know).

Table by table, from the record itself rather than from a list kept here: every table with
a ``customer_id`` column, plus the profiles, the suppressions of their addresses, the merge
audits, what was learned about them, and the privacy requests made for them. A table added
later is exported without anybody remembering to add it.
"""

from __future__ import annotations

import base64
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, or_, select
from sqlalchemy.orm import Session

from touchline.config import Settings
from touchline.db import chunked, metadata
from touchline.privacy.audit import customer_key
from touchline.privacy.erasure import profiles_of
from touchline.record import (
    ChannelEffectiveness,
    Customer,
    CustomerMerge,
    Identity,
    PrivacyAudit,
    Suppression,
    TimingEffectiveness,
)

FORMAT = "touchline.customer-export/1"


def export_customer(
    session: Session, customer_id: str, *, settings: Settings, at: datetime
) -> dict[str, Any]:
    ids = profiles_of(session, customer_id)
    addresses = sorted(
        set(session.scalars(select(Identity.value).where(Identity.customer_id.in_(ids))))
    )
    tables: dict[str, list[dict[str, Any]]] = {
        "customer": _rows(session, Customer.__table__, Customer.id.in_(ids)),
        "customer_merge": _rows(
            session,
            CustomerMerge.__table__,
            or_(
                CustomerMerge.source_customer_id.in_(ids),
                CustomerMerge.target_customer_id.in_(ids),
            ),
        ),
        "suppression": [
            row
            for chunk in chunked(addresses)
            for row in _rows(session, Suppression.__table__, Suppression.value.in_(chunk))
        ],
        "privacy_audit": _rows(
            session,
            PrivacyAudit.__table__,
            PrivacyAudit.customer_key.in_([customer_key(settings, i) for i in ids]),
        ),
    }
    for model in (ChannelEffectiveness, TimingEffectiveness):
        table: Table = model.__table__  # type: ignore[attr-defined]
        tables[table.name] = _rows(
            session, table, (table.c.scope == "customer") & table.c.scope_key.in_(ids)
        )
    for table in metadata().sorted_tables:
        if "customer_id" in table.c and table.name not in tables:
            tables[table.name] = _rows(session, table, table.c.customer_id.in_(ids))
    return {
        "format": FORMAT,
        "customer_id": ids[0],
        "profiles": ids,
        "exported_at": at.isoformat(),
        "company": settings.company_name,
        "tables": dict(sorted(tables.items())),
    }


def counts_of(export: dict[str, Any]) -> dict[str, int]:
    return {name: len(rows) for name, rows in export["tables"].items()}


def _rows(session: Session, table: Table, where: Any) -> list[dict[str, Any]]:
    keys = [c.name for c in table.primary_key.columns]
    statement = select(table).where(where).order_by(*(table.c[k] for k in keys))
    return [
        {name: _json(value) for name, value in row.items()}
        for row in session.execute(statement).mappings()
    ]


def _json(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value
