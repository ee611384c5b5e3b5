"""A complaint on X starts service recovery, end to end: the X emulator posts a signed
Account Activity mention to Touchline's API, the service_recovery journey enrolls the
customer linked to the handle, and advancing it sends the apology DM through tweepy to the
emulator. A DM reply counts as engagement; silence, or DMs closed to us, brings the email."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from sandbox import SandboxClient, ThreadedApp
from tests.conftest import START
from touchline.api import create_app
from touchline.clock import ManualClock
from touchline.config import Settings
from touchline.db import Database
from touchline.engine import BatchReport, Engine, advance_next_batch
from touchline.intake.ingest import ingest
from touchline.record import Enrollment, Interaction, Touch

COMPLAINT = "three weeks and still no refund. Not impressed."


@pytest.fixture
def world(
    settings: Settings,
    db: Database,
    api_server: ThreadedApp,
    clock: ManualClock,
    sandbox_client: SandboxClient,
    published: None,
) -> Iterator[SandboxClient]:
    api_server.start(create_app(settings, db, clock))
    report = ingest(db, [(n, {
        "id": f"signup-{cid}", "type": "customer.signed_up", "customer_id": cid,
        "occurred_at": START.isoformat(),
        "profile": {"email": f"{cid}@example.com", "x_handle": handle,
                    "attributes": {"first_name": cid.title()}},
    }) for n, (cid, handle) in enumerate([("ada", "@Ada_Lovelace"), ("pat", "private_pat")])],
        now=START, source="signup_form", settings=settings)  # fmt: skip
    assert not report.rejected, report.rejected
    sandbox_client.configure(
        x_webhook_url=f"{api_server.url}/webhooks/x", x_closed_dm_handles=["private_pat"]
    )
    sandbox_client.set_time(clock.now())
    yield sandbox_client
    sandbox_client.configure(x_closed_dm_handles=["dmsclosed"])


def advance(engine: Engine, clock: ManualClock, sandbox: SandboxClient) -> BatchReport:
    sandbox.set_time(clock.now())
    total = BatchReport()
    while (report := advance_next_batch(engine, clock.now())).claimed:
        total.merge(report)
    return total


def touches(db: Database, customer: str) -> dict[str, tuple[str | None, list[str]]]:
    """step -> (channel, interaction kinds but the dispatching marker)"""
    with db.session() as session:
        rows = session.execute(
            select(Touch.step_id, Touch.channel, Interaction.kind)
            .join(Interaction, Interaction.touch_id == Touch.id, isouter=True)
            .where(Touch.customer_id == customer)
            .order_by(Interaction.occurred_at)
        ).all()
    found: dict[str, tuple[str | None, list[str]]] = {}
    for step, channel, kind in rows:
        kinds = found.setdefault(step, (channel, []))[1]
        if kind != "dispatching":
            kinds.append(kind)
    return found


def test_a_mention_starts_service_recovery_and_the_dm_goes_through_tweepy(
    world: SandboxClient, engine: Engine, db: Database, clock: ManualClock
) -> None:
    answer = world.x_inbound("Ada_Lovelace", COMPLAINT, kind="mention")
    assert answer["posted"] and answer["response"] == {
        "recorded": 1, "duplicates": 0, "unmatched": 0,
    }  # fmt: skip
    with db.session() as session:
        [enrollment] = session.execute(
            select(Enrollment).where(Enrollment.journey_key == "service_recovery")
        ).scalars()
    assert enrollment.customer_id == "ada"

    advance(engine, clock, world)

    [dm] = world.direct_messages(to="ada_lovelace")
    assert dm["direction"] == "outbound" and dm["text"].startswith("Hi Ada, this is")
    with db.session() as session:
        touch = session.execute(
            select(Touch).where(Touch.customer_id == "ada", Touch.step_id == "apology_dm")
        ).scalar_one()
        sent = session.execute(
            select(Interaction).where(Interaction.touch_id == touch.id, Interaction.kind == "sent")
        ).scalar_one()
    assert (touch.channel, dm["touch_id"]) == ("x", touch.id)
    assert (sent.provider, sent.provider_message_id) == ("x", dm["id"])
    assert world.stats()["duplicate_touches"] == {}

    # Ada answers the DM: a reply on the touch, which proves the apology arrived.
    clock.advance(timedelta(hours=2))
    world.set_time(clock.now())
    reply = world.x_inbound("ada_lovelace", "Order 1234, thanks for getting back to me", "dm")
    assert reply["response"]["recorded"] == 1
    assert touches(db, "ada")["apology_dm"] == ("x", ["sent", "replied"])

    clock.advance(timedelta(days=1))
    advance(engine, clock, world)
    assert world.emails() == []  # answered: no email
    with db.session() as session:
        ended = session.get(Enrollment, enrollment.id)
        assert (ended.status, ended.end_reason) == ("completed", "left at answered: condition true")


def test_dms_closed_to_us_fail_for_that_message_and_the_email_follows(
    world: SandboxClient, engine: Engine, db: Database, clock: ManualClock
) -> None:
    world.x_inbound("private_pat", f"@touchline {COMPLAINT}", kind="mention")
    advance(engine, clock, world)
    assert world.direct_messages(to="private_pat") == []
    channel, kinds = touches(db, "pat")["apology_dm"]
    assert (channel, kinds) == ("x", ["failed"])

    clock.advance(timedelta(days=1, minutes=1))
    advance(engine, clock, world)
    [email] = world.emails()
    assert email["to"] == "pat@example.com"
    assert COMPLAINT in email["text"]


def test_a_dm_starts_service_recovery_only_when_it_reads_like_a_complaint(
    world: SandboxClient, db: Database
) -> None:
    world.x_inbound("Ada_Lovelace", "Loved the boots, thank you!", kind="dm")
    with db.session() as session:
        assert not session.execute(
            select(Enrollment).where(Enrollment.journey_key == "service_recovery")
        ).first()
    world.x_inbound("Ada_Lovelace", COMPLAINT, kind="dm")  # "refund"
    with db.session() as session:
        [enrollment] = session.execute(
            select(Enrollment).where(Enrollment.journey_key == "service_recovery")
        ).scalars()
    assert enrollment.customer_id == "ada"
