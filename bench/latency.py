"""Event-to-provider latency through the deployed path.

    python -m bench.latency [--rate 50] [--seconds 60] [--backend sqlite|postgresql] [--workers 1]
    python -m bench.run --latency ...

Starts the whole stack as `touchline serve` does (Prefect server, deployments, a process
worker, the API, the emulators — each its own process) on free ports in a temporary
directory, waits for the `advance-continuously` flow run to be polling, then posts
``rate`` sign-ups a second for ``seconds`` to ``POST /events`` (one event per request, a new
customer each, email consent: the welcome journey sends at once). For every event it
measures the time from just before its POST to the SendGrid emulator accepting the welcome
email, matched through the record: emulator message → touch id → customer → event.

Targets: p50 ≤ 2 s, p99 ≤ 5 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from bench._support import database, postgres_available
from sandbox import SandboxClient
from touchline.db import Database
from touchline.record import Touch
from touchline.serve import StackPlan, start_stack, stop_stack
from touchline.serve.prefect_api import PrefectApi
from touchline.serve.processes import free_port

TOKEN = "bench-latency-token"
TARGET_P50, TARGET_P99 = 2.0, 5.0


def _signup(customer_id: str) -> dict[str, Any]:
    return {
        "id": f"signup-{customer_id}",
        "type": "customer.signed_up",
        "customer_id": customer_id,
        "occurred_at": datetime.now(UTC).isoformat(),
        "profile": {"email": f"{customer_id}@example.com", "attributes": {"first_name": "Ada"}},
        "consents": [{"channel": "email", "purpose": "marketing", "status": "granted"}],
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def _post_at_rate(api_url: str, rate: float, seconds: float, prefix: str) -> dict[str, Any]:
    """Post one event every 1/rate s on a fixed timetable (a slow answer does not delay
    the next event: the posts run on a thread pool). Returns per customer the wall time
    just before its POST, and the API's answer times."""
    count = int(rate * seconds)
    posted: dict[str, float] = {}
    answers: list[float] = []
    refused: list[str] = []
    lock = threading.Lock()
    local = threading.local()

    def post(n: int) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(
                timeout=30, headers={"Authorization": f"Bearer {TOKEN}"}
            )
        customer = f"{prefix}{n:06d}"
        began = time.time()
        response = client.post(f"{api_url}/events", json=_signup(customer))
        took = time.time() - began
        with lock:
            if response.status_code == 202:
                posted[customer] = began
                answers.append(took)
            else:
                refused.append(f"{customer}: {response.status_code} {response.text[:200]}")

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=32) as pool:
        for n in range(count):
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(post, n)
    return {
        "posted": posted,
        "answers": answers,
        "refused": refused,
        "posting_seconds": time.monotonic() - start,
    }


def run(
    rate: float, seconds: float, backend: str, workers: int, workdir: Path, drain: float = 120
) -> dict[str, Any]:
    with database(backend, workdir) as url:
        home = workdir / "home"
        plan = StackPlan(
            state_dir=home / "serve", home=home, database_url=url,
            prefect_port=free_port(), api_port=free_port(), sendgrid_port=free_port(),
            twilio_port=free_port(), x_port=free_port(), workers=workers,
            extra_env={"TOUCHLINE_API_TOKEN": TOKEN}, timeout=180, die_with_parent=True,
        )  # fmt: skip
        began = time.monotonic()
        stack = start_stack(plan, progress=lambda line: print(f"  {line}", flush=True))
        started = time.monotonic() - began
        try:
            prefect = PrefectApi(plan.prefect_api_url)
            _wait_polling(prefect, timeout=180)
            prefect.close()
            emulator = SandboxClient(plan.sendgrid_url)
            emulator.reset()
            print(f"  posting {rate:g} events/s for {seconds:g} s", flush=True)
            posts = _post_at_rate(plan.api_url, rate, seconds, f"L{uuid.uuid4().hex[:5]}")
            expected = len(posts["posted"])
            deadline = time.monotonic() + drain
            while emulator.stats()["accepted"]["sendgrid"] < expected:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            emails = emulator.emails()
            stats = emulator.stats()
            emulator.close()
            latencies = _match(url, emails, posts["posted"])
        finally:
            stop_stack(plan.state_dir, grace=5)
    return {
        "rate": rate,
        "seconds": seconds,
        "backend": backend,
        "workers": workers,
        "stack_start_seconds": started,
        "posting_seconds": posts["posting_seconds"],
        "posted": expected,
        "refused": posts["refused"][:5],
        "refused_count": len(posts["refused"]),
        "received": len(latencies),
        "duplicate_touches": len(stats["duplicate_touches"]),
        "latency": latencies,
        "answers": posts["answers"],
        "continuous_run": stack.continuous_run_id,
    }


def _wait_polling(prefect: PrefectApi, timeout: float) -> None:
    """Until a run of advance-continuously is Running (its process up, polling)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deployment = prefect.deployment("advance-continuously")
        if deployment:
            running = prefect._post(  # the REST filter, as in PrefectApi
                "/flow_runs/filter",
                {"deployments": {"id": {"any_": [deployment["id"]]}},
                 "flow_runs": {"state": {"type": {"any_": ["RUNNING"]}}}},
            )  # fmt: skip
            if running:
                return
        time.sleep(0.5)
    raise RuntimeError(f"no advance-continuously run was running within {timeout:.0f} s")


def _match(url: str, emails: list[dict[str, Any]], posted: dict[str, float]) -> list[float]:
    """Emulator message → touch id → the touch's customer (the record) → its event's POST."""
    received = {e["touch_id"]: datetime.fromisoformat(e["received_at"]).timestamp() for e in emails}
    db = Database(url)
    customers: dict[str, str] = {}
    ids = list(received)
    with db.session() as session:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = session.execute(
                select(Touch.id, Touch.customer_id).where(Touch.id.in_(chunk))
            ).all()
            customers.update((touch, customer) for touch, customer in rows)
    db.dispose()
    return [
        received[touch] - posted[customer]
        for touch, customer in customers.items()
        if customer in posted
    ]


def report(result: dict[str, Any]) -> None:
    latency, answers = result["latency"], result["answers"]
    print(
        f"\nEvent → provider latency through the deployed path: {result['rate']:g} events/s for "
        f"{result['seconds']:g} s, record on {result['backend']}, Prefect server on SQLite, "
        f"{result['workers']} worker(s); stack started in {result['stack_start_seconds']:.0f} s"
    )
    print(
        f"  posted {result['posted']:,} (in {result['posting_seconds']:.1f} s; "
        f"{result['refused_count']} refused), welcome emails received {result['received']:,}, "
        f"touches received twice {result['duplicate_touches']}"
    )
    if not latency:
        print("  nothing arrived")
        return
    p50, p95, p99 = (_percentile(latency, q) for q in (0.5, 0.95, 0.99))
    print(
        f"  latency  p50 {p50:.2f} s   p95 {p95:.2f} s   p99 {p99:.2f} s   max {max(latency):.2f} s"
        f"   mean {statistics.fmean(latency):.2f} s   count {len(latency):,}"
    )
    print(
        f"  targets  p50 ≤ {TARGET_P50:g} s: {'met' if p50 <= TARGET_P50 else 'MISSED'};"
        f"  p99 ≤ {TARGET_P99:g} s: {'met' if p99 <= TARGET_P99 else 'MISSED'}"
    )
    print(
        f"  POST /events answered in p50 {_percentile(answers, 0.5) * 1000:.0f} ms, "
        f"p99 {_percentile(answers, 0.99) * 1000:.0f} ms"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50, help="events per second")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite",
                        help="Touchline's record")  # fmt: skip
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.backend == "postgresql" and (reason := postgres_available()):
        raise SystemExit(f"PostgreSQL is not available: {reason}")
    with tempfile.TemporaryDirectory(prefix="touchline-bench-latency-") as tmp:
        result = run(args.rate, args.seconds, args.backend, args.workers, Path(tmp))
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
