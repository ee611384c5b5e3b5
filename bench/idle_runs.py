"""How many flow runs an idle served stack adds to the Prefect runs list.

    python -m bench.idle_runs [--minutes 15]

Starts the stack as `touchline serve` does (Prefect server on SQLite, deployments, one
process worker, the API, the emulators) on free ports in a temporary directory, posts
nothing, and after ``minutes`` counts the flow runs that fell due since it started (every
state but Scheduled: what the runs list shows as having run, or as Late), per deployment,
and the runs scheduled for the hour after. It also names the requests that met the Prefect
server's "database is locked" errors in its log, from start-up on.

Before issue 18: advance-journeys every minute and a continuous run every 10 minutes made
about 66 runs an idle hour; the target is a handful.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from touchline.serve import StackPlan, start_stack, stop_stack
from touchline.serve.processes import free_port
from touchline.serve.server_log import locked_requests


def _runs_due_between(api_url: str, since: datetime, until: datetime) -> list[dict[str, Any]]:
    with httpx.Client(base_url=api_url, timeout=30) as http:
        runs = http.post(
            "/flow_runs/filter",
            json={
                "flow_runs": {
                    "expected_start_time": {
                        "after_": since.isoformat(),
                        "before_": until.isoformat(),
                    },
                    "state": {"type": {"not_any_": ["SCHEDULED"]}},
                },
                "limit": 200,
            },
        ).json()
        deployments = {d["id"]: d["name"] for d in http.post("/deployments/filter", json={}).json()}
    for run in runs:
        run["deployment"] = deployments.get(run.get("deployment_id"), "(no deployment)")
    return runs


def _scheduled_between(api_url: str, since: datetime, until: datetime) -> int:
    with httpx.Client(base_url=api_url, timeout=30) as http:
        return int(http.post("/flow_runs/count", json={"flow_runs": {
            "expected_start_time": {"after_": since.isoformat(), "before_": until.isoformat()},
            "state": {"type": {"any_": ["SCHEDULED"]}},
        }}).json())  # fmt: skip


def run(minutes: float, workdir: Path) -> dict[str, Any]:
    home = workdir / "home"
    plan = StackPlan(
        state_dir=home / "serve", home=home, database_url=f"sqlite:///{home / 'touchline.db'}",
        prefect_port=free_port(), api_port=free_port(), sendgrid_port=free_port(),
        twilio_port=free_port(), x_port=free_port(), timeout=180, die_with_parent=True,
    )  # fmt: skip
    began = time.monotonic()
    since = datetime.now(UTC)  # the first continuous run, started by the supervisor, counts
    start_stack(plan, progress=lambda line: print(f"  {line}", flush=True))
    started = time.monotonic() - began
    try:
        print(f"  stack up in {started:.0f} s; idle for {minutes:g} min", flush=True)
        time.sleep(minutes * 60)
        until = datetime.now(UTC)
        runs = _runs_due_between(plan.prefect_api_url, since, until)
        next_hour = _scheduled_between(plan.prefect_api_url, until, until + timedelta(hours=1))
        locked = locked_requests(plan.logs / "prefect-server.log")
    finally:
        stop_stack(plan.state_dir, grace=5)
    per_deployment = Counter(r["deployment"] for r in runs)
    return {
        "minutes": minutes,
        "flow_runs": len(runs),
        "scheduled_for_the_next_hour": next_hour,
        "per_deployment": dict(per_deployment),
        "names": sorted(r["name"] for r in runs),
        "states": dict(Counter(r["state_type"] for r in runs)),
        "database_locked_requests_in_server_log": locked,
        "startup_seconds": round(started, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=15.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="touchline-idle-") as tmp:
        result = run(args.minutes, Path(tmp))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
