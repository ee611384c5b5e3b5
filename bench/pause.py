"""How fast a pause takes effect: a large batch to a provider answering after 50 ms, paused
mid-batch — from the same process as the worker, and from another process.

    python -m bench.pause [--messages 2000] [--latency-ms 50] [--backend sqlite,postgresql]

For each backend and mode: an audience is seeded through intake and launched into an
email journey; a worker advances it (32 requests in flight, the default) against the
emulators (a process of their own, every request answered after ``--latency-ms``). Once
30% of the messages have reached SendGrid (inside the second batch of 500, not between
batches), the journey is paused — by a thread of the
worker's own process (same-process), or by this process while the worker runs in another
(cross-process). The SendGrid emulator logs when each request arrived and was answered;
the table compares them with the moment the pause's commit returned:

- requests started after the commit (must be 0);
- time from asking for the pause to its commit (it waits for the requests in flight);
- time from the commit to the last in-flight answer (negative: answered before the commit,
  which is how the fence works — in-flight requests hold it until answered).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from bench._support import NOW, ROOT, Emulators, database, postgres_available, seed, segment_file

console = Console(width=150)
JOURNEY = """key: bench_pause
name: Benchmark pause
purpose: marketing
trigger: segment
reentry: every_event
context: {sale_code: SNOW25, sale_ends: December 6, shop_url: "https://shop.example"}
steps:
  - {id: announce, type: send, channel: email, template: winter_sale/announce}
"""


def prepare(url: str, workdir: Path, count: int) -> None:
    from touchline.content import TemplateCatalog
    from touchline.db import Database
    from touchline.journeys.loader import LoadedJourney, parse_journey
    from touchline.journeys.store import publish
    from touchline.launch import launch

    seed(url, count)
    db = Database(url)
    definition = parse_journey(JOURNEY, "pause.yaml", TemplateCatalog(ROOT / "templates"))
    with db.session() as session:
        publish(session, LoadedJourney(definition, ROOT / "bench" / "pause.yaml"), NOW)
    launch(db, "bench_pause", segment_file(workdir / "segment.csv", count), now=NOW)
    db.dispose()


def advance_all(url: str) -> int:
    """What a worker does: advance until nothing is claimable (a paused journey's
    enrollments are not). Returns the enrollments claimed."""
    from touchline.config import Settings
    from touchline.db import Database
    from touchline.engine import Engine, advance_next_batch

    engine = Engine.from_settings(Settings(), Database(url))
    claimed = 0
    try:
        while (report := advance_next_batch(engine, NOW)).claimed:
            claimed += report.claimed
    finally:
        engine.close()
    return claimed


def pause(url: str) -> tuple[float, float]:
    """(asked, committed): time.time() when the pause was asked and when its commit returned."""
    from touchline.db import Database
    from touchline.lifecycle.states import PAUSED, change_state

    db = Database(url)
    asked = time.time()
    change = change_state(db, "bench_pause", PAUSED, reason="bench: wrong price",
                          who="bench", now=NOW)  # fmt: skip
    db.dispose()
    return asked, change.committed_at


def wait_for_requests(emulators: Emulators, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if emulators.stats()["requests"].get("sendgrid", 0) >= count:
            return
        time.sleep(0.01)
    raise RuntimeError(f"the worker did not reach {count} requests")


def measure(
    backend: str, mode: str, count: int, latency_ms: float, workdir: Path
) -> dict[str, Any]:
    emulators = Emulators(workdir)
    try:
        with database(backend, workdir) as url:
            prepare(url, workdir, count)
            emulators.reset(latency_ms)
            env = {**emulators.env(), "TOUCHLINE_DATABASE_URL": url,
                   "TOUCHLINE_HOME": str(workdir / "home")}  # fmt: skip
            os.environ.update(env)
            from touchline.config import reset_settings_cache

            reset_settings_cache()
            began = time.monotonic()
            if mode == "same-process":
                worker = threading.Thread(target=advance_all, args=(url,))
                worker.start()
                wait_for_requests(emulators, count * 3 // 10)
                asked, committed = pause(url)
                worker.join()
            else:
                process = subprocess.Popen(
                    [sys.executable, "-m", "bench.pause", "--worker", url], cwd=ROOT,
                    env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    text=True,
                )  # fmt: skip
                wait_for_requests(emulators, count * 3 // 10)
                asked, committed = pause(url)
                _out, err = process.communicate(timeout=300)
                if process.returncode:
                    raise RuntimeError(f"worker failed: {err[-3000:]}")
            elapsed = time.monotonic() - began
            log = httpx.get(f"{emulators.sendgrid_url}/_sandbox/requests", timeout=30).json()
    finally:
        emulators.close()
    in_flight = [r for r in log if r["started"] <= asked < r["answered"]]
    return {
        "backend": backend,
        "mode": mode,
        "messages": count,
        "requests": len(log),
        "in_flight_when_asked": len(in_flight),
        "started_after_commit": sum(r["started"] > committed for r in log),
        "ask_to_commit_ms": round((committed - asked) * 1000, 1),
        "commit_to_last_answer_ms": round((max(r["answered"] for r in log) - committed) * 1000, 1),
        "seconds": round(elapsed, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--backend", default="sqlite,postgresql")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # the cross-process worker
    args = parser.parse_args()
    if args.worker:
        print(json.dumps({"claimed": advance_all(args.worker)}))
        return
    rows = []
    for backend in args.backend.split(","):
        if backend == "postgresql" and (why := postgres_available()):
            console.print(f"[yellow]PostgreSQL skipped: {why}[/]")
            continue
        for mode in ("same-process", "cross-process"):
            with tempfile.TemporaryDirectory(prefix="touchline-pause-") as tmp:
                rows.append(measure(backend, mode, args.messages, args.latency_ms, Path(tmp)))
    table = Table(
        "backend", "pause from", "messages", "requests sent", "in flight when asked",
        "started after commit", "ask → commit", "commit → last in-flight answer",
        title=f"Pause mid-batch, provider answering after {args.latency_ms:g} ms",
        header_style="bold",
    )  # fmt: skip
    for r in rows:
        table.add_row(
            r["backend"], r["mode"], str(r["messages"]), str(r["requests"]),
            str(r["in_flight_when_asked"]), str(r["started_after_commit"]),
            f"{r['ask_to_commit_ms']:g} ms", f"{r['commit_to_last_answer_ms']:g} ms",
        )  # fmt: skip
    console.print(table)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
