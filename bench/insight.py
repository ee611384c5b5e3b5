"""Insight at scale, on a synthetic record (SQLite): tripwires and RFM over purchases, the
journey report over interactions, each against a bare pandas floor measured in the same run.

    python -m bench.insight [--purchases 1000000] [--report-rows 10000000] [--customers 200000]

- **tripwires**: ``flag_disengaging`` (read purchases, RFM quintiles and segments, the
  purchase model fitted on everyone, the flags, their events through intake) over ``--purchases``
  ``order.placed`` events; floor: the same read, reduced by a bare group-by (count, sum, max).
- **journey report**: ``touchline.reports.journey.build_report`` over ``--report-rows``
  interaction rows (bench/preferences.py's generator); floor: touches and interactions read
  with plain SQL and counted per step, channel and kind by a bare group-by.

Each measured phase runs in a process of its own, so its peak RSS is its own. The records
are generated straight into SQLite (setup, not measured).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from bench._support import NOW, ROOT, database, peak_rss_mib

console = Console(width=150)
DAYS = 730
PAST_JOURNEY = {
    "key": "past",
    "name": "Past",
    "trigger": "order.placed",
    "steps": [{"id": "s", "type": "send", "channel": "best", "template": "cart/reminder"}],
}


# --- the synthetic records ------------------------------------------------------------------


def generate_purchases(url: str, customers: int, purchases: int, seed: int = 5) -> dict[str, Any]:
    """Customers with a rhythm of their own (mean interval 5–120 days) and a basket size of
    their own; some stopped buying a while ago."""
    began = time.perf_counter()
    rng = np.random.default_rng(seed)
    ids = np.array([f"c{n:07d}" for n in range(customers)], dtype=object)
    interval = rng.uniform(5, 120, customers)
    basket = rng.lognormal(3.5, 0.8, customers)
    stopped = rng.uniform(0, DAYS, customers) * (rng.random(customers) < 0.3)
    who = rng.integers(0, customers, purchases)
    # Days before NOW: spread over each customer's own active span at their own pace.
    days = stopped[who] + rng.exponential(interval[who]) * rng.integers(1, 12, purchases)
    days = np.minimum(days, DAYS)
    amount = np.round(basket[who] * rng.lognormal(0, 0.3, purchases), 2)
    at = np.datetime64(NOW.replace(tzinfo=None), "s") - (days * 86400).astype("timedelta64[s]")
    stamps = np.char.replace(np.datetime_as_string(at, unit="us"), "T", " ")
    now_text = NOW.strftime("%Y-%m-%d %H:%M:%S.%f")
    raw = sqlite3.connect(url.removeprefix("sqlite:///"))
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=OFF")
    raw.executemany(
        "INSERT INTO customer (id, attributes, created_at, updated_at) VALUES (?, '{}', ?, ?)",
        [(c, now_text, now_text) for c in ids.tolist()],
    )
    step = 200_000
    for start in range(0, purchases, step):
        end = min(start + step, purchases)
        raw.executemany(
            "INSERT INTO event (id, type, customer_id, occurred_at, received_at, source, payload) "
            "VALUES (?, 'order.placed', ?, ?, ?, 'bench', ?)",
            [
                (f"o{n}", ids[who[n]], stamps[n], now_text, f'{{"total": {amount[n]}}}')
                for n in range(start, end)
            ],
        )
        raw.commit()
    raw.execute("ANALYZE")
    raw.close()
    return {"customers": customers, "purchases": purchases, "seconds": time.perf_counter() - began}


def generate_interactions(url: str, customers: int, rows: int) -> dict[str, Any]:
    """bench/preferences.py's record (touches of journey ``past`` and their interactions),
    with a definition the journey report can read."""
    from bench.preferences import generate

    generated = generate(url, customers, rows)
    raw = sqlite3.connect(url.removeprefix("sqlite:///"))
    raw.execute("UPDATE journey SET definition = ? WHERE key = 'past'", (json.dumps(PAST_JOURNEY),))
    raw.commit()
    raw.close()
    return generated


# --- the measured phases (each in its own process) -------------------------------------------


def phase_tripwire_floor(url: str) -> dict[str, Any]:
    import pandas as pd

    from touchline.config import get_settings
    from touchline.db import Database
    from touchline.insight.purchases import read_purchase_chunks

    began = time.perf_counter()
    parts = []
    with Database(url).engine.connect() as connection:
        for chunk in read_purchase_chunks(connection, NOW, get_settings()):
            parts.append(chunk.groupby("customer_id").agg(
                n=("amount", "size"), spent=("amount", "sum"), last=("occurred_at", "max")))  # fmt: skip
    folded = pd.concat(parts).groupby(level=0).agg({"n": "sum", "spent": "sum", "last": "max"})
    return {"seconds": time.perf_counter() - began, "customers": len(folded)}


def phase_tripwires(url: str) -> dict[str, Any]:
    from touchline.config import get_settings
    from touchline.db import Database
    from touchline.insight.purchases import read_purchases
    from touchline.insight.rfm import rfm_table, segment_counts
    from touchline.insight.tripwires import flag_disengaging

    report = flag_disengaging(Database(url), NOW)
    rerun = flag_disengaging(Database(url), NOW, dry_run=True)
    counts = segment_counts(rfm_table(read_purchases(Database(url), NOW, get_settings()), NOW))
    return {
        "seconds": report.seconds,
        "customers": report.customers,
        "valuable": report.valuable,
        "at_risk": report.at_risk,
        "flagged": report.flagged,
        "rerun_new": len(rerun.flags) - rerun.already_flagged,
        "segments": counts["customers"].astype(int).to_dict(),
    }


def phase_report_floor(url: str) -> dict[str, Any]:
    import pandas as pd

    began = time.perf_counter()
    raw = sqlite3.connect(url.removeprefix("sqlite:///"))
    parts = []
    query = (
        "SELECT t.step_id, t.channel, i.kind FROM interaction i JOIN touch t ON t.id = i.touch_id "
        "WHERE t.journey_key = 'past'"
    )
    for chunk in pd.read_sql_query(query, raw, chunksize=500_000):
        parts.append(chunk.groupby(["step_id", "channel", "kind"]).size())
    counts = pd.concat(parts).groupby(level=[0, 1, 2]).sum()
    raw.close()
    return {
        "seconds": time.perf_counter() - began,
        "groups": len(counts),
        "rows": int(counts.sum()),
    }


def phase_report(url: str) -> dict[str, Any]:
    from touchline.db import Database
    from touchline.reports.journey import build_report

    began = time.perf_counter()
    with Database(url).session() as session:
        report = build_report(session, "past")
    seconds = time.perf_counter() - began
    return {"seconds": seconds, "funnel_rows": len(report.funnel),
            "sent": int(report.funnel["sent"].sum()) if "sent" in report.funnel else None}  # fmt: skip


PHASES = {
    "tripwire_floor": phase_tripwire_floor,
    "tripwires": phase_tripwires,
    "report_floor": phase_report_floor,
    "report": phase_report,
}


def run_phase(mode: str, url: str, workdir: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "bench.insight", "--phase", mode, "--database-url", url],
        cwd=ROOT, capture_output=True, text=True, check=False,
        env={**os.environ, "TOUCHLINE_HOME": str(workdir / "home"), "TOUCHLINE_DATABASE_URL": url},
    )  # fmt: skip
    if result.returncode != 0:
        return {"error": (result.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- the run and its report -------------------------------------------------------------------


def run(purchases: int, report_rows: int, customers: int, workdir: Path) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if purchases:
        with database("sqlite", workdir) as url:
            with console.status(f"generating {purchases:,} purchases of {customers:,} customers"):
                result["purchases"] = generate_purchases(url, customers, purchases)
            with console.status("floor: the same read of purchases, a bare pandas group-by"):
                result["tripwire_floor"] = run_phase("tripwire_floor", url, workdir)
            with console.status("tripwires: RFM, purchase model, flags through intake"):
                result["tripwires"] = run_phase("tripwires", url, workdir)
    if report_rows:
        with database("sqlite", workdir) as url:
            with console.status(f"generating {report_rows:,} interaction rows"):
                result["interactions"] = generate_interactions(url, 100_000, report_rows)
            with console.status("floor: touches ⋈ interactions, a bare pandas group-by"):
                result["report_floor"] = run_phase("report_floor", url, workdir)
            with console.status("journey report: funnel, outcomes, lift, attribution"):
                result["report"] = run_phase("report", url, workdir)
    return result


def _row(table: Table, name: str, phase: dict[str, Any], floor: dict[str, Any], rows: int) -> None:
    if "error" in phase:
        table.add_row(name, "failed", "", "", phase["error"][:60])
        return
    table.add_row(
        name, f"{phase['seconds']:.1f}", f"{rows / phase['seconds']:,.0f}",
        f"{floor['seconds'] / phase['seconds']:.0%}" if "seconds" in floor else "",
        f"{phase['peak_rss_mib']:.0f} MiB",
    )  # fmt: skip


def report(result: dict[str, Any]) -> None:
    table = Table(title="Insight over a synthetic record (SQLite)", header_style="bold")
    for column in ("measured", "seconds", "rows/s", "vs floor", "peak RSS"):
        table.add_column(column, justify="left" if column == "measured" else "right")
    if "purchases" in result:
        n, floor = result["purchases"]["purchases"], result["tripwire_floor"]
        _row(table, f"floor: read {n:,} purchases, bare group-by", floor, floor, n)
        _row(table, "tripwires: RFM + model + flags via intake", result["tripwires"], floor, n)
    if "interactions" in result:
        n, floor = result["interactions"]["interactions"], result["report_floor"]
        _row(table, f"floor: {n:,} interactions ⋈ touches, bare group-by", floor, floor, n)
        _row(table, "journey report (touchline.reports.journey)", result["report"], floor, n)
    console.print(table)
    trip = result.get("tripwires", {})
    if "flagged" in trip:
        console.print(
            f"tripwires: {trip['customers']:,} customers, "
            f"{trip['valuable']:,} valuable, {trip['at_risk']:,} below the model's thresholds, "
            f"[bold]{trip['flagged']:,} flagged[/]; a rerun would flag {trip['rerun_new']:,}. "
            f"Segments: {trip['segments']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--purchases", type=int, default=1_000_000, help="0 to skip")
    parser.add_argument("--report-rows", type=int, default=10_000_000, help="0 to skip")
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        figures = PHASES[args.phase](args.database_url)
        figures["peak_rss_mib"] = round(peak_rss_mib(), 1)
        print(json.dumps(figures, default=str))
        return
    with tempfile.TemporaryDirectory(prefix="touchline-bench-insight-") as tmp:
        result = run(args.purchases, args.report_rows, args.customers, Path(tmp))
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
