"""Scale-out on PostgreSQL: 1, 2, 4… worker processes on the same due work, providers that
answer after ``--latency-ms``, and what limits the curve.

    python -m bench.scale [--customers 20000] [--workers 1,2,4] [--latency-ms 50]

For each worker count the same segment is launched again (a new launch: new enrollments),
then that many worker processes — ``run_worker``, the engine of ``touchline worker`` —
start together, each after its imports and set-up, and advance until nothing is due. The
clock runs from the start signal to the last worker's exit.

Beside the throughput, where the time goes:

- CPU seconds per touch of the workers (their own ``getrusage``), of this database's
  PostgreSQL backends (read from /proc: the process title names the database), and of the
  emulators' process: with 2 cores, the sum says whether the machine's CPU is the limit;
- every statement the workers issued, timed from our side (SQLAlchemy cursor events):
  count, total and mean time, the top ones by total time. pg_stat_statements needs
  ``shared_preload_libraries`` and a server restart, which a shared server cannot be given.

Provider rate limits (``TOUCHLINE_CHANNEL_RATE_LIMITS``) are lifted for the run: SMS at its
default 100/s would cap the curve at the configured pace, not at the engine's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench._support import NOW, ROOT, Emulators, segment_file

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- inside a worker process -----------------------------------------------------------


class StatementTimes:
    """Every statement this process executes, timed around the driver call, keyed by its
    text with parameters and long lists folded (``IN (…)``, ``VALUES (…), …``)."""

    def __init__(self) -> None:
        self.totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
        self._lock = threading.Lock()
        self._local = threading.local()

    def install(self) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.listen(Engine, "before_cursor_execute", self._before)
        event.listen(Engine, "after_cursor_execute", self._after)
        event.listen(Engine, "commit", self._commit_before)
        event.listen(Engine, "rollback", self._commit_before)

    def _before(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self._local.started = time.perf_counter()

    def _after(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        elapsed = time.perf_counter() - self._local.started
        self._add(fold(statement), elapsed)

    def _commit_before(self, _conn: Any) -> None:
        # Commits and rollbacks are round trips too; SQLAlchemy has no "after" event for
        # them, so they are counted, not timed.
        self._add("COMMIT / ROLLBACK (count only)", 0.0)

    def _add(self, key: str, elapsed: float) -> None:
        with self._lock:
            entry = self.totals[key]
            entry[0] += 1
            entry[1] += elapsed


def fold(statement: str) -> str:
    text = " ".join(statement.split())
    text = re.sub(r"%\(\w+\)s(::[\w ]+(\[\])?)?", "?", text)
    text = re.sub(r"\((\?, )+\?\)", "(…)", text)
    text = re.sub(r"(\(…\), )+\(…\)", "(…), …", text)
    text = re.sub(r"RETURNING .*", "RETURNING …", text)
    return text[:160]


def worker_main(url: str) -> None:
    """One worker: set up, say ready, wait for the start line on stdin, advance until
    nothing is due, print one JSON line."""
    os.environ["TOUCHLINE_DATABASE_URL"] = url
    from touchline.config import get_settings
    from touchline.engine import Engine
    from touchline.engine.worker import run_worker

    engine = Engine.from_settings(get_settings())
    times = StatementTimes()
    times.install()
    print("ready", flush=True)
    sys.stdin.readline()
    began_cpu = resource.getrusage(resource.RUSAGE_SELF)
    began = time.perf_counter()
    total = run_worker(engine, lambda: NOW)
    seconds = time.perf_counter() - began
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    engine.close()
    print(
        json.dumps(
            {
                "claimed": total.claimed,
                "sent": total.count("sent"),
                "skipped": total.count("skipped"),
                "failed": total.count("failed"),
                # Not sent in a batch and claimed again (a halt, an unreadable journey state).
                "held": total.count("held"),
                "reasons": {f"{o}: {r}": n for (_j, _s, o, r), n in total.reasons.items()},
                "seconds": seconds,
                "cpu_seconds": (cpu.ru_utime - began_cpu.ru_utime)
                + (cpu.ru_stime - began_cpu.ru_stime),
                "statements": {k: v for k, v in times.totals.items()},
            }
        ),
        flush=True,
    )


# --- the conductor -----------------------------------------------------------------------


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, every process's: other
    users of the machine take cores from the workers too."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields) - idle) / CLOCK_TICKS, sum(fields) / CLOCK_TICKS


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


class BackendCpu:
    """CPU of the PostgreSQL backends serving one database, sampled from /proc while a run
    lasts (a backend that exits between samples loses at most one interval's CPU). Works
    when PostgreSQL runs on this machine; otherwise it reports nothing."""

    def __init__(self, database: str, interval: float = 0.2):
        self.database = database
        self.interval = interval
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.peak_connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _backends(self) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            # "postgres: <user> <database> 127.0.0.1(port) <state>"
            if title.startswith("postgres: ") and f" {self.database} " in title:
                found.append(int(entry.name))
        return found

    def _sample(self, baseline: bool) -> None:
        backends = self._backends()
        self.peak_connections = max(self.peak_connections, len(backends))
        for pid in backends:
            cpu = _cpu_seconds(pid)
            if cpu is None:
                continue
            self.first.setdefault(pid, cpu if baseline else 0.0)
            self.last[pid] = cpu

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample(False)

    def __enter__(self) -> BackendCpu:
        self._sample(True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample(False)

    @property
    def seconds(self) -> float:
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


def one_count(
    url: str,
    database: str,
    workers: int,
    segment: Path,
    emulators: Emulators,
    latency_ms: float,
    round_name: str = "0",
) -> dict[str, Any]:
    from touchline.db import Database
    from touchline.launch import launch

    emulators.reset(latency_ms)
    db = Database(url)
    began = time.perf_counter()
    launched = launch(db, "bench_launch", segment, now=NOW, name=f"scale-{workers}-{round_name}")
    launch_seconds = time.perf_counter() - began
    db.dispose()
    env = {
        **os.environ,
        **emulators.env(),
        "TOUCHLINE_DATABASE_URL": url,
        "TOUCHLINE_MARKETING_CAP": "0",
        "TOUCHLINE_CHANNEL_RATE_LIMITS": json.dumps({"email": 0, "sms": 0}),
        "TOUCHLINE_DISPATCH_WORKERS": str(workers),
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "-m", "bench.scale", "worker", "--database-url", url]
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    procs = [
        subprocess.Popen(command, cwd=ROOT, env=env, text=True, **pipes)  # type: ignore[call-overload]
        for _ in range(workers)
    ]
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"a worker did not start: {line}{proc.communicate()[1][-3000:]}")
    emulator_cpu = _cpu_seconds(emulators.process.pid) or 0.0
    machine_before = _machine_busy()
    with BackendCpu(database) as backends:
        began = time.perf_counter()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate() for proc in procs]
        seconds = time.perf_counter() - began
    emulator_cpu = (_cpu_seconds(emulators.process.pid) or 0.0) - emulator_cpu
    machine_after = _machine_busy()
    results = []
    for proc, (out, err) in zip(procs, outputs, strict=True):
        if proc.returncode != 0:
            raise RuntimeError(f"a worker failed:\n{err[-5000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    statements: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for result in results:
        for key, (count, total) in result.pop("statements").items():
            statements[key][0] += count
            statements[key][1] += total
    stats = emulators.stats()
    sent = sum(r["sent"] for r in results)
    return {
        "workers": workers,
        "enrolled": launched.enrolled,
        "launch_seconds": launch_seconds,
        "claimed": sum(r["claimed"] for r in results),
        "sent": sent,
        "skipped": sum(r["skipped"] for r in results),
        "failed": sum(r["failed"] for r in results),
        "held": sum(r["held"] for r in results),
        "reasons": [r["reasons"] for r in results],
        "seconds": seconds,
        "rate": sent / seconds,
        "per_worker": results,
        "cpu": {
            "workers": sum(r["cpu_seconds"] for r in results),
            "postgres": backends.seconds,
            "emulators": emulator_cpu,
            # Busy share of all cores during the run, whoever used them.
            "machine_busy": (machine_after[0] - machine_before[0])
            / max(machine_after[1] - machine_before[1], 1e-9),
        },
        "peak_connections": backends.peak_connections,
        "accepted": stats["accepted"],
        "duplicates": len(stats["duplicate_touches"]),
        "statements": dict(statements),
    }


def run(
    customers: int, counts: list[int], latency_ms: float, workdir: Path, rounds: int = 1
) -> dict[str, Any]:
    from sqlalchemy.engine import make_url

    from bench._support import database, seed

    emulators = Emulators(workdir)
    try:
        with database("postgresql", workdir) as url:
            seeded = seed(url, customers)
            segment = segment_file(workdir / f"scale-{customers}.csv", customers)
            name = make_url(url).database or ""
            # Rounds of 1, 2, 4…, one after the other: a busy spell of the machine's other
            # users disturbs one point of a round, not every point of one worker count.
            points = [
                one_count(url, name, n, segment, emulators, latency_ms, f"{r}")
                for r in range(rounds)
                for n in counts
            ]
    finally:
        emulators.close()
    return {
        "customers": customers,
        "latency_ms": latency_ms,
        "seed_seconds": seeded,
        "cores": os.cpu_count(),
        "load_before": os.getloadavg(),
        # The best round of each worker count: the least disturbed by the machine's other users.
        "curve": [
            max((p for p in points if p["workers"] == n), key=lambda p: p["rate"]) for n in counts
        ],
        "points": points,
    }


def report(result: dict[str, Any], console: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console(width=150)
    curve = result["curve"]
    one = next((c for c in curve if c["workers"] == 1), None)
    table = Table(
        title=f"Scale-out on PostgreSQL: {result['customers']:,} touches per point, providers "
        f"answer after {result['latency_ms']:.0f} ms, {result['cores']} cores",
        header_style="bold",
    )
    for column in ("workers", "sent", "seconds", "touches/s", "vs 0.8×N×one", "CPU ms/touch: workers",
                   "postgres", "emulators", "ours / cores", "machine busy", "PG conns", "held", "twice at provider"):  # fmt: skip
        table.add_column(column, justify="right")
    for c in curve:
        target = 0.8 * c["workers"] * one["rate"] if one else None
        cpu = c["cpu"]
        used = (cpu["workers"] + cpu["postgres"] + cpu["emulators"]) / c["seconds"]
        per = 1000 / max(c["sent"], 1)
        table.add_row(
            str(c["workers"]), f"{c['sent']:,}", f"{c['seconds']:.1f}", f"{c['rate']:,.0f}",
            f"{c['rate'] / target:.0%}" if target else "—",
            f"{cpu['workers'] * per:.2f}", f"{cpu['postgres'] * per:.2f}",
            f"{cpu['emulators'] * per:.2f}", f"{used:.2f} / {result['cores']}",
            f"{cpu['machine_busy']:.0%}", str(c["peak_connections"]), str(c["held"]),
            str(c["duplicates"]),
        )  # fmt: skip
    console.print(table)
    last = curve[-1]
    cpu = last["cpu"]
    per_touch = (cpu["workers"] + cpu["postgres"] + cpu["emulators"]) / max(last["sent"], 1)
    console.print(
        f"CPU per touch, all processes: {1000 * per_touch:.2f} ms, so {result['cores']} cores "
        f"carry at most {result['cores'] / per_touch:,.0f} touches/s; PostgreSQL's part is "
        f"{cpu['postgres'] / max(last['sent'], 1) * 1000:.2f} ms "
        f"({cpu['postgres'] / max(cpu['workers'] + cpu['postgres'] + cpu['emulators'], 1e-9):.0%}). "
        f"The machine was {cpu['machine_busy']:.0%} busy during the {last['workers']}-worker "
        "point: where that is near 100 %, the curve is bent by CPU (the machine's, shared), "
        "not by the database."
    )
    top = sorted(last["statements"].items(), key=lambda kv: -kv[1][1])[:8]
    statements = Table(
        title=f"Top statements by total time from the workers' side, {last['workers']} workers",
        header_style="bold",
    )
    for column in ("statement", "calls", "per touch", "total s", "mean ms"):
        statements.add_column(column, justify="left" if column == "statement" else "right")
    for key, (count, total) in top:
        statements.add_row(
            key[:100], f"{count:,.0f}", f"{count / max(last['sent'], 1):.2f}",
            f"{total:.2f}", f"{1000 * total / max(count, 1):.2f}",
        )  # fmt: skip
    console.print(statements)


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", nargs="?", default="run", choices=["run", "worker"])
    parser.add_argument("--database-url")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument(
        "--rounds", type=int, default=2, help="each point this often; the best counts"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.mode == "worker":
        worker_main(args.database_url)
        return
    counts = [int(n) for n in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="touchline-bench-scale-") as tmp:
        result = run(args.customers, counts, args.latency_ms, Path(tmp), args.rounds)
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
