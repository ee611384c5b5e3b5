"""The daily tripwire flow through Prefect: flags valuable customers slipping away once, dry runs
store nothing, and a retention journey triggered on the flag enrolls them."""

from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import START
from tests.touchline.insight.test_tripwires import NAMED, SHOPPERS, WINBACK, history
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
    assert dry["at_risk"] > 3 and (dry["flagged"], dry["enrolled"]) == (0, 0)
    first = flag_disengaging_customers(as_of=START)
    assert (first["customers"], first["flagged"], first["enrolled"]) == (
        SHOPPERS + len(NAMED), dry["at_risk"], 3,
    )  # fmt: skip
    # A retry of the same run: the same silences, nobody flagged or enrolled again.
    again = flag_disengaging_customers(as_of=START)
    assert (again["flagged"], again["already_flagged"], again["enrolled"]) == (
        0, first["flagged"], 0,
    )  # fmt: skip
    with db.session() as session:
        enrolled = session.execute(select(Enrollment.customer_id)).scalars().all()
    assert sorted(enrolled) == ["lost", "once", "vip"]
