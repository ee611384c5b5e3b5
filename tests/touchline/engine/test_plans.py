"""On PostgreSQL the claim and the webhook lookup by provider message id read their indexes,
not the tables: checked on the plans of the statements as the code builds them, over a
record of 60,000 enrollments and 80,000 interactions (ANALYZEd). ``bench/plans.py`` shows
the same at 10 M rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from tests.conftest import START
from touchline.db import Database
from touchline.engine.claim import claim_statement
from touchline.inbound.provider_events import sends_by_message_id

ROWS = 60_000


@pytest.fixture
def record(db: Database) -> Database:
    if not db.is_postgres:
        pytest.skip("plans are PostgreSQL's")
    params = {"now": START, "rows": ROWS}
    with db.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO customer (id, attributes, created_at, updated_at) "
            "SELECT 'c' || n, '{}', :now, :now FROM generate_series(0, 999) AS n"
        ), params)  # fmt: skip
        conn.execute(text(
            "INSERT INTO journey (id, key, version, name, definition, digest, published_at) "
            "VALUES (1, 'plans', 1, 'Plans', '{}', 'x', :now)"
        ), params)  # fmt: skip
        # 95 % ended, 4 % due later, 1 % (600) due now.
        conn.execute(text("""
            INSERT INTO enrollment (id, journey_id, journey_key, journey_version, customer_id,
                trigger_at, status, holdout, revision, current_step, next_action_at, context,
                entered_at, updated_at)
            SELECT 'e' || n, 1, 'plans', 1, 'c' || (n % 1000), :now,
                CASE WHEN n < :rows * 0.95 THEN 'completed' ELSE 'active' END, false, 0, 'a',
                CASE WHEN n < :rows * 0.95 THEN NULL
                     WHEN n >= :rows * 0.99 THEN :now - interval '1 minute'
                     ELSE :now + interval '1 day' END,
                '{}', :now, :now
            FROM generate_series(0, :rows - 1) AS n
        """), params)  # fmt: skip
        conn.execute(text("""
            INSERT INTO touch (id, enrollment_id, customer_id, journey_key, journey_version,
                step_id, purpose, channel, decision, scheduled_for, created_at)
            SELECT 't' || n, 'e' || n, 'c' || (n % 1000), 'plans', 1, 'a', 'marketing',
                'email', '{}', :now, :now
            FROM generate_series(0, :rows / 3 - 1) AS n
        """), params)  # fmt: skip
        # Four rows per send: sent, delivered and opened with its message id, a marker.
        conn.execute(text("""
            INSERT INTO interaction (id, touch_id, customer_id, kind, channel, provider,
                provider_message_id, occurred_at, recorded_at, detail)
            SELECT 'i' || n, 't' || (n / 4), 'c' || ((n / 4) % 1000),
                (ARRAY['sent', 'delivered', 'opened', 'dispatching'])[n % 4 + 1], 'email',
                'sendgrid', CASE WHEN n % 4 < 3 THEN 'pm' || (n / 4) END, :now, :now, '{}'
            FROM generate_series(0, (:rows / 3) * 4 - 1) AS n
        """), params)  # fmt: skip
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE customer, journey, enrollment, touch, interaction"))
    return db


def plan(db: Database, statement: object) -> str:
    with db.engine.connect() as conn:
        compiled = statement.compile(  # type: ignore[attr-defined]
            dialect=conn.dialect, compile_kwargs={"render_postcompile": True}
        )
        rows = conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params).all()
        conn.rollback()
    return "\n".join(row[0] for row in rows)


def test_the_claim_reads_the_due_index(record: Database) -> None:
    found = plan(record, claim_statement(START, 500, "w", timedelta(minutes=5)))
    assert "Index Scan using ix_enrollment_due on enrollment" in found, found
    assert "Seq Scan on enrollment" not in found, found


def test_the_webhook_lookup_reads_the_message_id_index(record: Database) -> None:
    found = plan(record, sends_by_message_id({f"pm{n * 97}" for n in range(100)}))
    assert "ix_interaction_provider_message_id" in found, found
    assert "Seq Scan on interaction" not in found and "Seq Scan on touch" not in found, found
