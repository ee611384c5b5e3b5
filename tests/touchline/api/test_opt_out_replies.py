"""Opt-outs as customers write them, end to end: the customer texts (or DMs) through the
emulators, which sign and post the webhook as Twilio and X do, Touchline's API reads the
message, the ledger changes with the matched rule as evidence, and the customer gets exactly
one confirmation — the emulator sends the TwiML answer back, and refuses it with 21610 when
the number was already on Twilio's opt-out list."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from sandbox import SandboxClient, SandboxServer, ThreadedApp
from tests.conftest import START
from touchline.api import create_app
from touchline.clock import ManualClock
from touchline.config import Settings
from touchline.db import Database
from touchline.intake.ingest import ingest
from touchline.record import Consent, Event, Suppression

ADA = "+14155550100"
STRANGER = "+14155550199"


@pytest.fixture
def texting(
    settings: Settings,
    db: Database,
    api_server: ThreadedApp,
    clock: ManualClock,
    sandbox_client: SandboxClient,
) -> Iterator[SandboxClient]:
    """Ada's number, WhatsApp and X handle are on file with every consent confirmed; the
    emulators post customers' texts and DMs to this test's API."""
    api_server.start(create_app(settings, db, clock))
    confirmed = {"confirmed_at": START.isoformat()}
    report = ingest(db, [(1, {
        "id": "signup-ada", "type": "customer.signed_up", "customer_id": "ada",
        "occurred_at": START.isoformat(),
        "profile": {"phone": ADA, "whatsapp": ADA, "x_handle": "@ada_lovelace"},
        "consents": [
            {"channel": c, "purpose": p, "status": "granted", "evidence": confirmed}
            for c in ("sms", "whatsapp", "x") for p in ("marketing", "transactional")
        ],
    })], now=START, source="signup_form", settings=settings)  # fmt: skip
    assert report.accepted == ["signup-ada"]
    sandbox_client.configure(
        inbound_sms_url=f"{settings.public_url}/webhooks/twilio/inbound",
        x_webhook_url=f"{settings.public_url}/webhooks/x",
    )
    yield sandbox_client
    sandbox_client.configure(inbound_sms_url=None, x_webhook_url=None)


def ledger(db: Database, channel: str = "sms") -> list[tuple[str, str, str, dict[str, Any]]]:
    with db.session() as session:
        rows = session.execute(
            select(Consent.purpose, Consent.status, Consent.source, Consent.evidence)
            .where(Consent.customer_id == "ada", Consent.channel == channel)
            .order_by(Consent.received_at, Consent.id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def state(db: Database, channel: str = "sms") -> dict[str, str]:
    return {purpose: status for purpose, status, _, _ in ledger(db, channel)}


def confirmations(client: SandboxClient, to: str) -> list[dict[str, Any]]:
    """What the emulator sent back to the customer as answers to their texts."""
    return [m for m in client.sms(to=to) if m["direction"] == "reply"]


def send_sms(emulators: SandboxServer, to: str, body: str) -> httpx.Response:
    sid = emulators.sandbox.config.twilio_account_sid
    auth = base64.b64encode(f"{sid}:{emulators.sandbox.config.twilio_auth_token}".encode())
    return httpx.post(
        f"{emulators.twilio_url}/2010-04-01/Accounts/{sid}/Messages.json",
        data={"To": to, "From": "+15005550006", "Body": body},
        headers={"Authorization": f"Basic {auth.decode()}"},
    )


def test_stop_with_punctuation_revokes_and_is_confirmed_exactly_once(
    texting: SandboxClient, db: Database
) -> None:
    first = texting.sms_inbound(ADA, "Stop!")
    assert first["posted"] and first["status"] == 200
    assert len(first["replies"]) == 1 and "unsubscribed" in first["replies"][0]
    assert state(db) == {"marketing": "revoked", "transactional": "revoked"}
    evidence = ledger(db)[-1][3]
    assert (evidence["rule"], evidence["normalised"], evidence["keyword"]) == (
        "keyword", "stop", "Stop!",
    )  # fmt: skip
    rows = len(ledger(db))
    # Again, in Twilio's own words this time: already opted out — nothing written, no answer.
    second = texting.sms_inbound(ADA, "STOP")
    assert second["posted"] and second["replies"] == [] and second["refused_replies"] == []
    assert len(ledger(db)) == rows
    assert len(confirmations(texting, ADA)) == 1


def test_a_plain_request_to_stop_revokes_with_its_rule_as_evidence(
    texting: SandboxClient, db: Database
) -> None:
    result = texting.sms_inbound(ADA, "Please stop sending me these 🙏")
    assert len(result["replies"]) == 1
    assert state(db) == {"marketing": "revoked", "transactional": "revoked"}
    evidence = ledger(db)[-1][3]
    assert evidence["rule"] == "plain:stop_messaging"
    assert evidence["matched"] == "please stop sending me these"
    assert not result["opted_out"]  # not a Twilio keyword: Twilio's list is untouched
    with db.session() as session:
        [event] = session.execute(select(Event).where(Event.type == "sms.received")).scalars()
    assert (event.payload["keyword"], event.payload["rule"]) == (
        "opt_out", "plain:stop_messaging",
    )  # fmt: skip


def test_negations_questions_and_chat_change_nothing_and_questions_get_help(
    texting: SandboxClient, db: Database
) -> None:
    before = ledger(db)
    assert texting.sms_inbound(ADA, "don't stop, I love these deals")["replies"] == []
    assert texting.sms_inbound(ADA, "do not cancel my order")["replies"] == []
    assert texting.sms_inbound(ADA, "The bus will stop at the end")["replies"] == []
    [answer] = texting.sms_inbound(ADA, "how do I stop these texts?")["replies"]
    assert "Reply STOP to opt out" in answer
    assert ledger(db) == before


def test_after_stop_twilio_refuses_sends_until_start_and_start_grants_again(
    texting: SandboxClient, db: Database, emulators: SandboxServer
) -> None:
    texting.sms_inbound(ADA, "STOP")
    refused = send_sms(emulators, ADA, "Acme: a sale")
    assert refused.status_code == 400 and refused.json()["code"] == 21610
    start = texting.sms_inbound(ADA, "Start")
    assert len(start["replies"]) == 1 and "subscribed" in start["replies"][0]
    assert state(db) == {"marketing": "granted", "transactional": "granted"}
    assert send_sms(emulators, ADA, "Acme: a sale").status_code == 201
    answers = [m["body"] for m in confirmations(texting, ADA)]
    assert len(answers) == 2 and "unsubscribed" in answers[0] and "subscribed" in answers[1]


def test_a_help_from_an_opted_out_number_is_refused_by_twilio_not_delivered(
    texting: SandboxClient,
) -> None:
    texting.sms_inbound(ADA, "STOP")
    help_ = texting.sms_inbound(ADA, "HELP")
    assert help_["replies"] == [] and len(help_["refused_replies"]) == 1
    failed = [m for m in confirmations(texting, ADA) if m["status"] == "failed"]
    assert [m["error_code"] for m in failed] == [21610]
    assert texting.stats()["webhooks"]["twilio_reply_refused_opted_out"] == 1


def test_a_stranger_asking_to_stop_is_suppressed_once_and_confirmed_once(
    texting: SandboxClient, db: Database
) -> None:
    first = texting.sms_inbound(STRANGER, "Stop texting me!!")
    second = texting.sms_inbound(STRANGER, "stop texting me")
    assert len(first["replies"]) == 1 and second["replies"] == []
    with db.session() as session:
        rows = session.execute(select(Suppression)).scalars().all()
    assert [(r.kind, r.value, r.reason) for r in rows] == [("phone", STRANGER, "sms_stop")]
    assert rows[0].evidence["rule"] == "plain:stop_messaging"


def test_whatsapp_stop_in_full_width_revokes_whatsapp_only(
    texting: SandboxClient, db: Database
) -> None:
    result = texting.whatsapp_inbound(ADA, "ＳＴＯＰ 🛑")
    assert result["posted"] and len(result["replies"]) == 1
    assert state(db, "whatsapp") == {"marketing": "revoked", "transactional": "revoked"}
    assert state(db, "sms") == {"marketing": "granted", "transactional": "granted"}
    assert ledger(db, "whatsapp")[-1][3]["rule"] == "keyword"


def test_an_x_dm_asking_to_stop_revokes_x_and_a_strangers_handle_is_suppressed(
    texting: SandboxClient, db: Database
) -> None:
    texting.x_inbound("ada_lovelace", "Please stop messaging me here")
    assert state(db, "x") == {"marketing": "revoked", "transactional": "revoked"}
    [*_, (_, _, source, evidence)] = ledger(db, "x")
    assert (source, evidence["rule"]) == ("x_dm", "plain:stop_messaging")
    rows = len(ledger(db, "x"))
    texting.x_inbound("ada_lovelace", "STOP")  # already revoked: nothing more
    texting.x_inbound("ada_lovelace", "@touchline stop", kind="mention")  # public: not read
    assert len(ledger(db, "x")) == rows
    texting.x_inbound("someone_else", "unsubscribe")
    texting.x_inbound("chatty", "don't stop posting these")
    with db.session() as session:
        rows_ = session.execute(select(Suppression.kind, Suppression.value)).all()
    assert [tuple(r) for r in rows_] == [("x_handle", "someone_else")]
