"""The deployed path's two flows: a genesis event carried by a Prefect event is ingested
once, and the continuous advance sends what becomes due while it polls."""

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from sandbox import SandboxClient
from tests.conftest import START
from tests.touchline.engine.test_language import customer
from touchline.config import Settings
from touchline.db import Database
from touchline.record import Enrollment, Event, Touch

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect", "published")]


def count(db: Database, table: type) -> int:
    with db.session() as session:
        return session.execute(select(func.count()).select_from(table)).scalar_one()


def test_an_event_from_a_prefect_trigger_is_ingested_once(settings: Settings, db: Database) -> None:
    from flows import _runtime
    from flows.intake import ingest_event

    _runtime.reset()
    event = customer("ada")
    first = ingest_event(event, as_of=START)
    again = ingest_event(event, as_of=START)
    assert (first["accepted"], first["enrolled"]) == ([event["id"]], 1)
    assert (again["accepted"], again["duplicates"], again["enrolled"]) == ([], [event["id"]], 0)
    with pytest.raises(ValueError, match="occurred_at: needs a time zone"):
        ingest_event({**event, "id": "bad-1", "occurred_at": "2026-11-23T09:00:00"}, as_of=START)
    # The tracking plan applies to the Prefect trigger as to every other way in.
    with pytest.raises(ValueError, match=r"did you mean 'customer\.signed_up'"):
        ingest_event({**event, "id": "bad-2", "type": "customer.signedup"}, as_of=START)
    assert count(db, Event) == 1


def test_the_continuous_advance_sends_work_that_arrives_while_it_polls(
    settings: Settings, db: Database, sandbox_client: SandboxClient
) -> None:
    from flows import _runtime
    from flows.advance import advance_continuously
    from touchline.intake.ingest import ingest

    _runtime.reset()
    arrived: dict[str, float] = {}

    def arrive_later() -> None:
        time.sleep(1.0)  # after the flow has polled idle a few times
        arrived["at"] = time.monotonic()
        ingest(db, [(1, customer("grace"))], now=START - timedelta(minutes=1), source="api",
               settings=settings)  # fmt: skip

    producer = threading.Thread(target=arrive_later)
    producer.start()
    result = advance_continuously(minutes=4 / 60, poll_seconds=0.2)
    producer.join()
    assert result["claimed"] >= 1 and result["sent"] >= 1
    with db.session() as session:
        touch = session.execute(select(Touch).where(Touch.customer_id == "grace")).scalars().first()
        enrollment = session.execute(select(Enrollment)).scalar_one()
    assert touch is not None and enrollment.current_step != "welcome_email"
    assert [m["touch_id"] for m in sandbox_client.emails()] == [touch.id]
