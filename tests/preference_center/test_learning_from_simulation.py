"""The preference center learns who reads email and who answers texts, and when — from
nothing but what the simulated people did with real messages.

Two dozen synthetic customers in two time zones get the same campaign (an email and an SMS)
every Monday morning, midday and evening of their own time, for four weeks: through the
engine, the SendGrid and Twilio SDKs, the emulators, and the engagement simulator's signed
webhooks (opens, clicks, and texted replies to the inbound URL) back into the API. Then the
effectiveness refresh runs, and a journey that sends on the ``best`` channel at the best
hour within a day is launched to everyone. Its decisions are compared with what the
simulator made each person: a texter or a reader, a morning or an evening person.
"""

import json
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from preference_center.learning import refresh
from sandbox import SandboxClient, ThreadedApp
from sandbox.engagement import EngagementModel
from tests.conftest import START
from touchline.api import create_app
from touchline.clock import ManualClock
from touchline.config import PROJECT_ROOT, Settings
from touchline.content import TemplateCatalog
from touchline.db import Database
from touchline.engine import Engine, advance_next_batch
from touchline.intake import ingest
from touchline.journeys.loader import LoadedJourney, parse_journey
from touchline.journeys.store import publish
from touchline.launch import launch
from touchline.record import Interaction, Touch

ZONES = ("Europe/Berlin", "America/New_York")
CUSTOMERS = 24
WEEKS = 4
LOCAL_SLOTS = (time(8, 30), time(13, 30), time(19, 30))  # Mondays, in each customer's zone
FIRST_MONDAY = datetime(2026, 11, 30)  # START is Monday 23 November; a week to set up
CONFIRMED = {"confirmed_at": "2026-11-01T09:00:00Z", "method": "one-time code"}
AUDIENCE = {
    "texter_share": 0.5,
    "evening_share": 0.5,
    "open_rate_low": 0.05,
    "open_rate_high": 0.85,
    "reply_rate_low": 0.02,
    "reply_rate_high": 0.8,
    "off_hours_odds": 0.1,
    "stop_rate": 0.0,
    "sms_undelivered_rate": 0.0,
    "seed": "learning",
}
SALE = """
purpose: marketing
trigger: segment
reentry: every_event
context: {sale_ends: "December 31", sale_code: WINTER25, shop_url: "https://shop.example"}
"""
CAMPAIGN = f"""key: campaign
name: Weekly campaign
{SALE}
steps:
  - {{id: mail, type: send, channel: email, template: winter_sale/announce}}
  - {{id: text, type: send, channel: sms, template: winter_sale/announce}}
"""
BEST = f"""key: best
name: On the best channel at the best hour
{SALE}
steps:
  - {{id: pick, type: send, channel: best, send_time: {{best_within: 24h}},
     template: winter_sale/announce}}
"""


def customer_id(n: int) -> str:
    return f"c{n:03d}"


def zone_of(n: int) -> str:
    return ZONES[n % len(ZONES)]


def phone(n: int) -> str:
    return f"+1415555{n:04d}"


@pytest.fixture
def run(
    settings: Settings,
    db: Database,
    api_server: ThreadedApp,
    clock: ManualClock,
    sandbox_client: SandboxClient,
) -> Iterator[tuple[Settings, Engine]]:
    # No company-wide cap: the test sends two messages a round, twelve rounds.
    settings = settings.model_copy(update={"marketing_cap": 0})
    api_server.start(create_app(settings, db, clock))
    catalog = TemplateCatalog(PROJECT_ROOT / "templates")
    with db.session() as session:
        for text in (CAMPAIGN, BEST):
            definition = parse_journey(text, "test.yaml", catalog)
            publish(session, LoadedJourney(definition, PROJECT_ROOT / "journeys" / "t.yaml"), START)
    signups = [
        {
            "id": f"signup-{customer_id(n)}",
            "type": "customer.signed_up",
            "customer_id": customer_id(n),
            "occurred_at": START.isoformat(),
            "profile": {
                "email": f"{customer_id(n)}@example.com",
                "phone": phone(n),
                "attributes": {"first_name": f"C{n}"},
            },
            "preferences": {"timezone": zone_of(n)},
            "consents": [
                {"channel": "email", "status": "granted"},
                {"channel": "sms", "status": "granted", "evidence": CONFIRMED},
            ],
        }
        for n in range(CUSTOMERS)
    ]
    report = ingest(
        db, [(n, json.dumps(e)) for n, e in enumerate(signups, 1)], now=START, source="test"
    )
    assert not report.rejected, report.rejected
    sandbox_client.configure(
        event_webhook_url=f"{api_server.url}/webhooks/sendgrid/events",
        inbound_sms_url=f"{settings.public_url}/webhooks/twilio/inbound",
    )
    engine = Engine.from_settings(settings, db)
    try:
        yield settings, engine
    finally:
        engine.close()
        sandbox_client.configure(inbound_sms_url=None)


def people() -> list[dict]:
    """Who owns which addresses, and where they live: what the audience itself knows."""
    return [
        {
            "id": customer_id(n),
            "addresses": [f"{customer_id(n)}@example.com", phone(n)],
            "timezone": zone_of(n),
        }
        for n in range(CUSTOMERS)
    ]


def launch_to(
    db: Database, journey: str, zone: str, at: datetime, name: str, tmp_path: Path
) -> None:
    segment = tmp_path / f"{name}.csv"
    ids = [customer_id(n) for n in range(CUSTOMERS) if zone_of(n) == zone]
    segment.write_text("customer_id\n" + "\n".join(ids) + "\n", encoding="utf-8")
    launch(db, journey, segment, now=at, name=name)


def move_to(at: datetime, clock: ManualClock, sandbox: SandboxClient, engine: Engine) -> None:
    """Time moves for Touchline and the emulators together; what fell due is posted and
    sent."""
    clock.set(at)
    sandbox.set_time(at)
    while advance_next_batch(engine, at).claimed:
        pass


def test_best_channel_and_hour_are_learned_from_simulated_people(
    run: tuple[Settings, Engine],
    db: Database,
    clock: ManualClock,
    sandbox_client: SandboxClient,
    tmp_path: Path,
) -> None:
    settings, engine = run
    model = EngagementModel.from_dict(sandbox_client.engagement(**AUDIENCE, people=people()))
    rounds = sorted(
        (datetime.combine(FIRST_MONDAY + timedelta(weeks=week), slot, ZoneInfo(zone)), zone)
        for week in range(WEEKS)
        for slot in LOCAL_SLOTS
        for zone in ZONES
    )
    for n, (local, zone) in enumerate(rounds):
        at = local.astimezone(START.tzinfo)
        move_to(at, clock, sandbox_client, engine)
        launch_to(db, "campaign", zone, at, f"round-{n}", tmp_path)
        move_to(at, clock, sandbox_client, engine)
    # Five days for the last opens (they wait for the readers' active hours) and replies.
    for hours in range(6, 5 * 24 + 1, 6):
        move_to(rounds[-1][0].astimezone(START.tzinfo) + timedelta(hours=hours), clock,
                sandbox_client, engine)  # fmt: skip

    with db.session() as session:
        kinds = dict(
            session.execute(
                select(Interaction.kind, Interaction.id).where(
                    Interaction.kind.in_(["opened", "replied", "sent"])
                )
            ).all()
        )
    assert {"opened", "replied", "sent"} <= set(kinds), "engagement came back by webhook"
    learned = refresh(db, clock.now(), settings)
    assert learned.customers_ranked == CUSTOMERS

    # Everyone gets the next campaign on their best channel, at their best hour of Monday.
    final_week = FIRST_MONDAY + timedelta(weeks=WEEKS)
    for zone in ZONES:
        at = datetime.combine(final_week, time(0, 30), ZoneInfo(zone)).astimezone(START.tzinfo)
        move_to(at, clock, sandbox_client, engine)
        launch_to(db, "best", zone, at, f"best-{zone.replace('/', '-')}", tmp_path)
        move_to(at, clock, sandbox_client, engine)
    with db.session() as session:
        picks = {
            t.customer_id: (t.channel, t.scheduled_for)
            for t in session.execute(select(Touch).where(Touch.journey_key == "best")).scalars()
        }
    assert len(picks) == CUSTOMERS

    channel_right = hour_right = 0
    texters = 0
    for n in range(CUSTOMERS):
        person = model.persona(phone(n))
        channel, scheduled = picks[customer_id(n)]
        texters += person.texter
        channel_right += channel == ("sms" if person.texter else "email")
        hour_right += person.is_active(scheduled)
    channel_rate, hour_rate = channel_right / CUSTOMERS, hour_right / CUSTOMERS
    print(
        f"\n{CUSTOMERS} customers ({texters} texters), {len(rounds)} rounds: best channel "
        f"agrees with the simulated lean for {channel_rate:.0%} (chance: 50%); best hour falls "
        f"in the simulated active hours for {hour_rate:.0%} (chance: about 1 in 3 of the "
        "hours sent at)"
    )
    assert channel_rate >= 0.8
    assert hour_rate >= 0.7
