"""Purchases read from the record's events into pandas, in chunks.

A purchase is an event whose type is one of ``settings.purchase_event_types`` (default
``order.placed``); its amount is the payload field ``settings.purchase_amount_field``
(default ``total``). An amount that is missing or not a number counts as 0: the purchase
still counts for recency and frequency.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from touchline.config import Settings
from touchline.db import Database
from touchline.record.types import UTCDateTime

READ_ROWS = 200_000
PURCHASE_COLUMNS = ("event_id", "customer_id", "occurred_at", "amount")


def _purchases_sql(dialect: str) -> str:
    # The amount is read as text on both backends (json ->> / json_extract) and made a
    # number by pandas: a producer's "12,50" must not fail the whole read.
    amount = "payload ->> :field" if dialect == "postgresql" else "json_extract(payload, :path)"
    return (
        f"SELECT id, customer_id, occurred_at, {amount} FROM event "
        "WHERE type IN :types AND occurred_at <= :until"
    )


def _frame(columns: Sequence[str], rows: list[tuple[object, ...]]) -> pd.DataFrame:
    # Column-wise from plain tuples: pandas probes each Row object otherwise.
    if not rows:
        return pd.DataFrame({c: [] for c in columns})
    return pd.DataFrame(dict(zip(columns, zip(*rows, strict=True), strict=True)))


def read_purchase_chunks(
    connection: Connection, until: datetime, settings: Settings, chunk_rows: int = READ_ROWS
) -> Iterator[pd.DataFrame]:
    """``PURCHASE_COLUMNS``, ``chunk_rows`` at a time (a server-side cursor on PostgreSQL)."""
    dialect = connection.dialect.name
    statement = text(_purchases_sql(dialect)).bindparams(
        bindparam("types", expanding=True), bindparam("until", type_=UTCDateTime)
    )
    field = settings.purchase_amount_field
    params: dict[str, object] = {"types": list(settings.purchase_event_types), "until": until}
    params.update(
        {"field": field}
        if dialect == "postgresql"
        else {"path": f'$."{field.replace(chr(34), "")}"'}
    )
    result = connection.execution_options(yield_per=chunk_rows).execute(statement, params)
    for rows in result.partitions(chunk_rows):
        chunk = _frame(PURCHASE_COLUMNS, rows)
        chunk["occurred_at"] = pd.to_datetime(chunk["occurred_at"], utc=True, format="ISO8601")
        chunk["amount"] = pd.to_numeric(chunk["amount"], errors="coerce").fillna(0.0)
        yield chunk


def read_purchases(db: Database, until: datetime, settings: Settings) -> pd.DataFrame:
    """Every purchase up to ``until``: one frame with ``PURCHASE_COLUMNS``."""
    with db.engine.connect() as connection:
        parts = list(read_purchase_chunks(connection, until, settings))
    if not parts:
        return empty_purchases()
    frame = pd.concat(parts, ignore_index=True)
    return frame


def empty_purchases() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": pd.Series([], dtype="str"),
            "customer_id": pd.Series([], dtype="str"),
            "occurred_at": pd.Series([], dtype="datetime64[us, UTC]"),
            "amount": pd.Series([], dtype="float64"),
        }
    )
