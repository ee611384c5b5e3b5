"""The few Prefect server calls the supervisor makes, over its REST API (no Prefect import:
the supervisor stays quick to start and independent of the client's settings)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx

ATTEMPTS = 6


class PrefectApi:
    def __init__(self, api_url: str):
        self._http = httpx.Client(base_url=api_url.rstrip("/"), timeout=30)

    def close(self) -> None:
        self._http.close()

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        # Prefect answers 503 to what a client may retry (SQLite busy while its services
        # write); its own client retries these, and so does this one.
        for attempt in range(ATTEMPTS):
            response = self._http.post(path, json=body)
            if response.status_code != 503 or attempt == ATTEMPTS - 1:
                break
            time.sleep(0.5 * 2**attempt)
        response.raise_for_status()
        return response.json() if response.content else None

    def filter(self, objects: str, body: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """``POST /<objects>/filter`` (flow_runs, task_runs, artifacts …): what matches."""
        return self._post(f"/{objects}/filter", body or {})

    def healthy(self) -> bool:
        return self._http.get("/health", timeout=2).status_code == 200

    def deployment(self, name: str) -> dict[str, Any] | None:
        found = self._post("/deployments/filter", {"deployments": {"name": {"any_": [name]}}})
        return found[0] if found else None

    def run_deployment(self, deployment_id: str, **parameters: Any) -> dict[str, Any]:
        """A flow run of the deployment, due now (a worker of its pool picks it up)."""
        body: dict[str, Any] = {"tags": ["touchline-serve"]}
        if parameters:
            body["parameters"] = parameters
        return self._post(f"/deployments/{deployment_id}/create_flow_run", body)

    def cancel_late_runs(self, pool: str) -> int:
        """Cancel the pool's scheduled runs whose time passed while no worker was there:
        a worker coming back would otherwise start them all at once (the schedule has
        already put the next ones in place)."""
        late = self._post(
            "/flow_runs/filter",
            {
                "flow_runs": {
                    "state": {"type": {"any_": ["SCHEDULED"]}},
                    "expected_start_time": {"before_": datetime.now(UTC).isoformat()},
                },
                "work_pools": {"name": {"any_": [pool]}},
                "limit": 200,
            },
        )
        for run in late:
            self._post(
                f"/flow_runs/{run['id']}/set_state",
                {
                    "state": {
                        "type": "CANCELLED",
                        "name": "Cancelled",
                        "message": "due while the stack was stopped; the schedule goes on",
                    },
                    "force": True,
                },
            )
        return len(late)

    def put_automation(self, spec: dict[str, Any]) -> str:
        """Create the automation named in ``spec``, or replace the one of that name (a
        restarted stack keeps its server's database): returns its id."""
        found = self._post(
            "/automations/filter", {"automations": {"name": {"any_": [spec["name"]]}}}
        )
        if found:
            automation_id = found[0]["id"]
            for extra in found[1:]:
                self._http.delete(f"/automations/{extra['id']}").raise_for_status()
            self._http.put(f"/automations/{automation_id}", json=spec).raise_for_status()
            return str(automation_id)
        return str(self._post("/automations/", spec)["id"])

    def deployments_without_scheduled_runs(self, names: list[str]) -> list[str]:
        """Those of the named deployments the scheduler has not yet given a scheduled run."""
        waiting = []
        for name in names:
            runs = self._post("/flow_runs/filter", {
                "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
                "deployments": {"name": {"any_": [name]}}, "limit": 1,
            })  # fmt: skip
            if not runs:
                waiting.append(name)
        return waiting

    def flow_run(self, flow_run_id: str) -> dict[str, Any]:
        response = self._http.get(f"/flow_runs/{flow_run_id}")
        response.raise_for_status()
        return response.json()

    def workers_seen_since(self, pool: str, since: datetime) -> set[str]:
        """Names of the pool's workers that have sent a heartbeat since ``since``."""
        rows = self._post(f"/work_pools/{pool}/workers/filter", {})
        seen = set()
        for row in rows:
            beat = row.get("last_heartbeat_time")
            if beat and datetime.fromisoformat(beat.replace("Z", "+00:00")) >= since:
                seen.add(row["name"])
        return seen
