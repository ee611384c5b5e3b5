"""Texts customers send us, through the signed Twilio inbound webhook: carrier keywords
change the consent ledger and are answered in TwiML; every message from a known number is
an interaction and a `sms.received` event; strangers who text STOP are suppressed."""

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from sandbox import ThreadedApp
from sandbox.signing import twilio_signature
from tests.conftest import START
from touchline.api import create_app
from touchline.clock import ManualClock
from touchline.config import Settings
from touchline.db import Database
from touchline.intake.ingest import ingest
from touchline.record import Consent, Event, Interaction, Suppression

ADA = "+14155550100"


@pytest.fixture
def api(
    settings: Settings, db: Database, api_server: ThreadedApp, clock: ManualClock
) -> Iterator[httpx.Client]:
    api_server.start(create_app(settings, db, clock))
    # Ada signed up and ticked "text me offers" without confirming yet.
    report = ingest(db, [(1, {
        "id": "signup-ada", "type": "customer.signed_up", "customer_id": "ada",
        "occurred_at": START.isoformat(), "profile": {"phone": ADA},
        "consents": [{"channel": "sms", "status": "granted"}],
    })], now=START, source="signup_form", settings=settings)  # fmt: skip
    assert report.accepted == ["signup-ada"]
    with httpx.Client(base_url=api_server.url, timeout=10) as client:
        yield client


def text(api: httpx.Client, settings: Settings, body: str, sid: str, sender: str = ADA,
         signature: str | None = None) -> httpx.Response:  # fmt: skip
    params = {"MessageSid": sid, "From": sender, "To": settings.sms_from, "Body": body,
              "AccountSid": settings.twilio_account_sid}  # fmt: skip
    url = f"{settings.public_url}/webhooks/twilio/inbound"
    signature = signature or twilio_signature(
        settings.twilio_auth_token.get_secret_value(), url, params
    )
    return api.post(
        "/webhooks/twilio/inbound", data=params, headers={"X-Twilio-Signature": signature}
    )


def sms_marketing(db: Database) -> list[tuple[str, str]]:
    with db.session() as session:
        return [tuple(r) for r in session.execute(
            select(Consent.status, Consent.source).where(
                Consent.customer_id == "ada", Consent.channel == "sms", Consent.purpose == "marketing"
            ).order_by(Consent.recorded_at, Consent.id)
        )]  # fmt: skip


def count(db: Database, table: type, *where: object) -> int:
    with db.session() as session:
        return session.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def test_the_signup_asked_for_confirmation_and_yes_confirms(
    api: httpx.Client, settings: Settings, db: Database, clock: ManualClock
) -> None:
    assert sms_marketing(db) == [("pending", "signup_form")]
    assert count(db, Event, Event.type == "consent.sms_confirmation_requested") == 1
    clock.advance(timedelta(minutes=3))
    response = text(api, settings, " Yes ", "SM" + "1" * 32)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert "you are subscribed to texts" in response.text and "<Message>" in response.text
    assert sms_marketing(db) == [("pending", "signup_form"), ("granted", "sms_keyword")]


def test_stop_in_any_case_revokes_and_is_answered_once_however_often_twilio_retries(
    api: httpx.Client, settings: Settings, db: Database
) -> None:
    for _ in range(2):  # Twilio retries a webhook it thinks timed out
        response = text(api, settings, "stop", "SM" + "2" * 32)
        assert response.status_code == 200
    assert sms_marketing(db)[-1] == ("revoked", "sms_keyword")
    assert count(db, Consent, Consent.source == "sms_keyword") == 2  # marketing + transactional
    assert count(db, Interaction, Interaction.provider_message_id == "SM" + "2" * 32) == 1


def test_help_is_answered_and_a_sentence_is_a_message_not_a_keyword(
    api: httpx.Client, settings: Settings, db: Database
) -> None:
    before = count(db, Consent)
    help_reply = text(api, settings, "HELP", "SM" + "3" * 32)
    assert "Reply STOP to opt out" in help_reply.text
    chat = text(api, settings, "The bus will stop at the end of my street", "SM" + "4" * 32)
    assert chat.text.endswith("<Response />")
    assert count(db, Consent) == before
    with db.session() as session:
        events = session.execute(select(Event).where(Event.type == "sms.received")).scalars().all()
    assert sorted(e.payload["text"] for e in events) == [
        "HELP",
        "The bus will stop at the end of my street",
    ]
    assert {e.customer_id for e in events} == {"ada"}


def test_a_stranger_who_texts_stop_is_suppressed(
    api: httpx.Client, settings: Settings, db: Database
) -> None:
    response = text(api, settings, "STOP", "SM" + "5" * 32, sender="+14155550199")
    assert response.status_code == 200
    with db.session() as session:
        rows = session.execute(
            select(Suppression.kind, Suppression.value, Suppression.reason)
        ).all()
    assert [tuple(r) for r in rows] == [("phone", "+14155550199", "sms_stop")]


def test_an_unsigned_or_tampered_inbound_message_is_refused_and_stored_nowhere(
    api: httpx.Client, settings: Settings, db: Database
) -> None:
    before = (count(db, Consent), count(db, Interaction), count(db, Event))
    response = text(api, settings, "STOP", "SM" + "6" * 32, signature="bm90IGEgc2lnbmF0dXJl")
    assert response.status_code == 403
    missing = api.post(
        "/webhooks/twilio/inbound", data={"MessageSid": "SMx", "From": ADA, "Body": "STOP"}
    )
    assert missing.status_code == 403
    assert (count(db, Consent), count(db, Interaction), count(db, Event)) == before


def test_a_signed_text_with_nul_characters_is_stored_without_them(
    api: httpx.Client, settings: Settings, db: Database, clock: ManualClock
) -> None:
    """A genuine, signed webhook may carry a NUL (a phone's odd encoding): PostgreSQL refuses
    NUL in text and JSON, so the record keeps the text without it rather than answer 500."""
    clock.advance(timedelta(minutes=3))
    response = text(api, settings, "hello\x00 there", "SM" + "7" * 32)
    assert response.status_code == 200, response.text
    with db.session() as session:
        stored = session.execute(
            select(Event.payload).where(Event.type == "sms.received")
        ).scalar_one()
    assert stored["text"] == "hello there"
    assert text(api, settings, "STOP\x00", "SM" + "8" * 32).status_code == 200
    assert sms_marketing(db)[-1][0] == "revoked"
