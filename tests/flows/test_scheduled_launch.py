"""A launch scheduled for later is a Prefect scheduled run of the launch deployment; the
deployment's dry_run parameter reports the reach and enrolls nobody."""

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import START
from tests.touchline.engine.test_language import customer, send
from touchline.db import Database
from touchline.errors import LaunchError
from touchline.record import Enrollment

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect", "published", "settings")]


def test_at_schedules_a_run_of_the_launch_deployment(tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client

    from flows.launch import launch_campaign
    from touchline.launch.schedule import schedule_launch

    launch_campaign.to_deployment(name="launch-campaign").apply()
    csv = tmp_path / "december.csv"
    csv.write_text("customer_id\nc1\n")
    at = START + timedelta(days=3)
    scheduled = schedule_launch("winter_sale", csv, at, now=START)
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(scheduled.flow_run_id)
    assert run.state is not None and run.state.is_scheduled()
    assert run.expected_start_time == at
    assert run.parameters == {"journey": "winter_sale", "segment": str(csv.resolve()), "name": None}
    with pytest.raises(LaunchError, match="has passed"):
        schedule_launch("winter_sale", csv, START - timedelta(minutes=1), now=START)


def test_the_deployment_dry_run_enrolls_nobody(db: Database, tmp_path: Path) -> None:
    from flows import _runtime
    from flows.launch import launch_campaign

    _runtime.reset()
    send(db, *(customer(f"c{n}") for n in range(1, 21)))
    csv = tmp_path / "december.csv"
    csv.write_text("customer_id\n" + "\n".join(f"c{n}" for n in range(1, 21)) + "\nnobody\n")
    result = launch_campaign("winter_sale", str(csv), as_of=START, dry_run=True)
    assert result["rows"] == 21 and result["unknown_customers"] == 1
    assert result["would_enter"] + result["held_out"] == 20
    with db.session() as session:
        launched = select(func.count()).where(Enrollment.journey_key == "winter_sale")
        assert session.execute(launched).scalar_one() == 0
