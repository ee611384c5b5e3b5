"""A launch at a later time: a scheduled flow run of the ``launch-campaign`` deployment.

Prefect holds the schedule (it shows in the UI, where it can be cancelled or moved), and
the worker that picks it up at that time runs the same launch as ``touchline launch`` —
from the segment file's absolute path, so the worker finds it wherever it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from touchline.errors import LaunchError

DEPLOYMENT = "launch-campaign/launch-campaign"  # flow name / deployment name (prefect.yaml)


@dataclass(frozen=True)
class ScheduledLaunch:
    flow_run_id: str
    flow_run_name: str
    at: datetime
    deployment: str


def schedule_launch(
    journey: str,
    segment: Path,
    at: datetime,
    *,
    now: datetime,
    name: str | None = None,
    deployment: str = DEPLOYMENT,
) -> ScheduledLaunch:
    if at.tzinfo is None or at.utcoffset() is None:
        raise LaunchError(
            f"--at {at.isoformat()} needs a time zone, e.g. 2026-12-01T09:00:00+01:00"
        )
    if at <= now:
        raise LaunchError(
            f"--at {at.isoformat()} has passed (it is {now.isoformat(timespec='seconds')}); "
            "leave --at out to launch now"
        )
    # Imported here: Prefect's import costs seconds that `touchline launch` without --at
    # should not pay.
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    parameters = {"journey": journey, "segment": str(segment.resolve()), "name": name}
    try:
        run = run_deployment(
            deployment, parameters=parameters, scheduled_time=at, timeout=0, as_subflow=False,
            tags=["touchline", "launch", "scheduled"],
        )  # fmt: skip
    except ObjectNotFound as exc:
        raise LaunchError(
            f"no deployment '{deployment}' on the Prefect server: deploy it (`touchline serve` "
            "or `prefect deploy --all`) before scheduling launches"
        ) from exc
    return ScheduledLaunch(str(run.id), run.name, at, deployment)
