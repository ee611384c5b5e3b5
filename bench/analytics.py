"""Analytics in the database: the journey report over N interaction rows against the bare SQL
aggregate, on SQLite and PostgreSQL, measured in the same run.

    python -m bench.analytics [--rows 1000000] [--customers 100000] [--backends sqlite,postgresql]
    python -m bench.analytics --rows 10000000 --backends sqlite   # the full measure

- **floor**: ``SELECT step, channel, kind, count(*) FROM touch JOIN interaction GROUP BY …``
  over the journey's touches, the least any funnel over this record can cost.
- **report**: ``touchline.reports.journey.build_report`` (funnel, outcomes, lift, attribution,
  what was not sent, silent channels), the same call as ``touchline report``.

Each measured phase runs in a process of its own, so its peak RSS (the kernel's VmHWM) is
its own. The record is built by the database itself (``generate_series`` on PostgreSQL, a
recursive CTE on SQLite: one INSERT … SELECT per table), which is setup, not measured:
100,000 customers and enrollments (10 % held out), two send steps (email, sms), touches
with sent / delivered / opened / clicked (2 % skipped, 2 % failed with a phone number in the
reason), and a conversion with revenue for a quarter of the enrollments.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench._support import NOW, ROOT, database, peak_rss_mib, postgres_available

console = Console(width=150)
KEY = "bench_report"
SPAN = 170 * 86400  # seconds over which touches and conversions are spread
ROWS_PER_TOUCH = 0.04 + 0.96 * (1 + 0.9 + 0.25 + 0.125)  # outcome, delivered, opened, clicked
DEFINITION = {
    "key": KEY,
    "name": "Bench report",
    "trigger": "order.placed",
    "holdout": 10,
    "goal": {"event": "order.placed", "within": "7d"},
    "steps": [
        {"id": "remind", "type": "send", "channel": "email", "template": "cart/reminder"},
        {"id": "nudge", "type": "send", "channel": "sms", "template": "cart/reminder"},
    ],
}
FLOOR_SQL = (
    "SELECT t.step_id, t.channel, i.kind, COUNT(*) FROM touch t "
    f"JOIN interaction i ON i.touch_id = t.id WHERE t.journey_key = '{KEY}' GROUP BY 1, 2, 3"
)


# --- the synthetic record, built by the database ------------------------------------------


def _series(dialect: str, count: int, insert: str, select: str, where: str = "TRUE") -> str:
    """INSERT … SELECT over n = 0 … count − 1 (the rows ``where`` holds)."""
    if dialect == "postgresql":
        source = f"generate_series(CAST(0 AS BIGINT), {count - 1}) AS g(n)"
        return f"{insert} SELECT {select} FROM {source} WHERE {where}"
    return (
        f"WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM g WHERE n < {count - 1}) "
        f"{insert} SELECT {select} FROM g WHERE {where}"
    )


def _stamp(dialect: str, seconds: str) -> str:
    """NOW − SPAN + ``seconds``, as each database stores a UTCDateTime."""
    start = NOW.timestamp() - SPAN
    if dialect == "postgresql":
        return f"(to_timestamp({start}) + ({seconds}) * INTERVAL '1 second')"
    # SQLite: the naive UTC text SQLAlchemy writes, microseconds included.
    return f"(strftime('%Y-%m-%d %H:%M:%S', {start}, 'unixepoch', '+' || ({seconds}) || ' seconds') || '.000000')"


def _json(dialect: str, *pairs: str) -> str:
    return (
        f"{'jsonb_build_object' if dialect == 'postgresql' else 'json_object'}({', '.join(pairs)})"
    )


def generate(url: str, customers: int, rows: int) -> dict[str, Any]:
    """About ``rows`` interaction rows for journey ``bench_report`` (module docstring)."""
    from sqlalchemy import insert, text

    from touchline.db import Database
    from touchline.record import Journey

    began = time.perf_counter()
    customers = max(10, customers // 10 * 10)
    touches = max(1, int(rows / ROWS_PER_TOUCH))
    db = Database(url)
    dialect = db.engine.dialect.name
    now = _stamp(dialect, str(SPAN))
    empty = "'{}'" + ("::jsonb" if dialect == "postgresql" else "")
    # A touch's customer: spread over the treatment group (n % 10 = 0 is held out).
    who = f"((n % {customers}) + CASE WHEN (n % {customers}) % 10 = 0 THEN 1 ELSE 0 END)"
    sent_at = _stamp(dialect, f"(n * 7919) % {SPAN}")
    later = _stamp(dialect, f"(n * 7919) % {SPAN} + 1800")
    with db.engine.begin() as connection:
        journey_id = connection.execute(
            insert(Journey).returning(Journey.id),
            [{"key": KEY, "version": 1, "name": DEFINITION["name"], "definition": DEFINITION,
              "digest": "bench", "published_at": NOW}],
        ).scalar_one()  # fmt: skip
        statements = [
            _series(dialect, customers,
                    "INSERT INTO customer (id, attributes, created_at, updated_at)",
                    f"'c' || n, {empty}, {now}, {now}"),
            _series(dialect, customers,
                    "INSERT INTO enrollment (id, journey_id, journey_key, journey_version, "
                    "customer_id, trigger_at, status, holdout, revision, context, entered_at, "
                    "updated_at)",
                    f"'e' || n, {journey_id}, '{KEY}', 1, 'c' || n, {now}, 'completed', "
                    f"(n % 10 = 0), 0, {empty}, {now}, {now}"),
            _series(dialect, touches,
                    "INSERT INTO touch (id, enrollment_id, customer_id, journey_key, "
                    "journey_version, step_id, purpose, channel, decision, scheduled_for, "
                    "created_at)",
                    f"'t' || n, 'e' || {who}, 'c' || {who}, '{KEY}', 1, "
                    "CASE WHEN n % 3 = 0 THEN 'nudge' ELSE 'remind' END, 'marketing', "
                    "CASE WHEN n % 3 = 0 THEN 'sms' ELSE 'email' END, "
                    f"{empty}, {sent_at}, {sent_at}"),
        ]  # fmt: skip
        channel = "CASE WHEN n % 3 = 0 THEN 'sms' ELSE 'email' END"
        outcome = [
            ("sent", "n % 50 NOT IN (7, 13)", sent_at, empty),
            ("skipped", "n % 50 = 7", sent_at, _json(dialect, "'reason'", "'frequency cap reached'")),
            ("failed", "n % 50 = 13", sent_at,
             _json(dialect, "'reason'", "'provider refused +1212' || (5550000 + n % 9999999)")),
            ("delivered", "n % 50 NOT IN (7, 13) AND n % 10 <> 3", sent_at, empty),
            ("opened", "n % 50 NOT IN (7, 13) AND n % 4 = 0", later, empty),
            ("clicked", "n % 50 NOT IN (7, 13) AND n % 8 = 0", later, empty),
        ]  # fmt: skip
        for kind, where, at, detail in outcome:
            statements.append(
                _series(
                    dialect,
                    touches,
                    "INSERT INTO interaction (id, touch_id, customer_id, kind, channel, "
                    "occurred_at, recorded_at, detail)",
                    f"'i' || n || '{kind[:2]}', 't' || n, 'c' || {who}, '{kind}', {channel}, "
                    f"{at}, {at}, {detail}",
                    where,
                )
            )
        converted_at = _stamp(dialect, f"(n * 104729) % {SPAN}")
        statements.append(
            _series(
                dialect,
                customers,
                "INSERT INTO interaction (id, touch_id, customer_id, kind, channel, "
                "occurred_at, recorded_at, detail)",
                f"'v' || n, NULL, 'c' || n, 'converted', NULL, {converted_at}, "
                f"{converted_at}, "
                + _json(
                    dialect,
                    "'journey'",
                    f"'{KEY}'",
                    "'enrollment_id'",
                    "'e' || n",
                    "'revenue'",
                    "(n % 7) * 10 + 5",
                ),
                "n % 4 = 0",
            )
        )
        for statement in statements:
            connection.execute(text(statement))
        connection.execute(text("ANALYZE"))
        count = connection.execute(text("SELECT COUNT(*) FROM interaction")).scalar_one()
    db.dispose()
    return {
        "customers": customers,
        "touches": touches,
        "interactions": int(count),
        "seconds": time.perf_counter() - began,
    }


# --- the measured phases (each in its own process) ----------------------------------------


def phase_floor(url: str) -> dict[str, Any]:
    from sqlalchemy import text

    from touchline.db import Database

    db = Database(url)
    began = time.perf_counter()
    with db.engine.connect() as connection:
        counts = connection.execute(text(FLOOR_SQL)).all()
    return {"seconds": time.perf_counter() - began, "groups": len(counts),
            "rows": sum(int(r[3]) for r in counts)}  # fmt: skip


def phase_report(url: str) -> dict[str, Any]:
    from touchline.db import Database
    from touchline.reports.journey import build_report

    db = Database(url)
    began = time.perf_counter()
    with db.session() as session:
        report = build_report(session, KEY)
    seconds = time.perf_counter() - began
    return {
        "seconds": seconds,
        "sent": int(report.funnel["sent"].sum()),
        "enrollments": int(report.outcomes["enrollments"].sum()),
        "conversions": int(report.outcomes["conversions"].sum()),
        "not_sent_rows": len(report.not_sent),
        "attribution": report.attribution["last_touch"].round(3).to_dict(),
        "headline": report.headline[-2:],
    }


PHASES = {"floor": phase_floor, "report": phase_report}


def run_phase(mode: str, url: str, workdir: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "bench.analytics", "--phase", mode, "--database-url", url],
        cwd=ROOT, capture_output=True, text=True, check=False,
        env={**os.environ, "TOUCHLINE_HOME": str(workdir / "home"), "TOUCHLINE_DATABASE_URL": url},
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"phase {mode} failed:\n{result.stderr[-5000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- the run and its report ---------------------------------------------------------------


def run(backends: list[str], rows: int, customers: int, workdir: Path) -> list[dict[str, Any]]:
    results = []
    for backend in backends:
        with database(backend, workdir) as url:
            with console.status(f"[{backend}] generating ~{rows:,} interaction rows"):
                generated = generate(url, customers, rows)
            with console.status(f"[{backend}] floor: the bare SQL aggregate"):
                floor = run_phase("floor", url, workdir)
            with console.status(f"[{backend}] the journey report"):
                report = run_phase("report", url, workdir)
        results.append({"backend": backend, "generated": generated, "floor": floor,
                        "report": report})  # fmt: skip
    return results


def report(results: list[dict[str, Any]]) -> None:
    table = Table(title="The journey report, aggregated in the database", header_style="bold")
    for column in ("backend", "interactions", "setup s", "floor s", "report s", "report ÷ floor",
                   "report peak RSS", "floor peak RSS"):  # fmt: skip
        table.add_column(column, justify="left" if column == "backend" else "right")
    for r in results:
        g, floor, rep = r["generated"], r["floor"], r["report"]
        table.add_row(
            r["backend"], f"{g['interactions']:,}", f"{g['seconds']:.0f}",
            f"{floor['seconds']:.1f}", f"{rep['seconds']:.1f}",
            f"{rep['seconds'] / floor['seconds']:.2f}×",
            f"{rep['peak_rss_mib']:.0f} MiB", f"{floor['peak_rss_mib']:.0f} MiB",
        )  # fmt: skip
    console.print(table)
    console.print("Targets at 10 M rows: report ≤ 2× the floor, peak RSS < 500 MiB.")
    for r in results:
        rep = r["report"]
        console.print(
            f"[bold]{r['backend']}[/]: {rep['sent']:,} sent, {rep['enrollments']:,} enrollments, "
            f"{rep['conversions']:,} conversions; {rep['not_sent_rows']} not-sent rows; "
            f"last-touch credit {rep['attribution']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="interaction rows")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        figures = PHASES[args.phase](args.database_url)
        figures["peak_rss_mib"] = round(peak_rss_mib(), 1)
        print(json.dumps(figures, default=str))
        return
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if "postgresql" in backends and (reason := postgres_available()):
        console.print(f"[yellow]PostgreSQL skipped: {reason}[/]")
        backends.remove("postgresql")
    with tempfile.TemporaryDirectory(prefix="touchline-bench-analytics-") as tmp:
        results = run(backends, args.rows, args.customers, Path(tmp))
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
