"""The consent ledger: rows appended with source and evidence; state derived; topics; the
SMS double opt-in; carrier keywords; nothing changed by a refused change."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from preference_center import load_profiles
from preference_center.consent import topic_allows
from preference_center.keywords import apply_keyword, classify
from preference_center.ledger import confirm_sms, history, record_consent, unsubscribe_all
from preference_center.schemas import ConsentIn
from touchline.config import Settings
from touchline.db import Database
from touchline.errors import PreferenceError, UnknownCustomerError
from touchline.record import Consent, Customer

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SETTINGS = Settings()
PROOF = {"ip": "203.0.113.9", "user_agent": "Firefox"}


@pytest.fixture
def ada(db: Database) -> str:
    with db.session() as session:
        session.add(Customer(id="ada", attributes={}, created_at=T0, updated_at=T0))
    return "ada"


def grant(channel: str, **extra: object) -> ConsentIn:
    return ConsentIn(channel=channel, status="granted", **extra)  # type: ignore[arg-type]


def rows(db: Database) -> int:
    with db.session() as session:
        return session.execute(select(func.count()).select_from(Consent)).scalar_one()


def state(db: Database, customer: str, key: tuple[str, str]) -> str | None:
    with db.session() as session:
        found = load_profiles(session, [customer])[customer].consents.get(key)
        return found.status if found else None


def test_every_change_is_a_row_and_the_state_is_the_newest(db: Database, ada: str) -> None:
    with db.session() as session:
        record_consent(session, ada, [grant("email")], source="signup_form", evidence=PROOF,
                       at=T0, settings=SETTINGS)  # fmt: skip
        record_consent(session, ada, [ConsentIn(channel="email", status="revoked")],
                       source="unsubscribe_link", evidence={"touch_id": "t1"},
                       at=T0 + timedelta(days=3), settings=SETTINGS)  # fmt: skip
    assert state(db, ada, ("email", "marketing")) == "revoked"
    with db.session() as session:
        ledger = history(session, ada)
    assert [(r.status, r.source, r.evidence) for r in ledger] == [
        ("granted", "signup_form", PROOF),
        ("revoked", "unsubscribe_link", {"touch_id": "t1"}),
    ]


def test_sms_marketing_waits_for_confirmation_then_a_yes_confirms_it(
    db: Database, ada: str
) -> None:
    with db.session() as session:
        result = record_consent(session, ada, [grant("sms")], source="signup_form",
                                evidence=PROOF, at=T0, settings=SETTINGS)  # fmt: skip
    assert result.awaiting_confirmation == ["sms"]
    assert state(db, ada, ("sms", "marketing")) == "pending"
    with db.session() as session:
        outcome = apply_keyword(session, ada, "opt_in", word="yes", evidence={"message_sid": "SM1"},
                                at=T0 + timedelta(minutes=5), settings=SETTINGS)  # fmt: skip
    assert outcome.changed == ("sms marketing confirmed",)
    assert "subscribed" in (outcome.reply or "")
    assert state(db, ada, ("sms", "marketing")) == "granted"
    with db.session() as session:
        last = history(session, ada)[-1]
    assert (last.source, last.evidence["keyword"], last.evidence["message_sid"]) == (
        "sms_keyword", "yes", "SM1",
    )  # fmt: skip


def test_a_grant_with_proof_of_an_earlier_confirmation_is_not_asked_again(
    db: Database, ada: str
) -> None:
    with db.session() as session:
        result = record_consent(session, ada, [grant("sms", evidence={"confirmed_at": "2026-01-01"})],
                                source="import", evidence={}, at=T0, settings=SETTINGS)  # fmt: skip
    assert result.awaiting_confirmation == []
    assert state(db, ada, ("sms", "marketing")) == "granted"


def test_the_confirmation_link_confirms_only_what_is_pending(db: Database, ada: str) -> None:
    with db.session() as session:
        assert not confirm_sms(session, ada, source="confirmation_link", evidence={}, at=T0)
        record_consent(session, ada, [grant("sms")], source="api", evidence={"by": "crm"},
                       at=T0, settings=SETTINGS)  # fmt: skip
        assert confirm_sms(session, ada, source="confirmation_link", evidence={}, at=T0)
    assert state(db, ada, ("sms", "marketing")) == "granted"


@pytest.mark.parametrize(
    ("body", "expected"),
    [("STOP", "opt_out"), (" stop ", "opt_out"), ("StopAll", "opt_out"), ("optout", "opt_out"),
     ("Revoke", "opt_out"), ("END", "opt_out"), ("quit", "opt_out"), ("cancel", "opt_out"),
     ("unsubscribe", "opt_out"), ("start", "opt_in"), ("YES", "opt_in"), ("Unstop", "opt_in"),
     ("help", "help"), ("INFO", "help"), ("stop texting me about shoes", "opt_out"),
     ("yes please", "opt_in"), ("see you at the end", None), ("", None)],
)  # fmt: skip
def test_keywords_in_any_case_and_plain_words_asking_to_stop(
    body: str, expected: str | None
) -> None:
    assert classify(body) == expected


def test_stop_revokes_every_purpose_and_start_brings_them_back(db: Database, ada: str) -> None:
    with db.session() as session:
        record_consent(session, ada, [grant("sms", evidence={"confirmed_at": "x"})],
                       source="signup_form", evidence={}, at=T0, settings=SETTINGS)  # fmt: skip
        stop = apply_keyword(session, ada, "opt_out", word="STOP", evidence={"message_sid": "SM2"},
                             at=T0 + timedelta(hours=1), settings=SETTINGS)  # fmt: skip
    assert "unsubscribed" in (stop.reply or "")
    assert state(db, ada, ("sms", "marketing")) == "revoked"
    assert state(db, ada, ("sms", "transactional")) == "revoked"
    with db.session() as session:
        start = apply_keyword(session, ada, "opt_in", word="START", evidence={"message_sid": "SM3"},
                              at=T0 + timedelta(hours=2), settings=SETTINGS)  # fmt: skip
    assert set(start.changed) == {"sms marketing granted again", "sms transactional granted again"}
    assert state(db, ada, ("sms", "marketing")) == "granted"


def test_help_answers_and_changes_nothing(db: Database, ada: str) -> None:
    before = rows(db)
    with db.session() as session:
        outcome = apply_keyword(session, ada, "help", word="HELP", evidence={}, at=T0,
                                settings=SETTINGS)  # fmt: skip
    assert "Reply STOP to opt out" in (outcome.reply or "")
    assert SETTINGS.company_name in (outcome.reply or "")
    assert rows(db) == before


def test_topics_are_left_and_joined_per_channel_or_everywhere(db: Database, ada: str) -> None:
    with db.session() as session:
        record_consent(session, ada, [ConsentIn(channel="all", topic="promotions", status="revoked")],
                       source="preference_page", evidence=PROOF, at=T0, settings=SETTINGS)  # fmt: skip
        record_consent(session, ada, [ConsentIn(channel="email", topic="promotions", status="granted")],
                       source="preference_page", evidence=PROOF, at=T0 + timedelta(minutes=1),
                       settings=SETTINGS)  # fmt: skip
        topics = load_profiles(session, [ada])[ada].topics
    assert topic_allows(topics, "promotions", "email")[0]
    allowed, why = topic_allows(topics, "promotions", "sms")
    assert not allowed and "left the topic promotions" in why and "preference_page" in why
    assert topic_allows(topics, "newsletter", "sms")[0]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (ConsentIn(channel="all", topic="account", status="revoked"), "consents.1.topic", "cannot be left"),
        (ConsentIn(channel="email", purpose="transactional", status="pending"), "consents.1.status", "no confirmation"),
    ],
)  # fmt: skip
def test_a_refused_change_changes_nothing(
    db: Database, ada: str, change: ConsentIn, field: str, words: str
) -> None:
    before = rows(db)
    with pytest.raises(PreferenceError) as error, db.session() as session:
        record_consent(session, ada, [grant("email"), change], source="api", evidence={}, at=T0,
                       settings=SETTINGS)  # fmt: skip
    assert [p.field for p in error.value.problems] == [field]
    assert words in str(error.value)
    assert rows(db) == before


def test_unknown_topics_channels_and_sources_are_refused() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="unknown topic 'gossip'"):
        ConsentIn(channel="email", topic="gossip", status="revoked")
    with pytest.raises(ValidationError, match="channel"):
        ConsentIn(channel="pigeon", status="granted")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match='"all" is for topics'):
        ConsentIn(channel="all", status="granted")


def test_unsubscribe_from_everything_keeps_transactional(db: Database, ada: str) -> None:
    with db.session() as session:
        unsubscribe_all(session, ada, source="preference_page", evidence=PROOF, at=T0)
    assert state(db, ada, ("email", "marketing")) == "revoked"
    assert state(db, ada, ("sms", "marketing")) == "revoked"
    assert state(db, ada, ("email", "transactional")) is None


def test_an_unknown_customer_is_an_error(db: Database) -> None:
    with pytest.raises(UnknownCustomerError), db.session() as session:
        record_consent(session, "nobody", [grant("email")], source="api", evidence={}, at=T0,
                       settings=SETTINGS)  # fmt: skip
