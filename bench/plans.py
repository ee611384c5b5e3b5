"""The claim and the webhook lookup by provider message id at 10 M rows, on PostgreSQL: the
plans PostgreSQL picks for the statements exactly as the code builds them.

    python -m bench.plans [--rows 10000000]

A throwaway database gets ``--rows`` enrollments (95 % ended, 4 % waiting for a later
time, 1 % due) and ``--rows`` interactions (a quarter of them ``sent`` with a provider
message id, the rest deliveries, opens and ``dispatching`` markers of the same sends),
made by ``generate_series`` in the server with the secondary indexes dropped during the
load and rebuilt after it, then ANALYZE. Then ``EXPLAIN (ANALYZE, BUFFERS)`` of
``claim_statement`` (500 due enrollments, in a transaction rolled back afterwards) and of
``sends_by_message_id`` (100 message ids, as a SendGrid webhook delivery brings), and the
index each one used. A sequential scan of either table is reported as a failure.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench._support import NOW

DUE = 0.01  # of the enrollments: due now
WAITING = 0.04  # of the enrollments: active, due later


def explain(connection: Any, statement: Any) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of a SQLAlchemy statement as it is sent, in a transaction
    that is rolled back (the claim is an UPDATE)."""
    compiled = statement.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    with connection.begin() as transaction:
        rows = connection.exec_driver_sql(
            f"EXPLAIN (ANALYZE, BUFFERS) {compiled}", compiled.params
        ).all()
        transaction.rollback()
    return [row[0] for row in rows]


def scans(plan: list[str]) -> dict[str, list[str]]:
    """What the plan read each table with: ``{table: ["Index Scan using ix_…", …]}``."""
    found: dict[str, list[str]] = {}
    for line in plan:
        match = re.search(
            r"((?:Parallel )?(?:Seq Scan|Index Scan|Index Only Scan|Bitmap Heap Scan)"
            r"(?: Backward)?(?: using (\w+))? on (\w+))",
            line,
        )
        if match:
            found.setdefault(match.group(3), []).append(match.group(1))
        bitmap = re.search(r"Bitmap Index Scan on (\w+)", line)
        if bitmap:
            found.setdefault("(bitmap)", []).append(f"Bitmap Index Scan on {bitmap.group(1)}")
    return found


def build(url: str, rows: int) -> dict[str, float]:
    """The rows, made in the server; seconds per part."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    timings: dict[str, float] = {}
    touches = rows // 4
    due_from, waiting_from = int(rows * (1 - DUE - WAITING)), int(rows * (1 - DUE))
    with engine.begin() as conn:
        conn.execute(text("SET session_replication_role = replica"))  # no FK triggers: setup
        indexes = conn.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN "
                "('enrollment', 'touch', 'interaction') AND indexname NOT LIKE '%pkey'"
            )
        ).all()
        for name, _definition in indexes:
            conn.execute(text(f'DROP INDEX "{name}"'))
        began = time.perf_counter()
        conn.execute(
            text(
                "INSERT INTO journey (id, key, version, name, definition, source_path, "
                "digest, published_at) VALUES (1, 'bench_plans', 1, 'Plans', '{}', "
                "'bench', 'x', :now)"
            ),
            {"now": NOW},
        )
        # Enrollment n: ended below due_from, due (the last hour) from waiting_from, else
        # waiting (the next week).
        conn.execute(
            text(
                """
                INSERT INTO enrollment (id, journey_id, journey_key, journey_version,
                    customer_id, trigger_at, status, holdout, revision, current_step,
                    next_action_at, context, entered_at, updated_at)
                SELECT 'e' || n, 1, 'bench_plans', 1, 'c' || (n % 1000000), :now,
                    CASE WHEN n < :due_from THEN 'completed' ELSE 'active' END, false, 1,
                    'announce',
                    CASE WHEN n < :due_from THEN NULL
                         WHEN n >= :waiting_from THEN :now - (n % 3600) * interval '1 second'
                         ELSE :now + (n % 604800) * interval '1 second' END,
                    '{}'::jsonb, :now, :now
                FROM generate_series(0::bigint, :rows - 1) AS n
                """
            ),
            {"now": NOW, "rows": rows, "due_from": due_from, "waiting_from": waiting_from},
        )
        timings["enrollments"] = time.perf_counter() - began
        began = time.perf_counter()
        conn.execute(
            text(
                """
                INSERT INTO touch (id, enrollment_id, customer_id, journey_key,
                    journey_version, step_id, purpose, channel, address, decision,
                    scheduled_for, created_at)
                SELECT 't' || n, 'e' || n, 'c' || (n % 1000000), 'bench_plans', 1,
                    'announce', 'marketing', 'email', 'c' || n || '@example.com',
                    '{}'::jsonb, :now, :now
                FROM generate_series(0::bigint, :touches - 1) AS n
                """
            ),
            {"now": NOW, "touches": touches},
        )
        # Four rows per send: sent (with the provider's message id), delivered and opened
        # (webhooks carrying the same id), and the dispatching marker (no id).
        conn.execute(
            text(
                """
                INSERT INTO interaction (id, touch_id, customer_id, kind, channel, provider,
                    provider_message_id, occurred_at, recorded_at, detail)
                SELECT 'i' || n, 't' || (n / 4), 'c' || ((n / 4) % 1000000),
                    (ARRAY['sent', 'delivered', 'opened', 'dispatching'])[n % 4 + 1], 'email',
                    'sendgrid', CASE WHEN n % 4 < 3 THEN 'pm' || (n / 4) || '.filter0001' END,
                    :now, :now, '{}'::jsonb
                FROM generate_series(0::bigint, :rows - 1) AS n
                """
            ),
            {"now": NOW, "rows": rows},
        )
        timings["touches_and_interactions"] = time.perf_counter() - began
        began = time.perf_counter()
        for _name, definition in indexes:
            conn.execute(text(definition))
        timings["indexes"] = time.perf_counter() - began
    began = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE enrollment, touch, interaction, journey_state"))
    timings["analyze"] = time.perf_counter() - began
    engine.dispose()
    return timings


def plans(url: str, rows: int) -> dict[str, Any]:
    from sqlalchemy import create_engine

    from touchline.engine.claim import claim_statement
    from touchline.inbound.provider_events import sends_by_message_id

    engine = create_engine(url)
    touches = rows // 4
    # Message ids of sends spread over the table, as a webhook delivery brings them.
    message_ids = {f"pm{(touches // 100) * k + 7}.filter0001" for k in range(100)}
    with engine.connect() as conn:
        claim = explain(conn, claim_statement(NOW, 500, "bench", timedelta(minutes=5)))
        lookup = explain(conn, sends_by_message_id(message_ids))
    engine.dispose()
    return {"claim": claim, "lookup": lookup}


def run(rows: int, workdir: Path) -> dict[str, Any]:
    from bench._support import database

    with database("postgresql", workdir) as url:
        timings = build(url, rows)
        found = plans(url, rows)
    return {"rows": rows, "build_seconds": timings, **found}


def verdict(plan: list[str], table: str, index: str) -> tuple[bool, str]:
    """Whether ``table`` was read through ``index`` and never sequentially."""
    used = scans(plan)
    reads = used.get(table, []) + [s for s in used.get("(bitmap)", []) if index in s]
    ok = any(index in s for s in reads) and not any("Seq Scan" in s for s in used.get(table, []))
    return ok, "; ".join(reads) or "(no scan of the table)"


def execution_ms(plan: list[str]) -> float:
    for line in plan:
        if line.startswith("Execution Time:"):
            return float(line.split()[2])
    return float("nan")


def report(result: dict[str, Any], console: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console(width=150)
    table = Table(
        title=f"Index plans on PostgreSQL at {result['rows']:,} enrollments and "
        f"{result['rows']:,} interactions",
        header_style="bold",
    )
    for column in ("statement", "reads", "index scan", "execution ms"):
        table.add_column(column, justify="right" if column == "execution ms" else "left")
    for name, key, target, index in (
        ("claim of 500 due (claim_statement)", "claim", "enrollment", "ix_enrollment_due"),
        ("webhook lookup, 100 message ids (sends_by_message_id)", "lookup", "interaction",
         "ix_interaction_provider_message_id"),
    ):  # fmt: skip
        ok, reads = verdict(result[key], target, index)
        table.add_row(name, reads, "[green]yes[/]" if ok else "[red]NO[/]",
                      f"{execution_ms(result[key]):.1f}")  # fmt: skip
    console.print(table)
    console.print(
        "Built in the server: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in result["build_seconds"].items())
    )


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plans", action="store_true", help="also print both plans in full")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="touchline-bench-plans-") as tmp:
        result = run(args.rows, Path(tmp))
    report(result)
    if args.plans:
        for key in ("claim", "lookup"):
            print(f"\n{key}:\n" + "\n".join(result[key]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
