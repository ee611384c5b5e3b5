"""The engine advancing the welcome journey against the emulators, on both backends."""

import json
from datetime import datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from channels.webhooks import ProviderEvent
from sandbox import SandboxClient
from tests.conftest import START
from touchline import ids
from touchline.config import PROJECT_ROOT
from touchline.content import TemplateCatalog
from touchline.db import Database
from touchline.engine import BatchReport, Engine, advance_next_batch
from touchline.engine.claim import claim_due
from touchline.inbound import record_provider_events
from touchline.intake import ingest
from touchline.journeys.loader import LoadedJourney, parse_journey
from touchline.journeys.store import publish
from touchline.record import Consent, Enrollment, Interaction, Touch

pytestmark = pytest.mark.usefixtures("published")
PURCHASE = "customer.first_purchase"

# The sign-up form already did the SMS double opt-in (a one-time code).
CONFIRMED = {"confirmed_at": "2026-11-01T09:00:00Z", "method": "one-time code"}


def signup(
    customer: str,
    *,
    tz: str = "Europe/London",
    sms: bool = True,
    email: bool = True,
    first_name: str | None = "Ada",
) -> dict:
    return {
        "id": f"signup-{customer}",
        "type": "customer.signed_up",
        "customer_id": customer,
        "occurred_at": (START - timedelta(minutes=5)).isoformat(),
        "profile": {
            "email": f"{customer}@example.com",
            "phone": f"+1415555{int(customer[1:]):04d}",
            "attributes": {"first_name": first_name} if first_name else {},
        },
        "preferences": {"timezone": tz},
        "consents": [
            c
            for c, wanted in (
                ({"channel": "email", "status": "granted"}, email),
                ({"channel": "sms", "status": "granted", "evidence": CONFIRMED}, sms),
            )
            if wanted
        ],
    }


def send_events(db: Database, *events: dict, now: datetime = START) -> None:
    report = ingest(
        db, [(n, json.dumps(e)) for n, e in enumerate(events, 1)], now=now, source="test"
    )
    assert not report.rejected, report.rejected


def advance(engine: Engine, now: datetime) -> BatchReport:
    total = BatchReport()
    while (report := advance_next_batch(engine, now)).claimed:
        total.merge(report)
    return total


def opened(db: Database, customer: str, at: datetime) -> None:
    """The open arrives as it would from SendGrid's webhook, through the same recording code."""
    with db.session() as session:
        enrollment = session.execute(
            select(Enrollment.id).where(Enrollment.customer_id == customer)
        ).scalar_one()
        event = ProviderEvent(
            "sendgrid",
            f"open-{customer}",
            "opened",
            None,
            ids.touch_id(enrollment, "welcome_email"),
            None,
            at,
        )
        assert record_provider_events(session, [event], at).recorded == 1


def enrollment(db: Database, customer: str) -> Enrollment:
    with db.session() as session:
        return session.execute(
            select(Enrollment).where(Enrollment.customer_id == customer)
        ).scalar_one()


def outcomes(db: Database, step: str) -> dict[str, tuple[str | None, str]]:
    """customer -> (channel, outcome) for one step."""
    with db.session() as session:
        rows = session.execute(
            select(Touch.customer_id, Touch.channel, Interaction.kind)
            .join(Interaction, Interaction.touch_id == Touch.id)
            .where(Touch.step_id == step, Interaction.kind.in_(["sent", "failed", "skipped"]))
        ).all()
    return {customer: (channel, kind) for customer, channel, kind in rows}


def test_the_welcome_journey_step_by_step(
    engine: Engine, db: Database, sandbox_client: SandboxClient
) -> None:
    send_events(db, signup("c1"), signup("c2"), signup("c3", sms=False))

    report = advance(engine, START)
    assert report.count("sent") == 3
    assert outcomes(db, "welcome_email") == {c: ("email", "sent") for c in ("c1", "c2", "c3")}
    assert enrollment(db, "c1").current_step == "wait_two_days"
    assert enrollment(db, "c1").next_action_at == START + timedelta(days=2)
    assert advance(engine, START + timedelta(days=1)).claimed == 0  # nobody is due yet

    opened(db, "c1", START + timedelta(hours=3))
    report = advance(engine, START + timedelta(days=2))
    assert outcomes(db, "nudge_sms") == {"c2": ("sms", "sent"), "c3": (None, "skipped")}
    assert enrollment(db, "c1").end_reason == "left at opened_welcome: condition true"
    assert {e.status for e in map(lambda c: enrollment(db, c), ("c1", "c2", "c3"))} == {"completed"}

    emails, sms = sandbox_client.emails(), sandbox_client.sms()
    assert sorted(e["to"] for e in emails) == ["c1@example.com", "c2@example.com", "c3@example.com"]
    assert [m["to"] for m in sms] == ["+14155550002"]
    assert "Reply STOP to opt out" in sms[0]["body"] and "WELCOME15" in sms[0]["body"]
    with db.session() as session:
        skipped = session.execute(
            select(Interaction).where(Interaction.kind == "skipped")
        ).scalar_one()
        assert skipped.detail["reason"] == "sms: no marketing consent for sms"


def test_an_open_after_the_branch_does_not_count(engine: Engine, db: Database) -> None:
    send_events(db, signup("c1"))
    advance(engine, START)
    opened(db, "c1", START + timedelta(days=3))  # recorded early, but happens later
    advance(engine, START + timedelta(days=2))
    assert outcomes(db, "nudge_sms") == {"c1": ("sms", "sent")}


def test_quiet_hours_defer_the_sms_to_the_customers_morning(
    engine: Engine, db: Database, sandbox_client: SandboxClient
) -> None:
    send_events(db, signup("c1", tz="America/Los_Angeles"))
    advance(engine, START)  # 06:00 in Los Angeles: email is fine, it has no quiet hours
    assert len(sandbox_client.emails()) == 1
    report = advance(engine, START + timedelta(days=2))  # 06:00 again, two days later
    assert report.count("deferred") == 1 and not sandbox_client.sms()
    eight_am = datetime.fromisoformat("2026-11-25T16:00:00+00:00")
    assert enrollment(db, "c1").next_action_at == eight_am
    advance(engine, eight_am - timedelta(minutes=1))
    assert not sandbox_client.sms()
    advance(engine, eight_am)
    assert len(sandbox_client.sms()) == 1


def test_a_template_error_fails_only_that_customers_step(
    engine: Engine, db: Database, sandbox_client: SandboxClient
) -> None:
    send_events(db, signup("c1", first_name=None), signup("c2"))
    advance(engine, START)
    assert outcomes(db, "welcome_email") == {"c1": ("email", "failed"), "c2": ("email", "sent")}
    with db.session() as session:
        failure = session.execute(
            select(Interaction).where(Interaction.kind == "failed")
        ).scalar_one()
    assert failure.detail["reason"].startswith(
        "template error: welcome/welcome.subject.j2:1: 'dict object' has no attribute 'first_name'"
    )
    assert [e["to"] for e in sandbox_client.emails()] == ["c2@example.com"]
    # The customer never got the welcome email: the follow-up SMS must not come either.
    ended = enrollment(db, "c1")
    assert (ended.status, ended.current_step) == ("exited", "welcome_email")
    assert ended.end_reason.startswith("template error: welcome/welcome.subject.j2:1")
    assert enrollment(db, "c2").current_step == "wait_two_days"


def test_consent_is_checked_again_at_dispatch(
    engine: Engine, db: Database, sandbox_client: SandboxClient
) -> None:
    send_events(db, signup("c1", tz="America/Los_Angeles"))
    advance(engine, START)
    advance(engine, START + timedelta(days=2))  # SMS decided, deferred to 08:00 local
    stop = {"id": "stop-1", "type": "customer.consent_changed", "customer_id": "c1", "occurred_at": (START + timedelta(days=2, hours=1)).isoformat(),
            "consents": [{"channel": "sms", "status": "revoked", "evidence": {"keyword": "STOP"}}]}  # fmt: skip
    send_events(db, stop, now=START + timedelta(days=2, hours=1))
    advance(engine, START + timedelta(days=2, hours=2))
    assert outcomes(db, "nudge_sms") == {"c1": ("sms", "skipped")}
    assert not sandbox_client.sms()
    with db.session() as session:
        reason = session.execute(
            select(Interaction.detail).where(Interaction.kind == "skipped")
        ).scalar_one()["reason"]
    assert reason.startswith("consent changed before dispatch: opted out of sms marketing")


def test_an_exit_event_during_the_wait_ends_the_enrollment_at_once(
    engine: Engine, db: Database, sandbox_client: SandboxClient
) -> None:
    send_events(db, signup("c1"), signup("c2"))
    advance(engine, START)
    purchase = {
        "id": "p1",
        "type": PURCHASE,
        "customer_id": "c1",
        "occurred_at": (START + timedelta(days=1)).isoformat(),
    }
    send_events(db, purchase, now=START + timedelta(days=1))
    assert enrollment(db, "c1").status == "exited"
    advance(engine, START + timedelta(days=2))
    assert [m["to"] for m in sandbox_client.sms()] == ["+14155550002"]


def test_enrollments_finish_on_the_version_they_started_with(
    engine: Engine, db: Database, catalog: TemplateCatalog, sandbox_client: SandboxClient
) -> None:
    send_events(db, signup("c1"))
    advance(engine, START)
    shorter = (
        (PROJECT_ROOT / "journeys" / "welcome.yaml").read_text().split("  - id: wait_two_days")[0]
    )
    with db.session() as session:
        result = publish(
            session,
            LoadedJourney(
                parse_journey(shorter, "welcome.yaml", catalog),
                PROJECT_ROOT / "journeys" / "welcome.yaml",
            ),
            START,
        )
    assert (result.version, result.created) == (2, True)
    send_events(db, signup("c2"))
    advance(engine, START + timedelta(hours=1))
    assert enrollment(db, "c2").journey_version == 2 and enrollment(db, "c2").status == "completed"
    advance(engine, START + timedelta(days=2))
    assert enrollment(db, "c1").journey_version == 1
    assert outcomes(db, "nudge_sms") == {"c1": ("sms", "sent")}  # v1 still had the SMS


def test_workers_never_claim_the_same_enrollment(engine: Engine, db: Database) -> None:
    send_events(db, *(signup(f"c{n}") for n in range(1, 11)))
    with db.session() as first, db.session() as second:
        a = claim_due(first, now=START, limit=6, worker="a", lease=timedelta(minutes=5))
        b = claim_due(second, now=START, limit=6, worker="b", lease=timedelta(minutes=5))
        assert len(a) == 6 and len(b) == 4 and not {e.id for e in a} & {e.id for e in b}
        # a crashed worker's lease runs out, and its batch can be claimed again
        c = claim_due(
            second,
            now=START + timedelta(minutes=6),
            limit=20,
            worker="c",
            lease=timedelta(minutes=5),
        )
        assert len(c) == 10


def test_a_replayed_batch_sends_nothing_twice(
    engine: Engine, db: Database, sandbox_client: SandboxClient
) -> None:
    send_events(db, signup("c1"), signup("c2"))
    with db.session() as session:
        before = {e.id: e.context for e in session.execute(select(Enrollment)).scalars()}
    advance(engine, START)
    # As if the worker died after sending but before saving the enrollments' new state:
    with db.session() as session:
        for enrollment_id, context in before.items():
            session.execute(
                update(Enrollment)
                .where(Enrollment.id == enrollment_id)
                .values(
                    current_step="welcome_email", next_action_at=START, lease_owner=None,
                    context=context,
                )
            )  # fmt: skip
    report = advance(engine, START + timedelta(minutes=1))
    assert report.claimed == 2 and report.count("sent") == 0
    assert len(sandbox_client.emails()) == 2
    assert enrollment(db, "c1").current_step == "wait_two_days"


def test_a_provider_configuration_error_stops_the_run_and_loses_nothing(
    engine: Engine, db: Database, sandbox_client: SandboxClient
) -> None:
    send_events(db, signup("c1"), signup("c2"))
    broken = Engine.from_settings(
        engine.settings.model_copy(update={"sendgrid_api_key": SecretStr("SG.revoked")}), db
    )
    report = advance(broken, START)
    assert report.aborted and "check its credentials" in report.aborted
    assert not sandbox_client.emails() and outcomes(db, "welcome_email") == {}
    advance(engine, START + timedelta(minutes=10))  # fixed: the pending touches go out
    assert len(sandbox_client.emails()) == 2


def test_a_provider_opt_out_reaches_the_consent_ledger(engine: Engine, db: Database) -> None:
    event = signup("c1")
    event["profile"]["phone"] = "+15005550004"  # Twilio: the owner texted STOP to us before
    send_events(db, event)
    advance(engine, START)
    advance(engine, START + timedelta(days=2))
    assert outcomes(db, "nudge_sms") == {"c1": ("sms", "failed")}
    with db.session() as session:
        revoked = (
            session.execute(select(Consent).where(Consent.status == "revoked")).scalars().all()
        )
    assert {(c.channel, c.purpose, c.source) for c in revoked} == {
        ("sms", "marketing", "provider"),
        ("sms", "transactional", "provider"),
    }
    assert revoked[0].evidence["code"] == "21610"
