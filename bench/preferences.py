"""The preference center's learning and deciding, measured on a synthetic record (SQLite).

    python -m bench.preferences [--refresh-rows 10000000] [--customers 100000] [--decisions 1000]

- **refresh**: ``preference_center.learning.refresh`` over ``--refresh-rows`` interaction rows
  (time, peak RSS), against its floor measured in the same run: the same rows read the same
  way, reduced by a bare pandas group-by (no time zones, no smoothing, no writes).
- **decide**: ``load_profiles`` (with what was learned and the frequency-cap count) +
  ``decide`` (channel ``best``, send time ``best_within: 12h``) for one customer at a time
  (p50, p99 over ``--decisions`` calls), then for a batch of ``--customers`` customers.

Each measured phase runs in a process of its own, so its peak RSS is its own. The record is
generated straight into SQLite (setup, not measured).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from bench._support import NOW, ROOT, database, peak_rss_mib

SEGMENTS = ("students", "families", "pros", "retired")
ZONES = ("America/New_York", "Europe/London", "Asia/Tokyo", "America/Los_Angeles", None)
KINDS = ("promotions", "newsletter", None)  # None: the touch's purpose, marketing
CHANNELS = ("email", "sms")
DAYS = 170  # inside the default 180-day history window
console = Console(width=150)


# --- the synthetic record -----------------------------------------------------------------


def generate(url: str, customers: int, interaction_rows: int, seed: int = 7) -> dict[str, Any]:
    """Customers (segment, zone, addresses, consents) and past touches with their
    interactions — sent, delivered, then opened and clicked for the engaged ones — until
    ``interaction_rows`` interaction rows exist."""
    from sqlalchemy import insert

    from touchline.db import Database
    from touchline.record import Consent, Customer, Enrollment, Identity, Journey, Preference

    began = time.perf_counter()
    rng = np.random.default_rng(seed)
    ids = [f"c{n:07d}" for n in range(customers)]
    db = Database(url)
    with db.session() as session:
        journey_id = session.execute(
            insert(Journey).returning(Journey.id),
            [
                {
                    "key": "past",
                    "version": 1,
                    "name": "Past",
                    "definition": {},
                    "digest": "x",
                    "published_at": NOW,
                }
            ],
        ).scalar_one()
        for start in range(0, customers, 20_000):
            part = range(start, min(start + 20_000, customers))
            session.execute(insert(Customer), [
                {"id": ids[n], "attributes": {"segment": SEGMENTS[n % 4]} if n % 5 else {},
                 "created_at": NOW, "updated_at": NOW} for n in part])  # fmt: skip
            session.execute(insert(Preference), [
                {"customer_id": ids[n], "channel_order": ["email", "sms"] if n % 2 else ["sms", "email"],
                 "timezone": ZONES[n % 5], "updated_at": NOW} for n in part])  # fmt: skip
            session.execute(insert(Identity), [
                row for n in part for row in (
                    {"customer_id": ids[n], "kind": "email", "value": f"{ids[n]}@example.com",
                     "source": "bench", "created_at": NOW},
                    {"customer_id": ids[n], "kind": "phone", "value": f"+1212{2000000 + n:07d}",
                     "source": "bench", "created_at": NOW})])  # fmt: skip
            session.execute(insert(Consent), [
                {"customer_id": ids[n], "channel": c, "purpose": "marketing", "status": "granted",
                 "source": "bench", "evidence": {}, "recorded_at": NOW - timedelta(days=365)}
                for n in part for c in CHANNELS])  # fmt: skip
            session.execute(insert(Enrollment), [
                {"id": f"e{ids[n]}", "journey_id": journey_id, "journey_key": "past",
                 "journey_version": 1, "customer_id": ids[n], "trigger_at": NOW, "entered_at": NOW,
                 "updated_at": NOW, "status": "completed", "context": {}} for n in part])  # fmt: skip
    db.dispose()

    # Touches: each customer leans to one channel; engagement depends on channel and hour.
    touches = int(interaction_rows / 2.45) + 1
    customer = rng.integers(0, customers, touches)
    channel = rng.integers(0, 2, touches)
    kind = rng.integers(0, 3, touches)
    seconds = rng.integers(0, DAYS * 86400, touches)
    sent_at = np.datetime64(NOW.replace(tzinfo=None), "s") - seconds.astype("timedelta64[s]")
    hour = (sent_at.astype("datetime64[h]").astype(np.int64)) % 24
    leaning = (customer % 3 == 0) == (channel == 1)
    p_open = np.where(leaning, 0.45, 0.15) * np.where((hour >= 17) & (hour <= 21), 1.4, 1.0)
    opened = rng.random(touches) < p_open
    clicked = opened & (rng.random(touches) < 0.35)
    stamp = lambda a: np.char.replace(np.datetime_as_string(a, unit="us"), "T", " ")  # noqa: E731
    sent_text = stamp(sent_at)
    open_text = stamp(sent_at + np.timedelta64(30, "m"))

    raw = sqlite3.connect(url.removeprefix("sqlite:///"))
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=OFF")
    channel_names, kind_names = np.array(CHANNELS), np.array(KINDS, dtype=object)
    rows = 0
    step = 200_000
    for start in range(0, touches, step):
        end = min(start + step, touches)
        c_ids = [ids[c] for c in customer[start:end]]
        ch = channel_names[channel[start:end]].tolist()
        kd = kind_names[kind[start:end]].tolist()
        sent, opened_at = sent_text[start:end].tolist(), open_text[start:end].tolist()
        touch_rows = [
            (f"t{start + i}", f"e{c_ids[i]}", c_ids[i], "past", 1, "s", "marketing", kd[i],
             ch[i], "{}", sent[i], sent[i]) for i in range(end - start)
        ]  # fmt: skip
        raw.executemany(
            "INSERT INTO touch (id, enrollment_id, customer_id, journey_key, journey_version, "
            "step_id, purpose, topic, channel, decision, scheduled_for, created_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            touch_rows,
        )
        events: list[tuple[Any, ...]] = []
        for i in range(end - start):
            t = start + i
            kinds = ["sent", "delivered"]
            if opened[t]:
                kinds.append("opened")
            if clicked[t]:
                kinds.append("clicked")
            for k in kinds:
                at = sent[i] if k in ("sent", "delivered") else opened_at[i]
                events.append((f"i{t}{k[0]}", f"t{t}", c_ids[i], k, ch[i], at, at, "{}"))
        raw.executemany(
            "INSERT INTO interaction (id, touch_id, customer_id, kind, channel, occurred_at, "
            "recorded_at, detail) VALUES (?,?,?,?,?,?,?,?)",
            events,
        )
        rows += len(events)
        raw.commit()
    raw.execute("ANALYZE")
    raw.close()
    return {"touches": touches, "interactions": rows, "seconds": time.perf_counter() - began}


# --- the measured phases (each in its own process) --------------------------------------


def phase_floor(url: str, **_: Any) -> dict[str, Any]:
    import pandas as pd

    from preference_center.learning import read_sent_touches
    from touchline.config import get_settings
    from touchline.db import Database

    settings = get_settings()
    db = Database(url)
    began = time.perf_counter()
    parts = []
    with db.engine.connect() as connection:
        for chunk in read_sent_touches(
            connection, NOW - settings.history_window, NOW, settings.segment_attribute
        ):
            parts.append(
                chunk.groupby(["customer_id", "kind", "channel"])["engaged"].agg(["size", "sum"])
            )
    counts = pd.concat(parts).groupby(level=[0, 1, 2]).sum()
    return {"seconds": time.perf_counter() - began, "groups": len(counts)}


def phase_refresh(url: str, **_: Any) -> dict[str, Any]:
    from preference_center.learning import refresh
    from touchline.db import Database

    report = refresh(Database(url), NOW)
    return {
        "seconds": report.seconds,
        "messages": report.messages,
        "customers": report.customers,
        "customers_ranked": report.customers_ranked,
        "channel_rows": report.channel_rows,
        "timing_rows": report.timing_rows,
    }


def phase_decide(url: str, customers: int, decisions: int, **_: Any) -> dict[str, Any]:
    from preference_center import DecisionPolicy, SendRequest, decide, load_profiles
    from touchline.config import get_settings
    from touchline.db import Database

    settings = get_settings()
    policy = DecisionPolicy.from_settings(settings)
    request = SendRequest(
        "marketing", None, CHANNELS, policy="best", best_within=timedelta(hours=12),
        kind="promotions",
    )  # fmt: skip
    since = NOW - policy.cap_window
    db = Database(url)
    ids = [f"c{n:07d}" for n in range(customers)]
    rng = np.random.default_rng(11)
    latencies = []
    chosen: dict[str | None, int] = {}
    for n in rng.integers(0, customers, decisions):
        began = time.perf_counter()
        with db.session() as session:
            profiles = load_profiles(session, [ids[n]], learned=True, marketing_since=since)
        decision = decide(profiles[ids[n]], request, NOW, policy)
        latencies.append(time.perf_counter() - began)
        chosen[decision.channel] = chosen.get(decision.channel, 0) + 1
    began = time.perf_counter()
    with db.session() as session:
        profiles = load_profiles(session, ids, learned=True, marketing_since=since)
    loaded = time.perf_counter() - began
    batch = [decide(profiles[cid], request, NOW, policy) for cid in ids]
    seconds = time.perf_counter() - began
    return {
        "p50_ms": float(np.percentile(latencies, 50) * 1000),
        "p99_ms": float(np.percentile(latencies, 99) * 1000),
        "single_channels": chosen,
        "batch": len(batch),
        "batch_seconds": seconds,
        "batch_load_seconds": loaded,
        "batch_ranked": sum(1 for d in batch if "customer's history" in str(d.reasons)),
    }


PHASES = {"floor": phase_floor, "refresh": phase_refresh, "decide": phase_decide}


def run_phase(mode: str, url: str, workdir: Path, **options: int) -> dict[str, Any]:
    import os

    args = [f"--{k.replace('_', '-')}={v}" for k, v in options.items()]
    result = subprocess.run(
        [sys.executable, "-m", "bench.preferences", "--phase", mode, "--database-url", url, *args],
        cwd=ROOT, capture_output=True, text=True, check=False,
        env={**os.environ, "TOUCHLINE_HOME": str(workdir / "home"), "TOUCHLINE_DATABASE_URL": url},
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(
            f"phase {mode} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- the run and its report ---------------------------------------------------------------


def run(rows: int, customers: int, decisions: int, workdir: Path) -> dict[str, Any]:
    with database("sqlite", workdir) as url:
        with console.status(f"generating {customers:,} customers and {rows:,} interaction rows"):
            generated = generate(url, customers, rows)
        size = Path(url.removeprefix("sqlite:///")).stat().st_size / 2**20
        with console.status("floor: the same rows, read the same way, a bare pandas group-by"):
            floor = run_phase("floor", url, workdir)
        with console.status("refresh: learn channel and timing effectiveness, write both tables"):
            refreshed = run_phase("refresh", url, workdir)
        with console.status(f"decide: {decisions:,} single customers, then {customers:,} at once"):
            decided = run_phase("decide", url, workdir, customers=customers, decisions=decisions)
    return {"generated": {**generated, "database_mib": size}, "floor": floor,
            "refresh": refreshed, "decide": decided}  # fmt: skip


def report(result: dict[str, Any]) -> None:
    generated, floor, refreshed, decided = (
        result["generated"], result["floor"], result["refresh"], result["decide"],
    )  # fmt: skip
    table = Table(
        title=f"Effectiveness refresh over {generated['interactions']:,} interaction rows "
        f"({generated['touches']:,} touches, SQLite {generated['database_mib']:,.0f} MiB)",
        header_style="bold",
    )
    for column in ("design", "seconds", "interactions/s", "vs floor", "peak RSS"):
        table.add_column(column, justify="left" if column == "design" else "right")
    for name, phase in (
        ("floor: same read, bare pandas group-by", floor),
        ("refresh: zones, 3 scopes × (channels, hours), smoothing, writes", refreshed),
    ):
        table.add_row(
            name, f"{phase['seconds']:.1f}", f"{generated['interactions'] / phase['seconds']:,.0f}",
            f"{floor['seconds'] / phase['seconds']:.0%}", f"{phase['peak_rss_mib']:.0f} MiB",
        )  # fmt: skip
    console.print(table)
    console.print(
        f"refresh learned from {refreshed['messages']:,} messages to {refreshed['customers']:,} "
        f"customers ({refreshed['customers_ranked']:,} with enough data of their own); wrote "
        f"{refreshed['channel_rows']:,} channel rates and {refreshed['timing_rows']:,} "
        "hour-of-week scores."
    )
    console.print(
        f"[bold]Decision[/] (load_profiles with what was learned + decide, best channel and best "
        f"hour within 12h): one customer p50 [bold]{decided['p50_ms']:.1f} ms[/], p99 "
        f"[bold]{decided['p99_ms']:.1f} ms[/]; a batch of {decided['batch']:,} customers "
        f"[bold]{decided['batch_seconds']:.1f} s[/] ({decided['batch'] / decided['batch_seconds']:,.0f}"
        f" decisions/s; loading {decided['batch_load_seconds']:.1f} s), peak RSS "
        f"{decided['peak_rss_mib']:.0f} MiB; {decided['batch_ranked']:,} ranked by their own "
        "history."
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--refresh-rows", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--decisions", type=int, default=1000)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        figures = PHASES[args.phase](
            args.database_url, customers=args.customers, decisions=args.decisions
        )
        figures["peak_rss_mib"] = round(peak_rss_mib(), 1)
        print(json.dumps(figures, default=str))
        return
    with tempfile.TemporaryDirectory(prefix="touchline-bench-prefs-") as tmp:
        result = run(args.refresh_rows, args.customers, args.decisions, Path(tmp))
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
