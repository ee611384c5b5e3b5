"""The final gate: a touch deferred by quiet hours is judged again, from the record as it is
when it goes out — through the engine, against the emulators, on both backends.

Customers live in Los Angeles; START is 06:00 there, so an SMS (company quiet hours
21:00–08:00) waits until 08:00 (16:00 UTC), and whatever happens meanwhile must count.
"""

from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from channels.webhooks import ProviderEvent
from preference_center.linking import link_identity, unlink_identity
from preference_center.merge import merge_customers
from sandbox import SandboxClient, ThreadedApp
from tests.conftest import START
from tests.touchline.engine.test_language import (
    advance,
    customer,
    event,
    journey,
    outcomes,
    phone,
    send,
)
from touchline.api import create_app
from touchline.clock import ManualClock
from touchline.content import TemplateCatalog
from touchline.db import Database
from touchline.engine import Engine
from touchline.inbound import record_provider_events
from touchline.links import unsubscribe_url
from touchline.record import Enrollment, Touch

LA = "America/Los_Angeles"
EIGHT_AM = START + timedelta(hours=2)  # 08:00 in Los Angeles: quiet hours are over
CONTEXT = """context:
  offer: {code: TEST10, discount_percent: 10, valid_days: 7}
  shop_url: https://shop.example/
"""
NUDGE = (
    """key: nudge
name: Cart nudge
purpose: marketing
topic: promotions
trigger: {event: cart.abandoned}
reentry: once
"""
    + CONTEXT
    + "steps:\n  - {id: nudge, type: send, channel: sms, template: welcome/nudge}\n"
)
NEWS = (
    """key: news
name: News
purpose: marketing
trigger: {event: news.published}
reentry: every_event
"""
    + CONTEXT
    + "steps:\n  - {id: news, type: send, channel: email, template: welcome/welcome}\n"
)


def abandoned(cid: str, at=START) -> dict:
    return event(f"cart-{cid}", "cart.abandoned", cid, at)


def nudged(db: Database, engine: Engine, catalog: TemplateCatalog, *cids: str, **extra) -> None:
    """Customers in Los Angeles with a cart nudge decided at 06:00 and deferred to 08:00."""
    journey(db, catalog, NUDGE)
    people = [customer(c, tz=LA) for c in cids]
    for person in people:
        person["preferences"].update(extra)
    send(db, *people, *(abandoned(c) for c in cids))
    report = advance(engine, START)
    assert report.count("deferred") == len(cids)


def nudge_of(db: Database, cid: str) -> tuple:
    _channel, kind, reason = outcomes(db)[(cid, "nudge")]
    return kind, reason or ""


def test_leaving_the_topic_while_deferred_stops_the_message(
    engine: Engine, db: Database, catalog: TemplateCatalog, sandbox_client: SandboxClient
) -> None:
    nudged(db, engine, catalog, "c1")
    leave = {**event("leave-1", "customer.consent_changed", "c1", START + timedelta(minutes=30)),
             "consents": [{"channel": "all", "topic": "promotions", "status": "revoked"}]}  # fmt: skip
    send(db, leave, now=START + timedelta(minutes=30))
    advance(engine, EIGHT_AM)
    kind, reason = nudge_of(db, "c1")
    assert kind == "skipped" and reason.startswith("left the topic before dispatch: ")
    assert "promotions" in reason and not sandbox_client.sms()


def test_an_address_suppressed_while_deferred_is_not_used(
    engine: Engine, db: Database, catalog: TemplateCatalog, sandbox_client: SandboxClient
) -> None:
    # Email, deferred by the customer's own quiet hours; a receipt (transactional: no
    # quiet hours) goes out meanwhile and hard-bounces.
    journey(db, catalog, NEWS)
    receipts = NEWS.replace("key: news", "key: receipts").replace(
        "purpose: marketing", "purpose: transactional"
    )
    journey(db, catalog, receipts.replace("news.published", "order.placed"))
    person = customer("c1", tz=LA)
    person["preferences"]["quiet_hours"] = {"start": "21:00", "end": "08:00"}
    send(db, person, event("news-1", "news.published", "c1", START))
    send(db, event("order-1", "order.placed", "c1", START))
    advance(engine, START)
    assert [e["to"] for e in sandbox_client.emails()] == ["c1@example.com"]  # the receipt
    with db.session() as session:
        receipt = session.execute(
            select(Touch.id).where(Touch.journey_key == "receipts")
        ).scalar_one()
        bounce = ProviderEvent("sendgrid", "bounce-1", "bounced", None, receipt, None, START)
        assert record_provider_events(session, [bounce], START + timedelta(minutes=5)).recorded == 1
    advance(engine, EIGHT_AM)
    kind, reason = outcomes(db)[("c1", "news")][1:]
    assert kind == "skipped"
    assert reason == "address suppressed before dispatch: the email address is suppressed (bounced)"
    assert len(sandbox_client.emails()) == 1


@pytest.mark.parametrize("limit", ["own", "company"])
def test_a_cap_filled_while_deferred_is_respected(
    limit: str,
    engine: Engine,
    db: Database,
    catalog: TemplateCatalog,
    sandbox_client: SandboxClient,
) -> None:
    if limit == "company":
        engine = Engine.from_settings(engine.settings.model_copy(update={"marketing_cap": 2}), db)
        nudged(db, engine, catalog, "c1")
    else:
        nudged(db, engine, catalog, "c1", max_per_week=2)
    journey(db, catalog, NEWS)
    for n in (1, 2):  # another journey sends twice by email (no quiet hours) meanwhile
        at = START + timedelta(minutes=10 * n)
        send(db, event(f"news-{n}", "news.published", "c1", at), now=at)
        advance(engine, at)
    assert len(sandbox_client.emails()) == 2
    advance(engine, EIGHT_AM)
    kind, reason = nudge_of(db, "c1")
    assert kind == "skipped" and reason.startswith("frequency cap reached before dispatch: ")
    assert ("own limit" if limit == "own" else "frequency cap: 2") in reason
    assert not sandbox_client.sms()  # 2 marketing messages, not 3, against a limit of 2
    if limit == "company":
        engine.close()


def test_a_number_given_to_someone_else_is_never_used(
    engine: Engine, db: Database, catalog: TemplateCatalog, sandbox_client: SandboxClient
) -> None:
    nudged(db, engine, catalog, "c1")
    send(db, customer("c2", tz=LA))
    with db.session() as session:
        unlink_identity(session, "c1", "phone", phone("c1"))
        unlink_identity(session, "c2", "phone", phone("c2"))
        link_identity(session, "c2", "phone", phone("c1"), source="support",
                      evidence={"ticket": "T-1"}, at=START + timedelta(minutes=30))  # fmt: skip
    advance(engine, EIGHT_AM)
    kind, reason = nudge_of(db, "c1")
    assert kind == "skipped"
    assert reason == "address changed before dispatch: no phone number on file"
    assert not sandbox_client.sms()  # c1's cart reminder never reaches c2's phone


def test_a_changed_number_gets_the_message_instead_of_the_old_one(
    engine: Engine, db: Database, catalog: TemplateCatalog, sandbox_client: SandboxClient
) -> None:
    nudged(db, engine, catalog, "c1")
    with db.session() as session:
        unlink_identity(session, "c1", "phone", phone("c1"))
        link_identity(session, "c1", "phone", "+14155559999", source="support",
                      evidence={"ticket": "T-2"}, at=START + timedelta(minutes=30))  # fmt: skip
    advance(engine, EIGHT_AM)
    assert nudge_of(db, "c1")[0] == "sent"
    assert [m["to"] for m in sandbox_client.sms()] == ["+14155559999"]
    with db.session() as session:
        touch = session.execute(select(Touch).where(Touch.step_id == "nudge")).scalar_one()
    assert touch.address == "+14155559999"  # provider events concern the number used


def test_merged_profiles_get_one_nudge(
    engine: Engine, db: Database, catalog: TemplateCatalog, sandbox_client: SandboxClient
) -> None:
    nudged(db, engine, catalog, "c1", "c2")
    with db.session() as session:
        merge_customers(session, "c2", "c1", actor="ops", reason="same person",
                        evidence={"ticket": "T-3"}, at=START + timedelta(minutes=30))  # fmt: skip
    with db.session() as session:
        rows = session.execute(select(Enrollment).where(Enrollment.journey_key == "nudge"))
        states = {e.id: (e.customer_id, e.status, e.end_reason) for e in rows.scalars()}
    assert sorted(states.values(), key=str) == [
        ("c1", "active", None),
        ("c1", "exited", "merged into c1: already enrolled"),
    ]
    advance(engine, EIGHT_AM)
    assert len(sandbox_client.sms()) == 1  # reentry: once — one person, one nudge


def test_profiles_merged_before_merges_ended_enrollments_still_get_one_nudge(
    engine: Engine, db: Database, catalog: TemplateCatalog, sandbox_client: SandboxClient
) -> None:
    nudged(db, engine, catalog, "c1", "c2")
    with db.session() as session:
        merge_customers(session, "c2", "c1", actor="ops", reason="same person",
                        evidence={"ticket": "T-4"}, at=START + timedelta(minutes=30))  # fmt: skip
        # As a merge made before this release left it: both enrollments active on c1.
        session.execute(
            update(Enrollment)
            .where(Enrollment.status == "exited")
            .values(status="active", ended_at=None, end_reason=None, next_action_at=EIGHT_AM)
        )
    advance(engine, EIGHT_AM)
    assert len(sandbox_client.sms()) == 1
    with db.session() as session:
        rows = session.execute(select(Enrollment.status, Enrollment.end_reason)).all()
    assert sorted(rows, key=str) == [
        ("completed", "reached the end of the journey"),
        ("exited", "merged into c1: already enrolled"),
    ]


def test_a_stop_while_deferred_is_still_honoured(
    engine: Engine, db: Database, catalog: TemplateCatalog, sandbox_client: SandboxClient
) -> None:
    nudged(db, engine, catalog, "c1")
    stop = {**event("stop-1", "customer.consent_changed", "c1", START + timedelta(minutes=5)),
            "consents": [{"channel": "sms", "status": "revoked", "evidence": {"keyword": "STOP"}}]}  # fmt: skip
    send(db, stop, now=START + timedelta(minutes=5))
    advance(engine, EIGHT_AM)
    kind, reason = nudge_of(db, "c1")
    assert kind == "skipped" and reason.startswith("consent changed before dispatch: opted out")
    assert not sandbox_client.sms()


def test_a_send_pushed_into_quiet_hours_by_retries_waits_again(
    engine: Engine, db: Database, catalog: TemplateCatalog, sandbox_client: SandboxClient
) -> None:
    journey(db, catalog, NUDGE)
    send(db, customer("c1", tz=LA), abandoned("c1", START + timedelta(hours=12)),
         now=START + timedelta(hours=12))  # fmt: skip
    twenty_to_nine_pm = START + timedelta(hours=14, minutes=40)  # 20:40 in Los Angeles
    broken = Engine.from_settings(
        engine.settings.model_copy(update={"twilio_auth_token": SecretStr("revoked")}), db
    )
    report = advance(broken, twenty_to_nine_pm)
    broken.close()
    assert report.aborted and not sandbox_client.sms()
    late = twenty_to_nine_pm + timedelta(hours=1)  # fixed at 21:40: within quiet hours
    report = advance(engine, late)
    assert report.count("deferred") == 1 and not sandbox_client.sms()
    with db.session() as session:
        waiting = session.execute(select(Enrollment)).scalar_one()
    assert waiting.next_action_at == START + timedelta(days=1, hours=2)  # 08:00 next day
    advance(engine, waiting.next_action_at)
    assert len(sandbox_client.sms()) == 1 and nudge_of(db, "c1")[0] == "sent"


@pytest.fixture
def api(settings, db: Database, api_server: ThreadedApp) -> httpx.Client:
    api_server.start(create_app(settings, db, ManualClock(START + timedelta(minutes=1))))
    with httpx.Client(base_url=api_server.url, timeout=10) as client:
        yield client


def test_a_one_click_unsubscribe_outranks_a_grant_dated_ahead(
    engine: Engine, db: Database, catalog: TemplateCatalog, sandbox_client: SandboxClient,
    api: httpx.Client,
) -> None:  # fmt: skip
    # A grant dated four minutes ahead (a sender's fast clock, within the tolerance), then
    # the customer unsubscribes: the unsubscribe is what Touchline heard last.
    journey(db, catalog, NEWS)
    grant = {**event("grant-1", "customer.consent_changed", "c1", START + timedelta(minutes=4)),
             "consents": [{"channel": "email", "status": "granted"}]}  # fmt: skip
    send(db, customer("c1", tz=LA), grant)
    settings = engine.settings
    url = unsubscribe_url(settings.public_url, settings.link_secret.get_secret_value(),
                          customer_id="c1", channel="email", touch_id="t")  # fmt: skip
    response = api.post(
        url.removeprefix(settings.public_url),
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert "You are unsubscribed" in response.text
    send(db, event("news-1", "news.published", "c1", START + timedelta(minutes=2)),
         now=START + timedelta(minutes=2))  # fmt: skip
    advance(engine, START + timedelta(minutes=2))
    assert outcomes(db)[("c1", "news")][1] == "skipped"
    assert not sandbox_client.emails()
