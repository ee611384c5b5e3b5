"""`make bench`: a 100,000-customer launch over email and SMS on SQLite and PostgreSQL,
against its floor and the naive design, and the memory of a 1,000,000-customer launch.

    python -m bench.run [--customers N] [--naive-sample N] [--million N] [--backends sqlite,postgresql]
                        [--refresh-rows N] [--decision-customers N] [--preferences-only]
                        [--insight-purchases N] [--insight-report-rows N] [--insight-only]
                        [--latency [--latency-rate 50] [--latency-seconds 60]]
                        [--analytics-rows N] [--analytics-only]
                        [--launch-customers N] [--scale-customers N] [--plan-rows N] [--postgres-only]

The preference center's part (bench/preferences.py): the effectiveness refresh over
``--refresh-rows`` interaction rows against a bare pandas group-by, and decision latency
for one customer and for a batch of ``--decision-customers``.

Insight (bench/insight.py): tripwires and RFM over ``--insight-purchases`` purchases and
the journey report over ``--insight-report-rows`` interaction rows, each against a bare
pandas floor.

Analytics (bench/analytics.py): the journey report aggregated in the database over
``--analytics-rows`` interaction rows against the bare SQL aggregate, on every backend.

PostgreSQL at scale (bench/scale.py, bench/plans.py; docs/scale-measured.md): a launch of
``--launch-customers`` on PostgreSQL against the same launch on SQLite; 1, 2 and 4 worker
processes on ``--scale-customers`` due touches with providers answering after 50 ms, with
CPU per touch and the top statements; the claim's and the webhook lookup's index plans at
``--plan-rows`` rows. ``--postgres-only`` runs just these.

Every ratio compares figures measured in this run, on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench._support import (
    Emulators,
    database,
    postgres_available,
    run_phase,
    seed,
    segment_file,
)

console = Console(width=150)


def backend_run(
    backend: str,
    customers: int,
    sample: int,
    workdir: Path,
    emulators: Emulators,
    latency_ms: float = 0,
    concurrency: int | None = None,
) -> dict[str, Any]:
    env = {**emulators.env(), "TOUCHLINE_MARKETING_CAP": "0"}  # one campaign, three designs
    if concurrency:
        env["TOUCHLINE_DISPATCH_CONCURRENCY"] = str(concurrency)
    with database(backend, workdir) as url:
        with console.status(f"[{backend}] seeding {customers:,} customers through the intake"):
            seeded = seed(url, customers)
        segment = segment_file(workdir / f"segment-{customers}.csv", customers)
        with console.status(f"[{backend}] floor: decide + render + insert, no Prefect, no HTTP"):
            floor = run_phase("floor", url, workdir, env, "--segment", str(segment))
        ours = {}
        for processes in (1, 2):
            emulators.reset(latency_ms)
            with console.status(
                f"[{backend}] ours: launch + advance flows ({processes} process), SDKs, emulators"
            ):
                ours[processes] = run_phase(
                    "ours",
                    url,
                    workdir,
                    env,
                    "--segment",
                    str(segment),
                    "--processes",
                    str(processes),
                )
            ours[processes]["stats"] = emulators.stats()
        emulators.reset(latency_ms)
        naive_segment = segment_file(workdir / f"segment-{sample}.csv", sample)
        with console.status(f"[{backend}] naive: one Prefect task per touch, {sample} touches"):
            naive = run_phase("naive", url, workdir, env, "--segment", str(naive_segment))
    return {
        "backend": backend,
        "seed_seconds": seeded,
        "floor": floor,
        "ours": ours,
        "naive": naive,
    }


def million(count: int, workdir: Path) -> dict[str, Any]:
    """Memory of a launch too big to hold: customers inserted directly (setup, not measured),
    then the launch streamed from the file."""
    from sqlalchemy import insert

    from bench._support import NOW
    from bench._support import seed as seed_journey
    from touchline.db import Database
    from touchline.record import Customer

    with database("sqlite", workdir) as url:
        seed_journey(url, 0)
        db = Database(url)
        began = time.perf_counter()
        with db.session() as session:
            step = 20_000
            for start in range(0, count, step):
                session.execute(
                    insert(Customer),
                    [
                        {"id": f"b{n:07d}", "attributes": {}, "created_at": NOW, "updated_at": NOW}
                        for n in range(start, min(start + step, count))
                    ],
                )
            session.commit()
        db.dispose()
        inserted = time.perf_counter() - began
        segment = segment_file(workdir / f"segment-{count}.csv", count)
        small = segment_file(workdir / "segment-small.csv", count // 10)
        small_run = run_phase("launch", url, workdir, {}, "--segment", str(small))
        big_run = run_phase("launch", url, workdir, {}, "--segment", str(segment))
    return {"customers": count, "insert_seconds": inserted, "small": small_run, "big": big_run,
            "file_mib": segment.stat().st_size / 2**20}  # fmt: skip


def report(results: list[dict[str, Any]], big: dict[str, Any] | None, customers: int) -> None:
    table = Table(title=f"Launch of {customers:,} customers over email + SMS", header_style="bold")
    for column in (
        "backend",
        "design",
        "touches",
        "seconds",
        "touches/s",
        "vs floor",
        "vs naive",
        "peak RSS",
    ):
        table.add_column(column, justify="left" if column in ("backend", "design") else "right")
    for r in results:
        floor_rate = r["floor"]["touches"] / r["floor"]["seconds"]
        # The naive design at its best: whichever of its two forms was faster in this run.
        naive_rate = max(
            r["naive"]["sent"] / r["naive"]["seconds"],
            r["naive"]["loop"]["sent"] / r["naive"]["loop"]["seconds"],
        )
        rows = [("floor: decide+render+insert, no Prefect/HTTP", r["floor"]["touches"], r["floor"])]
        for processes, phase in sorted(r["ours"].items()):
            rows.append(
                (
                    f"Touchline, {processes} process{'es' if processes > 1 else ''}",
                    phase["sent"],
                    phase,
                )
            )
        rows.append(("naive: a task per touch, .map on 8 threads", r["naive"]["sent"], r["naive"]))
        rows.append(("naive: a task per touch, in a loop", r["naive"]["loop"]["sent"],
                     {**r["naive"]["loop"], "peak_rss_mib": r["naive"]["peak_rss_mib"]}))  # fmt: skip
        r["ratios"] = {}
        for design, touches, phase in rows:
            rate = touches / phase["seconds"]
            r["ratios"][design] = {
                "vs_floor": rate / floor_rate,
                "vs_naive": rate / naive_rate,
                "rate": rate,
            }
            table.add_row(
                r["backend"], design, f"{touches:,}", f"{phase['seconds']:.1f}", f"{rate:,.0f}",
                f"{rate / floor_rate:.0%}", f"{rate / naive_rate:.1f}×", f"{phase['peak_rss_mib']:.0f} MiB",
            )  # fmt: skip
    console.print(table)
    console.print(
        "Targets: Touchline ≥ 25% of the floor and ≥ 20× the naive design (the faster of its "
        "two forms); peak RSS < 1 GiB. Peak RSS is the measured process's own; the "
        "largest child process (batch processes, Prefect's server) is given below."
    )
    for r in results:
        for processes, phase in sorted(r["ours"].items()):
            stats = phase["stats"]
            console.print(
                f"[bold]{r['backend']}[/], {processes} process(es): launch {phase['launch_seconds']:.1f} s "
                f"+ advance {phase['advance_seconds']:.1f} s; the emulators accepted "
                f"{stats['accepted']['sendgrid']:,} emails and {stats['accepted']['twilio']:,} SMS; "
                f"{len(stats['duplicate_touches'])} touches received twice; largest child process "
                f"(batch processes, Prefect's server) {phase['children_peak_rss_mib']:.0f} MiB."
            )
    if big:
        console.print(
            f"[bold]Launch memory[/] (SQLite, streamed): {big['customers']:,} customers "
            f"({big['file_mib']:.0f} MiB file) enrolled in {big['big']['seconds']:.1f} s, peak RSS "
            f"[bold]{big['big']['peak_rss_mib']:.0f} MiB[/]; a tenth of the segment: "
            f"{big['small']['peak_rss_mib']:.0f} MiB — memory does not grow with the segment."
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--naive-sample", type=int, default=500)
    parser.add_argument("--million", type=int, default=1_000_000, help="0 to skip")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--latency-ms", type=float, default=0, help="every provider request takes this long"
    )
    parser.add_argument(
        "--dispatch-concurrency", type=int, help="TOUCHLINE_DISPATCH_CONCURRENCY for the run"
    )
    parser.add_argument("--reprint", type=Path, help="print the report of an earlier --json run")
    parser.add_argument(
        "--refresh-rows", type=int, default=10_000_000,
        help="interaction rows for the effectiveness refresh (0 to skip the preference center)",
    )  # fmt: skip
    parser.add_argument("--decision-customers", type=int, default=100_000)
    parser.add_argument(
        "--preferences-only", action="store_true", help="only the preference center's part"
    )
    parser.add_argument(
        "--insight-purchases", type=int, default=1_000_000,
        help="purchases for the tripwires (0 to skip)",
    )  # fmt: skip
    parser.add_argument(
        "--insight-report-rows", type=int, default=10_000_000,
        help="interaction rows for the journey report (0 to skip)",
    )  # fmt: skip
    parser.add_argument("--insight-only", action="store_true", help="only the insight part")
    parser.add_argument(
        "--latency", action="store_true",
        help="only event-to-provider latency through the deployed stack (bench/latency.py)",
    )  # fmt: skip
    parser.add_argument("--latency-rate", type=float, default=50, help="events/s for --latency")
    parser.add_argument("--latency-seconds", type=float, default=60, help="for --latency")
    parser.add_argument(
        "--analytics-rows", type=int, default=1_000_000,
        help="interaction rows for the in-database journey report (0 to skip)",
    )  # fmt: skip
    parser.add_argument("--analytics-only", action="store_true", help="only the analytics part")
    parser.add_argument(
        "--launch-customers", type=int, default=100_000,
        help="launch on PostgreSQL against SQLite, same segment (0 to skip)",
    )  # fmt: skip
    parser.add_argument(
        "--scale-customers", type=int, default=8_000,
        help="touches per point of the 1/2/4-worker curve on PostgreSQL (0 to skip)",
    )  # fmt: skip
    parser.add_argument(
        "--plan-rows", type=int, default=10_000_000,
        help="rows for the claim's and webhook lookup's index plans (0 to skip)",
    )  # fmt: skip
    parser.add_argument(
        "--postgres-only", action="store_true",
        help="only the PostgreSQL part: launch ratio, scale-out curve, index plans",
    )  # fmt: skip
    args = parser.parse_args()
    if args.postgres_only:
        postgres_scale(args.launch_customers, args.scale_customers, args.plan_rows, args.json)
        return
    if args.analytics_only:
        analytics(args.analytics_rows, args.backends, args.json)
        return
    if args.latency:
        from bench import latency

        latency.main(["--rate", str(args.latency_rate), "--seconds", str(args.latency_seconds),
                      *(["--json", str(args.json)] if args.json else [])])  # fmt: skip
        return
    if args.reprint:
        reprint(args.reprint)
        return
    if args.preferences_only:
        preferences(args.refresh_rows, args.decision_customers, args.json)
        return
    if args.insight_only:
        insight(args.insight_purchases, args.insight_report_rows, args.json)
        return
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if "postgresql" in backends and (reason := postgres_available()):
        if os.environ.get("CI"):
            raise SystemExit(f"PostgreSQL is required in CI: {reason}")
        console.print(f"[yellow]PostgreSQL skipped: {reason}[/]")
        backends.remove("postgresql")
    with tempfile.TemporaryDirectory(prefix="touchline-bench-") as tmp:
        workdir = Path(tmp)
        emulators = Emulators(workdir)
        try:
            results = [
                backend_run(
                    b,
                    args.customers,
                    args.naive_sample,
                    workdir,
                    emulators,
                    args.latency_ms,
                    args.dispatch_concurrency,
                )
                for b in backends
            ]
        finally:
            emulators.close()
        big = million(args.million, workdir) if args.million else None
    if args.latency_ms or args.dispatch_concurrency:
        console.print(
            f"Providers answer after {args.latency_ms:.0f} ms; dispatch concurrency "
            f"{args.dispatch_concurrency or 'default'}."
        )
    report(results, big, args.customers)
    if args.json:
        args.json.write_text(
            json.dumps({"results": results, "million": big}, indent=2, default=str)
        )
    if args.refresh_rows:
        preferences(
            args.refresh_rows,
            args.decision_customers,
            args.json.with_suffix(".preferences.json") if args.json else None,
        )
    if args.insight_purchases or args.insight_report_rows:
        insight(
            args.insight_purchases,
            args.insight_report_rows,
            args.json.with_suffix(".insight.json") if args.json else None,
        )
    if args.analytics_rows:
        analytics(
            args.analytics_rows,
            args.backends,
            args.json.with_suffix(".analytics.json") if args.json else None,
        )
    if "postgresql" in backends and (
        args.launch_customers or args.scale_customers or args.plan_rows
    ):
        postgres_scale(
            args.launch_customers,
            args.scale_customers,
            args.plan_rows,
            args.json.with_suffix(".postgres.json") if args.json else None,
        )


def launch_ratio(count: int, workdir: Path) -> dict[str, Any]:
    """The same segment launched on SQLite and on PostgreSQL, each in a process of its own,
    customers inserted directly beforehand (setup, not measured)."""
    from sqlalchemy import insert

    from bench._support import NOW
    from bench._support import seed as seed_journey
    from touchline.db import Database
    from touchline.record import Customer

    segment = segment_file(workdir / f"launch-{count}.csv", count)
    result: dict[str, Any] = {"customers": count}
    for backend in ("sqlite", "postgresql"):
        with database(backend, workdir) as url:
            seed_journey(url, 0)
            db = Database(url)
            with db.session() as session:
                for start in range(0, count, 20_000):
                    session.execute(
                        insert(Customer),
                        [
                            {
                                "id": f"b{n:07d}",
                                "attributes": {},
                                "created_at": NOW,
                                "updated_at": NOW,
                            }
                            for n in range(start, min(start + 20_000, count))
                        ],
                    )
            db.dispose()
            result[backend] = run_phase("launch", url, workdir, {}, "--segment", str(segment))
    result["ratio"] = result["postgresql"]["seconds"] / result["sqlite"]["seconds"]
    return result


def postgres_scale(
    launch_customers: int, scale_customers: int, plan_rows: int, json_path: Path | None
) -> None:
    """Launch ratio, scale-out curve and index plans on PostgreSQL (docs/scale-measured.md)."""
    from bench import plans as bench_plans
    from bench import scale as bench_scale

    if reason := postgres_available():
        if os.environ.get("CI"):
            raise SystemExit(f"PostgreSQL is required in CI: {reason}")
        console.print(f"[yellow]PostgreSQL scale part skipped: {reason}[/]")
        return
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="touchline-bench-pg-") as tmp:
        if launch_customers:
            ratio = result["launch"] = launch_ratio(launch_customers, Path(tmp))
            console.print(
                f"[bold]Launch of {launch_customers:,} customers[/]: SQLite "
                f"{ratio['sqlite']['seconds']:.1f} s, PostgreSQL {ratio['postgresql']['seconds']:.1f} s "
                f"— [bold]{ratio['ratio']:.2f}×[/] SQLite's time (target ≤ 1.5×)."
            )
        if scale_customers:
            result["scale"] = bench_scale.run(scale_customers, [1, 2, 4], 50, Path(tmp), rounds=2)
            bench_scale.report(result["scale"], console)
        if plan_rows:
            result["plans"] = bench_plans.run(plan_rows, Path(tmp))
            bench_plans.report(result["plans"], console)
    if json_path:
        json_path.write_text(json.dumps(result, indent=2, default=str))


def insight(purchases: int, report_rows: int, json_path: Path | None) -> None:
    """Tripwires, RFM and the journey report (bench/insight.py), each phase in its own process."""
    from bench import insight as bench_insight

    with tempfile.TemporaryDirectory(prefix="touchline-bench-insight-") as tmp:
        result = bench_insight.run(purchases, report_rows, 200_000, Path(tmp))
    bench_insight.report(result)
    if json_path:
        json_path.write_text(json.dumps(result, indent=2, default=str))


def analytics(rows: int, backends: str, json_path: Path | None) -> None:
    """The journey report in the database against the bare SQL aggregate (bench/analytics.py)."""
    from bench import analytics as bench_analytics

    chosen = [b.strip() for b in backends.split(",") if b.strip()]
    if "postgresql" in chosen and (reason := postgres_available()):
        console.print(f"[yellow]PostgreSQL skipped for analytics: {reason}[/]")
        chosen.remove("postgresql")
    with tempfile.TemporaryDirectory(prefix="touchline-bench-analytics-") as tmp:
        result = bench_analytics.run(chosen, rows, 100_000, Path(tmp))
    bench_analytics.report(result)
    if json_path:
        json_path.write_text(json.dumps(result, indent=2, default=str))


def preferences(rows: int, customers: int, json_path: Path | None) -> None:
    """The preference center's refresh and decisions (bench/preferences.py), in this run."""
    from bench import preferences as prefs

    with tempfile.TemporaryDirectory(prefix="touchline-bench-prefs-") as tmp:
        result = prefs.run(rows, customers, 1000, Path(tmp))
    prefs.report(result)
    if json_path:
        json_path.write_text(json.dumps(result, indent=2, default=str))


def reprint(path: Path) -> None:
    """The report of an earlier run, from its --json file."""
    saved = json.loads(path.read_text())
    for r in saved["results"]:
        r["ours"] = {int(k): v for k, v in r["ours"].items()}
    report(saved["results"], saved["million"], saved["results"][0]["floor"]["touches"])


if __name__ == "__main__":
    main()
