"""Intake on both backends: validation, idempotency, profiles, enrollment, exits, goals."""

import json
from datetime import timedelta

from sqlalchemy import func, select

from tests.conftest import START
from touchline.db import Database
from touchline.intake import ingest
from touchline.record import Consent, Enrollment, Event, Identity, Interaction, Preference
from touchline.record.enrollments import ACTIVE, EXITED


def signup(customer: str, at=START, **extra):  # type: ignore[no-untyped-def]
    event = {
        "id": f"signup-{customer}",
        "type": "customer.signed_up",
        "customer_id": customer,
        "occurred_at": at.isoformat(),
        "profile": {
            "email": f"{customer}@example.com",
            "phone": "+1 415 555 0100" if customer == "c1" else None,
            "attributes": {"first_name": customer.upper()},
        },
        "preferences": {"timezone": "Europe/Paris", "channel_order": ["sms", "email"]},
        "consents": [{"channel": "email", "status": "granted"}],
    }
    event.update(extra)
    return event


def lines(*events):  # type: ignore[no-untyped-def]
    return [(n, json.dumps(e) if isinstance(e, dict) else e) for n, e in enumerate(events, start=1)]


def count(db: Database, model, *where) -> int:  # type: ignore[no-untyped-def]
    with db.session() as session:
        return session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def test_valid_events_are_stored_and_enroll(db: Database, published: None) -> None:
    report = ingest(db, lines(signup("c1"), signup("c2")), now=START, source="test")
    assert sorted(report.accepted) == ["signup-c1", "signup-c2"]
    assert report.enrolled == 2
    with db.session() as session:
        enrollment = session.execute(
            select(Enrollment).where(Enrollment.customer_id == "c1")
        ).scalar_one()
        assert (enrollment.journey_key, enrollment.journey_version, enrollment.current_step) == (
            "welcome",
            1,
            "welcome_email",
        )
        assert (
            session.execute(
                select(Identity.value).where(Identity.customer_id == "c1", Identity.kind == "phone")
            ).scalar_one()
            == "+14155550100"
        )
        assert session.get(Preference, "c1").channel_order == ["sms", "email"]
        consent = session.execute(select(Consent).where(Consent.customer_id == "c1")).scalar_one()
        assert (consent.status, consent.evidence["event_id"]) == ("granted", "signup-c1")


def test_sending_the_same_events_twice_enrolls_nobody_twice(db: Database, published: None) -> None:
    events = lines(signup("c1"), signup("c2"))
    ingest(db, events, now=START, source="test")
    again = ingest(db, events, now=START + timedelta(minutes=5), source="test")
    assert again.accepted == [] and sorted(again.duplicates) == ["signup-c1", "signup-c2"]
    assert again.enrolled == 0
    assert count(db, Enrollment) == 2
    assert count(db, Event) == 2
    assert count(db, Consent) == 2  # consents of a replayed event are not appended again


def test_a_duplicate_inside_one_file_is_a_duplicate(db: Database, published: None) -> None:
    report = ingest(db, lines(signup("c1"), signup("c1")), now=START, source="test")
    assert report.accepted == ["signup-c1"] and report.duplicates == ["signup-c1"]


def test_an_invalid_event_is_named_and_the_others_go_in(db: Database, published: None) -> None:
    bad_time = signup("c2", occurred_at="2026-11-23T09:00:00")
    bad_type = signup("c3", type="Signed Up")
    bad_email = signup("c4", profile={"email": "nope"})
    report = ingest(
        db,
        lines(signup("c1"), bad_time, '{"id": ', bad_type, bad_email, signup("c5")),
        now=START,
        source="signups.jsonl",
    )
    assert sorted(report.accepted) == ["signup-c1", "signup-c5"]
    assert report.rejected_events == 4
    assert [str(p).split(": ", 2)[:2] for p in report.rejected] == [
        ["signups.jsonl:2", "occurred_at"],
        ["signups.jsonl:3", "not valid JSON"],
        ["signups.jsonl:4", "type"],
        ["signups.jsonl:5", "profile.email"],
    ]
    assert count(db, Enrollment) == 2


def test_an_address_of_another_customer_is_not_linked(db: Database, published: None) -> None:
    ingest(db, lines(signup("c1")), now=START, source="test")
    other = signup("c9", profile={"email": "c1@example.com"})
    report = ingest(db, lines(other), now=START, source="test")
    assert report.identity_conflicts == [
        "event signup-c9: the email given for c9 already belongs to c1; not linked"
    ]
    assert count(db, Identity, Identity.customer_id == "c9") == 0


def test_preferences_are_merged_field_by_field(db: Database, published: None) -> None:
    ingest(db, lines(signup("c1")), now=START, source="test")
    update = {
        "id": "prefs-1",
        "type": "customer.updated",
        "customer_id": "c1",
        "occurred_at": START.isoformat(),
        "preferences": {"locale": "fr"},
    }
    ingest(db, lines(update), now=START, source="test")
    with db.session() as session:
        preference = session.get(Preference, "c1")
        assert (preference.locale, preference.timezone, preference.channel_order) == (
            "fr",
            "Europe/Paris",
            ["sms", "email"],
        )


def test_an_exit_event_ends_an_active_enrollment_on_arrival(db: Database, published: None) -> None:
    ingest(db, lines(signup("c1"), signup("c2")), now=START, source="test")
    purchase = {
        "id": "buy-1",
        "type": "customer.first_purchase",
        "customer_id": "c1",
        "occurred_at": (START + timedelta(hours=5)).isoformat(),
        "payload": {"revenue": 42.5},
    }
    report = ingest(db, lines(purchase), now=START + timedelta(hours=6), source="shop")
    assert (report.exited, report.converted) == (1, 1)
    with db.session() as session:
        statuses = dict(session.execute(select(Enrollment.customer_id, Enrollment.status)).all())
        assert statuses == {"c1": EXITED, "c2": ACTIVE}
        conversion = session.execute(
            select(Interaction).where(Interaction.kind == "converted")
        ).scalar_one()
        assert (
            conversion.detail["revenue"] == 42.5 and conversion.detail["hours_after_entry"] == 5.0
        )


def test_an_exit_event_before_the_entry_does_not_end_it(db: Database, published: None) -> None:
    earlier = {
        "id": "buy-0",
        "type": "customer.first_purchase",
        "customer_id": "c1",
        "occurred_at": (START - timedelta(days=1)).isoformat(),
    }
    ingest(db, lines(earlier, signup("c1")), now=START, source="test")
    assert count(db, Enrollment, Enrollment.status == ACTIVE) == 1


def test_a_goal_reached_twice_converts_once(db: Database, published: None) -> None:
    ingest(db, lines(signup("c1")), now=START, source="test")
    buys = [
        {
            "id": f"buy-{n}",
            "type": "customer.first_purchase",
            "customer_id": "c1",
            "occurred_at": (START + timedelta(days=n)).isoformat(),
        }
        for n in (1, 2)
    ]
    ingest(db, lines(*buys), now=START + timedelta(days=3), source="shop")
    assert count(db, Interaction, Interaction.kind == "converted") == 1
