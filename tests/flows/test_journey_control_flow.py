"""An operator pauses a journey from the Prefect UI: the deployment's flow, run by Prefect,
stores the change with who and why; a change the state refuses fails the run, naming why."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from touchline.config import Settings
from touchline.db import Database
from touchline.lifecycle.states import LifecycleError
from touchline.record import JourneyStateChange

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect", "published")]


def test_pause_and_resume_through_prefect(settings: Settings, db: Database) -> None:
    from flows.journey_control import pause_journey, resume_journey, stop_journey

    result = pause_journey(journey="welcome", reason="legal review", by="ana")
    assert result == {"journey": "welcome", "from": "live", "to": "paused", "stop_mode": None,
                      "enrollments_ended": 0}  # fmt: skip
    with pytest.raises(LifecycleError, match="welcome is paused; it cannot become paused"):
        pause_journey(journey="welcome", reason="twice")
    resume_journey(journey="welcome", reason="approved")
    assert stop_journey(journey="welcome", reason="season over", mode="drain")["to"] == "stopped"
    with db.session() as session:
        changes = session.execute(select(JourneyStateChange).order_by(JourneyStateChange.id))
        rows = [(c.to_state, c.stop_mode, c.changed_by, c.reason) for c in changes.scalars()]
    assert rows == [
        ("paused", None, "ana", "legal review"),
        ("live", None, "prefect-ui", "approved"),
        ("stopped", "drain", "prefect-ui", "season over"),
    ]
