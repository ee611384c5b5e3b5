"""Two profiles of one person, merged: what the property test (tests/properties) found,
each kept as a plain test — through the engine, the API and the emulators, on both backends.
"""

import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from preference_center.merge import merge_customers
from sandbox import SandboxClient, ThreadedApp
from tests.conftest import START
from tests.touchline.engine.test_language import advance, customer, event, journey, send
from touchline.api import create_app
from touchline.clock import ManualClock
from touchline.content import TemplateCatalog
from touchline.db import Database
from touchline.engine import Engine
from touchline.record import Consent, Enrollment

CONTEXT = """context:
  offer: {code: TEST10, discount_percent: 10, valid_days: 7}
  shop_url: https://shop.example/
"""
NEWS = (
    """key: news
name: News
purpose: marketing
trigger: {event: cart.abandoned}
reentry: every_event
"""
    + CONTEXT
    + "steps:\n  - {id: news, type: send, channel: email, template: welcome/welcome}\n"
)
WELCOME = (
    """key: hello
name: Hello
purpose: marketing
trigger: {event: customer.signed_up}
reentry: once
"""
    + CONTEXT
    + "steps:\n  - {id: hello, type: send, channel: email, template: welcome/welcome}\n"
)
LATER = START + timedelta(minutes=30)


def merged(db: Database, source: str, target: str) -> None:
    with db.session() as session:
        merge_customers(session, source, target, actor="ops", reason="same person",
                        evidence={"ticket": "T-9"}, at=START + timedelta(minutes=10))  # fmt: skip


def guest(cid: str) -> dict:
    """A first contact without a sign-up: a guest checkout's cart (below any trigger)."""
    return {**customer(cid), "id": f"guest-{cid}", "type": "cart.abandoned",
            "payload": {"cart": {"total": 1}}}  # fmt: skip


@pytest.fixture
def api(settings, db: Database, api_server: ThreadedApp) -> httpx.Client:
    api_server.start(create_app(settings, db, ManualClock(START + timedelta(minutes=20))))
    with httpx.Client(base_url=api_server.url, timeout=10) as client:
        yield client


def test_an_unsubscribe_link_of_a_merged_away_profile_stops_the_survivors_mail(
    engine: Engine, db: Database, catalog: TemplateCatalog, sandbox_client: SandboxClient,
    api: httpx.Client,
) -> None:  # fmt: skip
    journey(db, catalog, NEWS)
    send(db, customer("c1"), customer("c2"), event("news-1", "cart.abandoned", "c2", START))
    advance(engine, START)
    [email] = sandbox_client.emails()
    assert email["to"] == "c2@example.com"
    merged(db, "c2", "c1")
    # c2's email, sent before the merge, carries c2 in its link; c1 is the person now.
    url = re.search(r"<(https?://[^>]+)>", email["headers"]["List-Unsubscribe"]).group(1)
    response = api.post(
        url.removeprefix(engine.settings.public_url),
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert "You are unsubscribed" in response.text
    with db.session() as session:
        row = session.execute(
            select(Consent).where(Consent.source == "unsubscribe_link")
        ).scalar_one()
    assert (row.customer_id, row.channel, row.status) == ("c1", "email", "revoked")
    assert row.evidence["link_issued_for"] == "c2"
    send(db, event("news-2", "cart.abandoned", "c1", LATER), now=LATER)
    advance(engine, LATER)
    assert len(sandbox_client.emails()) == 1  # not a second one, to either address


def test_a_once_journey_is_not_entered_again_by_the_profile_a_participant_was_merged_into(
    engine: Engine, db: Database, catalog: TemplateCatalog, sandbox_client: SandboxClient
) -> None:
    journey(db, catalog, WELCOME)
    send(db, guest("c1"), customer("c2"))  # c2 signs up and is welcomed; c1 only shopped
    advance(engine, START)
    assert [e["to"] for e in sandbox_client.emails()] == ["c2@example.com"]
    merged(db, "c2", "c1")  # c2's enrollment (completed) moves to c1
    # Now c1 signs up too: the same person, already welcomed.
    send(db, {**customer("c1"), "id": "signup-c1-later", "occurred_at": LATER.isoformat()},
         now=LATER)  # fmt: skip
    advance(engine, LATER)
    assert len(sandbox_client.emails()) == 1
    with db.session() as session:
        assert session.execute(select(Enrollment.customer_id)).scalars().all() == ["c1"]


@pytest.mark.parametrize("first_one", ["completed", "waiting"])
def test_merged_into_a_profile_just_enrolled_the_first_enrollment_goes_on(
    first_one: str,
    engine: Engine,
    db: Database,
    catalog: TemplateCatalog,
    sandbox_client: SandboxClient,
) -> None:
    # c1 is welcomed first; c2 signs up later and is enrolled, not yet sent anything; then
    # c1 is merged into c2. The person was welcomed: c2's fresh enrollment ends, and c1's
    # goes on (to its follow-up, when it has one) — whichever profile survives.
    follow_up = "  - {id: wait, type: wait, duration: 1h}\n  - {id: again, type: send, channel: email, template: welcome/welcome}\n"  # fmt: skip
    journey(db, catalog, WELCOME + (follow_up if first_one == "waiting" else ""))
    send(db, customer("c1"), guest("c2"))
    advance(engine, START)
    at = START + timedelta(minutes=5)
    send(db, {**customer("c2"), "id": "signup-c2-later", "occurred_at": at.isoformat()}, now=at)
    merged(db, "c1", "c2")
    with db.session() as session:
        ended = session.execute(
            select(Enrollment.trigger_event_id).where(Enrollment.status == "exited")
        ).scalars()
        assert list(ended) == ["signup-c2-later"]
    advance(engine, START + timedelta(hours=2))
    steps = [e["custom_args"].get("step") or e["subject"] for e in sandbox_client.emails()]
    assert len(steps) == (2 if first_one == "waiting" else 1)  # hello once (and the follow-up)


def test_merged_into_a_profile_whose_welcome_waits_the_one_that_was_sent_goes_on(
    engine: Engine, db: Database, catalog: TemplateCatalog, sandbox_client: SandboxClient
) -> None:
    # Both sign up at the same moment; c2's welcome waits for the end of c2's quiet hours,
    # c1's goes out. Merged into c2, the person has been welcomed: c2's waiting one ends.
    journey(db, catalog, WELCOME)
    quiet = customer("c2")
    quiet["preferences"]["quiet_hours"] = {"start": "09:00", "end": "18:00"}  # London, 14:00
    send(db, customer("c1"), quiet)
    advance(engine, START)
    assert [e["to"] for e in sandbox_client.emails()] == ["c1@example.com"]
    merged(db, "c1", "c2")
    advance(engine, START + timedelta(hours=6))
    assert len(sandbox_client.emails()) == 1
