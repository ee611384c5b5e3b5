"""The welcome journey end to end through Prefect (intake and advance flows), the real
SendGrid and Twilio SDKs, the emulators and signed webhooks — then the record is checked
against what the emulators received."""

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from sandbox import SandboxClient, SandboxServer, ThreadedApp
from tests.conftest import START
from touchline.api import create_app
from touchline.clock import ManualClock
from touchline.config import Settings
from touchline.db import Database
from touchline.demo.simulate import Simulation
from touchline.demo.synthetic import build_audience, write_lines
from touchline.record import Enrollment, Interaction, Touch

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect", "published")]
CUSTOMERS = 300


def test_the_welcome_journey_through_prefect(
    settings: Settings, db: Database, emulators: SandboxServer, sandbox_client: SandboxClient,
    api_server: ThreadedApp, clock: ManualClock, tmp_path: Path,
) -> None:  # fmt: skip
    from flows import _runtime
    from flows.advance import advance_journeys
    from flows.intake import ingest_file

    _runtime.reset()
    api_server.start(create_app(settings, db, clock))
    sandbox_client.configure(event_webhook_url=f"{api_server.url}/webhooks/sendgrid/events")
    sandbox_client.set_time(START)

    audience = build_audience(CUSTOMERS, START, seed=11)
    intake = ingest_file(
        str(write_lines(tmp_path / "signups.jsonl", audience.signups)),
        source="signup_form",
        as_of=START,
    )
    # Everyone enters the welcome journey; those who ticked "text me" without confirming
    # also enter the SMS double opt-in journey.
    unconfirmed = sum(
        any(
            c["channel"] == "sms"
            and c["status"] == "granted"
            and "confirmed_at" not in c["evidence"]
            for c in json.loads(line).get("consents", [])
        )
        for line in audience.signups
        if line.startswith('{"id": "signup-c')
    )
    assert unconfirmed > 0
    assert (intake["accepted"], intake["rejected"], intake["enrolled"]) == (
        CUSTOMERS, 3, CUSTOMERS + unconfirmed,
    )  # fmt: skip

    simulation = Simulation(
        db=db, clock=clock, sandbox=sandbox_client, workdir=tmp_path,
        advance=lambda at: advance_journeys(as_of=at),
        ingest_file=lambda path, source, at: ingest_file(str(path), source=source, as_of=at),
    )  # fmt: skip
    simulation.run_until(START + timedelta(days=3), audience.purchases)

    emails, all_sms = sandbox_client.emails(), sandbox_client.sms()
    with db.session() as session:
        confirmations = session.execute(
            select(Touch).where(Touch.journey_key == "sms_double_opt_in")
        ).scalars().all()  # fmt: skip
        enrollments = session.execute(
            select(Enrollment).where(Enrollment.journey_key == "welcome")
        ).scalars().all()  # fmt: skip
        touches = {
            t.id: t
            for t in session.execute(select(Touch).where(Touch.journey_key == "welcome")).scalars()
        }
        # Each customer who ticked "text me" without confirming was asked once, by SMS.
        asked = Counter(t.customer_id for t in confirmations)
        assert len(asked) == unconfirmed and set(asked.values()) == {1}
        confirmation_ids = {t.id for t in confirmations}
        assert sum(m["touch_id"] in confirmation_ids for m in all_sms) == unconfirmed
        sms = [m for m in all_sms if m["touch_id"] in touches]
        kinds: dict[str, set[str]] = {}
        opened_at: dict[str, list] = {}
        for touch_id, kind, at in session.execute(
            select(Interaction.touch_id, Interaction.kind, Interaction.occurred_at).where(
                Interaction.touch_id.is_not(None)
            )
        ):
            kinds.setdefault(touch_id, set()).add(kind)
            if kind in ("opened", "clicked"):
                opened_at.setdefault(touch_id, []).append(at)

    # Nobody is left in the middle of the journey.
    assert {e.status for e in enrollments} <= {"completed", "exited"}

    # Every enrollment has exactly one welcome-email touch, and every sent one reached the
    # provider exactly once; the skipped ones say why.
    welcome = [t for t in touches.values() if t.step_id == "welcome_email"]
    assert Counter(t.enrollment_id for t in welcome) == Counter({e.id: 1 for e in enrollments})
    sent_email = {t.id for t in welcome if "sent" in kinds.get(t.id, set())}
    assert Counter(e["touch_id"] for e in emails) == Counter(
        {touch_id: 1 for touch_id in sent_email}
    )
    assert sandbox_client.stats()["duplicate_touches"] == {}
    for touch in welcome:
        if touch.id not in sent_email:
            assert kinds[touch.id] & {"skipped", "failed"}, touch.id

    # Nobody without SMS consent got an SMS — judged from what they told us at sign-up.
    signups = {
        json.loads(line)["customer_id"]: json.loads(line)
        for line in audience.signups
        if line.startswith('{"id": "signup-c')
    }
    consented = {
        c
        for c, e in signups.items()
        if any(x["channel"] == "sms" and x["status"] == "granted" for x in e.get("consents", []))
    }
    sms_touches = [touches[m["touch_id"]] for m in sms]
    assert sms_touches, "the scenario should send some SMS"
    assert {t.customer_id for t in sms_touches} <= consented
    assert [m["to"] for m in sms] == [
        signups[t.customer_id]["profile"]["phone"] for t in sms_touches
    ]

    # Every SMS went to someone who had not opened the welcome email by the time of the branch.
    for touch in sms_touches:
        email_touch = next(t for t in welcome if t.enrollment_id == touch.enrollment_id)
        assert all(at > touch.created_at for at in opened_at.get(email_touch.id, [])), (
            touch.customer_id
        )

    # The record and the providers agree.
    assert len(emails) == len(sent_email)
    assert len(sms) == sum(
        1 for t in touches.values() if t.step_id == "nudge_sms" and "sent" in kinds.get(t.id, set())
    )
    # Engagement came back through signed webhooks, and the branch used it.
    assert sum(1 for t in welcome if t.id in opened_at) > 0
    assert any(e.end_reason == "left at opened_welcome: condition true" for e in enrollments)
    assert any(e.status == "exited" for e in enrollments)
