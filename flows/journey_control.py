"""Pause, resume, stop or archive a journey from the Prefect UI ("Run" on the deployment,
with the journey's key and the reason).

The same function as `touchline journeys pause …` and the operator API: the change is
stored with who, when and why, and a pause returns once committed — from then on no
provider request of the journey starts, in any worker (touchline.lifecycle.fence).
Not retried: a refused change (the journey is already paused, say) is an answer, not a
failure to try again.
"""

from __future__ import annotations

from typing import Literal

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from touchline.clock import SystemClock
from touchline.config import get_settings
from touchline.db import Database
from touchline.lifecycle.states import ARCHIVED, DRAIN, EXIT, LIVE, PAUSED, STOPPED, change_state
from touchline.words import counted


def _run_name() -> str:
    params = flow_run.parameters
    return f"{flow_run.flow_name or 'change'} {params.get('journey', '?')}"


def _change(
    journey: str, to: str, reason: str, by: str, mode: str | None = None
) -> dict[str, object]:
    db = Database(get_settings().resolved_database_url)
    try:
        change = change_state(db, journey, to, reason=reason, who=by, now=SystemClock().now(),
                              stop_mode=mode)  # fmt: skip
    finally:
        db.dispose()
    get_run_logger().info(
        "%s: %s → %s%s by %s: %s%s", change.journey_key, change.from_state, change.to_state,
        f" ({change.stop_mode})" if change.stop_mode else "", change.changed_by, change.reason,
        f"; {counted(change.ended, 'enrollment')} ended" if change.ended else "",
    )  # fmt: skip
    return {"journey": change.journey_key, "from": change.from_state, "to": change.to_state,
            "stop_mode": change.stop_mode, "enrollments_ended": change.ended}  # fmt: skip


@flow(name="pause-journey", flow_run_name=_run_name)
def pause_journey(journey: str, reason: str, by: str = "prefect-ui") -> dict[str, object]:
    """No provider request starts once this has committed; enrolled customers hold at
    their next step; triggering events are recorded as not enrolled ("journey paused")."""
    return _change(journey, PAUSED, reason, by)


@flow(name="resume-journey", flow_run_name=_run_name)
def resume_journey(journey: str, reason: str, by: str = "prefect-ui") -> dict[str, object]:
    """Back to live: held enrollments go on at the next advance run."""
    return _change(journey, LIVE, reason, by)


@flow(name="stop-journey", flow_run_name=_run_name)
def stop_journey(
    journey: str, reason: str, mode: Literal["drain", "exit"], by: str = "prefect-ui"
) -> dict[str, object]:
    """drain: nobody new enters, enrollments in flight finish; exit: end them all now."""
    return _change(journey, STOPPED, reason, by, DRAIN if mode == "drain" else EXIT)


@flow(name="archive-journey", flow_run_name=_run_name)
def archive_journey(journey: str, reason: str, by: str = "prefect-ui") -> dict[str, object]:
    """A stopped (or draft) journey out of the way for good."""
    return _change(journey, ARCHIVED, reason, by)
