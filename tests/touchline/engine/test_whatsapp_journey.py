"""A journey that sends on WhatsApp, through the engine, the real Twilio SDK and the
emulator, on both backends: free text for a customer whose 24-hour session window is open
(they wrote to us), the approved template for everyone else, and a failed touch with its
reason when there is no approved template. The window is opened by the customer's message
arriving through Twilio's signed inbound webhook, which also carries their STOP."""

import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from preference_center import load_profiles
from sandbox import SandboxClient, ThreadedApp
from sandbox.signing import twilio_signature
from tests.conftest import START
from touchline.api import create_app
from touchline.clock import ManualClock
from touchline.config import PROJECT_ROOT, Settings
from touchline.content import TemplateCatalog
from touchline.db import Database
from touchline.engine import BatchReport, Engine, advance_next_batch
from touchline.intake import ingest
from touchline.journeys.loader import LoadedJourney, parse_journey
from touchline.journeys.store import publish
from touchline.record import Consent, Event, Interaction, Suppression, Touch

CART_TEMPLATE = "HX3c1f0a9b8e7d6c5b4a39281706f5e4d3"  # templates/cart/reminder.whatsapp.yaml
NUMBERS = {"ada": "+14155550101", "bea": "+14155550102", "cy": "+14155550103"}
JOURNEY = """key: cart_whatsapp
name: Cart reminder on WhatsApp
purpose: marketing
trigger: {event: cart.abandoned}
reentry: every_event
steps:
  - {id: cart_whatsapp, type: send, channel: whatsapp, template: cart/reminder}
"""


@pytest.fixture
def api(
    settings: Settings,
    db: Database,
    api_server: ThreadedApp,
    clock: ManualClock,
    sandbox_client: SandboxClient,
) -> Iterator[httpx.Client]:
    """Touchline's API, where the emulator posts what customers write to our WhatsApp
    sender; sandbox time and Touchline's clock start together."""
    api_server.start(create_app(settings, db, clock))
    sandbox_client.configure(inbound_sms_url=f"{settings.public_url}/webhooks/twilio/inbound")
    sandbox_client.set_time(START)
    with httpx.Client(base_url=api_server.url, timeout=10) as client:
        yield client


def publish_journey(db: Database, catalog: TemplateCatalog) -> None:
    with db.session() as session:
        definition = parse_journey(JOURNEY, "cart_whatsapp.yaml", catalog)
        publish(session, LoadedJourney(definition, PROJECT_ROOT / "journeys" / "x.yaml"), START)


def signups(db: Database, *customers: str) -> None:
    events = [
        {
            "id": f"signup-{c}", "type": "customer.signed_up", "customer_id": c,
            "occurred_at": (START - timedelta(days=1)).isoformat(),
            "profile": {"whatsapp": NUMBERS[c], "attributes": {"first_name": c.title()}},
            "consents": [{"channel": "whatsapp", "status": "granted"}],
        }
        for c in customers
    ]  # fmt: skip
    report = ingest(db, [(n, json.dumps(e)) for n, e in enumerate(events, 1)], now=START - timedelta(days=1), source="test")  # fmt: skip
    assert not report.rejected, report.rejected


def abandon(db: Database, at: datetime, *customers: str) -> None:
    events = [
        {
            "id": f"cart-{c}-{int(at.timestamp())}", "type": "cart.abandoned", "customer_id": c,
            "occurred_at": at.isoformat(),
            "payload": {"cart": {"total": 42, "url": f"https://shop.example/cart/{c}",
                                 "items": [{"name": "Trail shoes", "price": 42}]}},
        }
        for c in customers
    ]  # fmt: skip
    report = ingest(db, [(n, json.dumps(e)) for n, e in enumerate(events, 1)], now=at, source="test")  # fmt: skip
    assert not report.rejected, report.rejected


def writes(
    sandbox_client: SandboxClient, clock: ManualClock, customer: str, body: str, at: datetime
) -> dict:
    """The customer writes to us on WhatsApp at ``at``: the emulator opens their window and
    posts the signed inbound webhook to Touchline."""
    clock.set(at)
    sandbox_client.set_time(at)
    answer = sandbox_client.whatsapp_inbound(NUMBERS[customer], body, profile_name=customer)
    assert (answer["posted"], answer["status"]) == (True, 200), answer
    return answer


def advance(engine: Engine, sandbox_client: SandboxClient, now: datetime) -> BatchReport:
    sandbox_client.set_time(now)
    total = BatchReport()
    while (report := advance_next_batch(engine, now)).claimed:
        total.merge(report)
    return total


def outcomes(db: Database) -> dict[str, tuple[str, dict]]:
    """customer -> (outcome, detail) of the WhatsApp step."""
    with db.session() as session:
        rows = session.execute(
            select(Touch.customer_id, Interaction.kind, Interaction.detail)
            .join(Interaction, Interaction.touch_id == Touch.id)
            .where(Interaction.kind.in_(["sent", "failed", "skipped"]))
        ).all()
    return {customer: (kind, detail) for customer, kind, detail in rows}


def test_free_text_inside_the_window_and_the_approved_template_outside_it(
    api: httpx.Client,
    engine: Engine,
    db: Database,
    catalog: TemplateCatalog,
    clock: ManualClock,
    sandbox_client: SandboxClient,
) -> None:
    publish_journey(db, catalog)
    signups(db, "ada", "bea", "cy")
    writes(sandbox_client, clock, "cy", "Do you have these in blue?", START)  # closes at +24h
    writes(sandbox_client, clock, "ada", "Do you ship to Canada?", START + timedelta(hours=22))
    later = START + timedelta(hours=25)
    abandon(db, later, "ada", "bea", "cy")

    report = advance(engine, sandbox_client, later)

    assert report.count("sent") == 3
    sent = outcomes(db)
    assert {c: (kind, detail["form"]) for c, (kind, detail) in sent.items()} == {
        "ada": ("sent", "session"),  # wrote 3 hours ago
        "bea": ("sent", "template"),  # never wrote
        "cy": ("sent", "template"),  # wrote 25 hours ago: the window closed
    }
    assert sent["bea"][1]["content_sid"] == CART_TEMPLATE
    assert sent["bea"][1]["content_variables"] == {
        "1": "Bea",
        "2": "$42.00",
        "3": "https://shop.example/cart/bea",
    }
    received = {m["to"]: m for m in sandbox_client.sms()}
    ada = received[f"whatsapp:{NUMBERS['ada']}"]
    assert ada["content_sid"] is None and ada["from"] == "whatsapp:+14155238886"
    assert ada["body"].startswith("Hi Ada, your cart is still waiting:\n• Trail shoes: $42.00")
    assert "Finish your order: https://shop.example/cart/ada" in ada["body"]
    bea = received[f"whatsapp:{NUMBERS['bea']}"]
    assert (bea["content_sid"], json.loads(bea["content_variables"])) == (
        CART_TEMPLATE,
        sent["bea"][1]["content_variables"],
    )
    assert bea["body"] == (
        "Hi Bea, your cart ($42.00) is still waiting for you: https://shop.example/cart/bea"
    )

    # Twilio reports sent, delivered and read (blue ticks) on WhatsApp: read is an open.
    sandbox_client.set_time(later + timedelta(days=5))
    with db.session() as session:
        kinds = session.execute(
            select(Touch.customer_id, Interaction.kind)
            .join(Interaction, Interaction.touch_id == Touch.id)
            .where(Interaction.kind.in_(["delivered", "opened"]))
        ).all()
    assert sorted(c for c, k in kinds if k == "delivered") == ["ada", "bea", "cy"]
    read = sorted(
        customer
        for customer, number in NUMBERS.items()
        if received[f"whatsapp:{number}"]["sid"]
        in {m["sid"] for m in sandbox_client.sms() if m["status"] == "read"}
    )
    assert read  # the simulated audience reads some of them
    assert sorted(c for c, k in kinds if k == "opened") == read


def test_no_approved_template_fails_the_touch_with_the_reason(
    api: httpx.Client,
    engine: Engine,
    db: Database,
    clock: ManualClock,
    sandbox_client: SandboxClient,
    tmp_path: Path,
) -> None:
    # The same templates, without the approved WhatsApp template.
    shutil.copytree(PROJECT_ROOT / "templates", tmp_path / "templates")
    (tmp_path / "templates" / "cart" / "reminder.whatsapp.yaml").unlink()
    catalog = TemplateCatalog(tmp_path / "templates")
    engine = replace(engine, catalog=catalog)
    publish_journey(db, catalog)
    signups(db, "ada", "bea")
    writes(sandbox_client, clock, "ada", "hello", START + timedelta(hours=1))
    abandon(db, START + timedelta(hours=2), "ada", "bea")

    report = advance(engine, sandbox_client, START + timedelta(hours=2))

    assert (report.count("sent"), report.count("failed")) == (1, 1)
    sent = outcomes(db)
    assert sent["ada"][0] == "sent" and sent["ada"][1]["form"] == "session"
    assert sent["bea"] == (
        "failed",
        {
            "reason": "template error: cart/reminder: outside the 24-hour WhatsApp session "
            "window and no approved template (cart/reminder.whatsapp.yaml) to open a "
            "conversation with"
        },
    )
    assert [m["to"] for m in sandbox_client.sms()] == [f"whatsapp:{NUMBERS['ada']}"]


def test_the_signed_inbound_webhook_opens_the_window_and_stop_revokes_whatsapp(
    api: httpx.Client,
    engine: Engine,
    settings: Settings,
    db: Database,
    catalog: TemplateCatalog,
    clock: ManualClock,
    sandbox_client: SandboxClient,
) -> None:
    publish_journey(db, catalog)
    signups(db, "ada")
    with db.session() as session:  # SMS consent too, to show STOP on WhatsApp leaves it be
        session.add(Consent(customer_id="ada", channel="sms", purpose="transactional",
                            status="granted", source="api", evidence={}, recorded_at=START))  # fmt: skip

    first = writes(sandbox_client, clock, "ada", "Hi! Is the sale still on?", START)
    with db.session() as session:
        profile = load_profiles(session, ["ada"], whatsapp_sessions_since=START - timedelta(days=1))
        assert profile["ada"].whatsapp_session_until == START + timedelta(hours=24)
        [inbound] = session.execute(
            select(Interaction).where(Interaction.provider_message_id == first["message_sid"])
        ).scalars()
        assert (inbound.kind, inbound.channel) == ("received", "whatsapp")
        [event] = session.execute(select(Event).where(Event.type == "whatsapp.received")).scalars()
        assert event.customer_id == "ada" and event.payload["text"] == "Hi! Is the sale still on?"

    stop = writes(sandbox_client, clock, "ada", "stop", START + timedelta(minutes=5))
    assert stop["replies"] == [
        "Touchline Outfitters: you will receive no more WhatsApp messages from us. "
        "Reply START to resubscribe."
    ]
    with db.session() as session:
        ledger = session.execute(
            select(Consent.channel, Consent.purpose, Consent.status, Consent.source)
            .where(Consent.customer_id == "ada")
            .order_by(Consent.recorded_at, Consent.id)
        ).all()
    assert [tuple(r) for r in ledger[-2:]] == [
        ("whatsapp", "marketing", "revoked", "whatsapp_keyword"),
        ("whatsapp", "transactional", "revoked", "whatsapp_keyword"),
    ]
    assert ("sms", "transactional", "granted", "api") in [tuple(r) for r in ledger]

    abandon(db, START + timedelta(hours=1), "ada")
    advance(engine, sandbox_client, START + timedelta(hours=1))
    kind, detail = outcomes(db)["ada"]
    assert (kind, detail["reason"]) == (
        "skipped",
        "whatsapp: opted out of whatsapp marketing on 2026-11-23 via whatsapp_keyword",
    )
    assert not sandbox_client.sms()

    # A stranger's STOP suppresses the WhatsApp number; a forged request changes nothing.
    params = {"MessageSid": "SM" + "9" * 32, "From": "whatsapp:+14155550199",
              "To": "whatsapp:+14155238886", "Body": "STOP"}  # fmt: skip
    url = f"{settings.public_url}/webhooks/twilio/inbound"
    forged = api.post("/webhooks/twilio/inbound", data=params, headers={"X-Twilio-Signature": "x"})
    assert forged.status_code == 403
    signature = twilio_signature(settings.twilio_auth_token.get_secret_value(), url, params)
    answer = api.post(
        "/webhooks/twilio/inbound", data=params, headers={"X-Twilio-Signature": signature}
    )
    assert answer.status_code == 200 and "no more WhatsApp messages" in answer.text
    with db.session() as session:
        rows = session.execute(
            select(Suppression.kind, Suppression.value, Suppression.reason)
        ).all()
    assert [tuple(r) for r in rows] == [("whatsapp", "+14155550199", "whatsapp_stop")]
