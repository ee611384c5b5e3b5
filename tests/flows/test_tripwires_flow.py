"""The daily tripwire flow through Prefect: flags the valuable quiet customer once, dry runs
store nothing, and a retention journey triggered on the flag enrolls them."""

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import START
from tests.touchline.insight.test_tripwires import WINBACK, history
from touchline.config import Settings
from touchline.db import Database
from touchline.journeys.loader import LoadedJourney
from touchline.journeys.model import JourneyDefinition
from touchline.journeys.store import publish
from touchline.record import Enrollment

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect")]


def test_the_flow_flags_once_and_the_journey_enrolls(settings: Settings, db: Database) -> None:
    from flows import _runtime
    from flows.tripwires import flag_disengaging_customers

    _runtime.reset()
    with db.session() as session:
        publish(session, LoadedJourney(JourneyDefinition.model_validate(WINBACK), Path("t")), START)
        session.commit()
    history(db)

    dry = flag_disengaging_customers(as_of=START, dry_run=True)
    assert (dry["overdue"], dry["flagged"], dry["enrolled"]) == (2, 0, 0)
    first = flag_disengaging_customers(as_of=START)
    assert (first["customers"], first["flagged"], first["enrolled"]) == (15, 1, 1)
    again = flag_disengaging_customers(as_of=START + timedelta(days=1))
    assert (again["flagged"], again["already_flagged"], again["enrolled"]) == (0, 1, 0)
    with db.session() as session:
        assert session.execute(select(Enrollment.customer_id)).scalars().all() == ["vip"]
