"""A campaign launched through Prefect: the launch flow enrolls the segment, the advance
flow sends, the emulators receive exactly one message per sent touch."""

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from sandbox import SandboxClient, SandboxServer
from tests.conftest import START
from tests.touchline.engine.test_language import customer, send
from touchline.config import Settings
from touchline.db import Database
from touchline.record import Interaction, Touch

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect", "published")]


def test_a_launch_through_prefect_is_sent_once_per_customer(
    settings: Settings, db: Database, emulators: SandboxServer, sandbox_client: SandboxClient,
    tmp_path: Path,
) -> None:  # fmt: skip
    from flows import _runtime
    from flows.advance import advance_journeys
    from flows.launch import launch_campaign

    _runtime.reset()
    customers = [f"c{n}" for n in range(1, 61)]
    send(db, *(customer(c) for c in customers))
    csv = tmp_path / "december.csv"
    csv.write_text("customer_id\n" + "\n".join(customers) + "\nnobody\n")

    first = launch_campaign("winter_sale", str(csv), as_of=START)
    again = launch_campaign("winter_sale", str(csv), as_of=START)
    assert (first["enrolled"], first["unknown_customers"], first["rows_read"]) == (60, 1, 61)
    assert again["enrolled"] == 0

    for hours in (0, 12):
        advance_journeys(as_of=START + timedelta(hours=hours))

    with db.session() as session:
        sent = dict(
            session.execute(
                select(Touch.id, Touch.channel)
                .join(Interaction, Interaction.touch_id == Touch.id)
                .where(Touch.journey_key == "winter_sale", Interaction.kind == "sent")
            ).all()
        )
    received = Counter(m["touch_id"] for m in sandbox_client.emails() + sandbox_client.sms())
    assert 45 <= len(sent) <= 60  # a tenth or so held out
    assert all(received[touch] == 1 for touch in sent)


def test_the_advance_flow_in_two_processes_sends_each_touch_once(
    settings: Settings, db: Database, emulators: SandboxServer, sandbox_client: SandboxClient,
    tmp_path: Path,
) -> None:  # fmt: skip
    from flows import _runtime
    from flows.advance import advance_journeys
    from flows.launch import launch_campaign

    _runtime.reset()
    customers = [f"p{n}" for n in range(1, 201)]
    send(db, *(customer(c) for c in customers))
    csv = tmp_path / "parallel.csv"
    csv.write_text("customer_id\n" + "\n".join(customers) + "\n")
    launch_campaign("winter_sale", str(csv), as_of=START)

    totals = [
        advance_journeys(as_of=START + timedelta(hours=h), batch_size=20, processes=2)
        for h in (0, 12)
    ]

    with db.session() as session:
        sent = set(
            session.execute(
                select(Touch.id)
                .join(Interaction, Interaction.touch_id == Touch.id)
                .where(Touch.journey_key == "winter_sale", Interaction.kind == "sent")
            ).scalars()
        )
    received = Counter(m["touch_id"] for m in sandbox_client.emails() + sandbox_client.sms())
    assert len(sent) >= 150
    # The sign-ups' welcome emails went in the same runs.
    assert sum(t["sent"] for t in totals) == len(sent) + 200
    assert all(received[touch] == 1 for touch in sent)
