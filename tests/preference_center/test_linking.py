"""One customer profile: identities linked on evidence only, resolved through merges;
merges that keep every record and are audited; refused changes that change nothing."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from preference_center import load_profiles
from preference_center.ledger import history, record_consent
from preference_center.linking import identities, link_identity, resolve_customer
from preference_center.merge import merge_customers
from preference_center.schemas import ConsentIn, PreferencesIn
from preference_center.stated import update_preferences
from touchline.config import Settings
from touchline.db import Database
from touchline.errors import IdentityConflictError, MergeError, PreferenceError
from touchline.record import Customer, CustomerMerge, Event, Identity

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SEEN = {"event_id": "signup-1"}


@pytest.fixture
def two(db: Database) -> None:
    with db.session() as session:
        for cid, attrs in (("web-17", {"first_name": "Ada", "tier": "gold"}),
                           ("pos-903", {"first_name": "Ada L.", "store": "Leeds"})):  # fmt: skip
            session.add(Customer(id=cid, attributes=attrs, created_at=T0, updated_at=T0))


def count(db: Database, table: type) -> int:
    with db.session() as session:
        return session.execute(select(func.count()).select_from(table)).scalar_one()


def test_addresses_are_normalised_and_resolve_to_their_customer(db: Database, two: None) -> None:
    with db.session() as session:
        link_identity(session, "web-17", "phone", "(415) 555-0100", source="api", evidence=SEEN,
                      at=T0, default_region="US")  # fmt: skip
        link_identity(
            session, "web-17", "email", "Ada@Example.COM", source="api", evidence=SEEN, at=T0
        )
        link_identity(session, "web-17", "x_handle", "@Ada_L", source="api", evidence=SEEN, at=T0)
        link_identity(
            session, "web-17", "whatsapp", "+44 7700 900123", source="api", evidence=SEEN, at=T0
        )
    with db.session() as session:
        assert {(i.kind, i.value) for i in identities(session, "web-17")} == {
            ("phone", "+14155550100"), ("email", "Ada@example.com"), ("x_handle", "ada_l"),
            ("whatsapp", "+447700900123"),
        }  # fmt: skip
        assert resolve_customer(session, "phone", "+1 415 555 0100") == "web-17"
        assert resolve_customer(session, "x_handle", "ADA_L") == "web-17"
        assert resolve_customer(session, "phone", "+14155550199") is None


@pytest.mark.parametrize(
    ("kind", "value", "evidence", "field"),
    [("phone", "not a phone", SEEN, "value"), ("email", "ada@", SEEN, "value"),
     ("fax", "+14155550100", SEEN, "kind"), ("email", "ada@example.com", {}, "evidence")],
)  # fmt: skip
def test_a_link_without_evidence_or_with_a_bad_address_is_refused(
    db: Database, two: None, kind: str, value: str, evidence: dict, field: str
) -> None:
    with pytest.raises(PreferenceError) as error, db.session() as session:
        link_identity(session, "web-17", kind, value, source="api", evidence=evidence, at=T0)
    assert [p.field for p in error.value.problems] == [field]
    assert count(db, Identity) == 0


def test_an_address_of_another_customer_is_not_moved(db: Database, two: None) -> None:
    with db.session() as session:
        link_identity(
            session, "web-17", "email", "ada@example.com", source="api", evidence=SEEN, at=T0
        )
    with (
        pytest.raises(IdentityConflictError, match="belongs to customer web-17"),
        db.session() as s,
    ):
        link_identity(
            s, "pos-903", "email", "ada@EXAMPLE.com", source="pos", evidence={"till": 4}, at=T0
        )
    with db.session() as session:
        assert resolve_customer(session, "email", "ada@example.com") == "web-17"


def test_a_merge_keeps_records_preferences_and_consent_history_and_is_audited(
    db: Database, two: None
) -> None:
    settings = Settings()
    with db.session() as session:
        link_identity(
            session, "pos-903", "phone", "+14155550100", source="pos", evidence={"till": 4}, at=T0
        )
        record_consent(session, "pos-903", [ConsentIn(channel="sms", status="granted",
                       evidence={"confirmed_at": "2026-10-01"})], source="signup_form",
                       evidence={}, at=T0, settings=settings)  # fmt: skip
        record_consent(session, "web-17", [ConsentIn(channel="email", status="granted")],
                       source="signup_form", evidence={}, at=T0 + timedelta(hours=1),
                       settings=settings)  # fmt: skip
        update_preferences(session, "pos-903", PreferencesIn(timezone="Europe/London",
                           quiet_hours={"start": "22:00", "end": "07:00"}), T0)  # fmt: skip
        update_preferences(session, "web-17", PreferencesIn(channel_order=["email", "sms"]), T0)
        session.add(Event(id="pos-sale-1", type="order.placed", customer_id="pos-903", occurred_at=T0,
                          received_at=T0, source="pos", payload={"total": 30}))  # fmt: skip
    with db.session() as session:
        audit = merge_customers(session, "pos-903", "web-17", actor="ops@shop", reason="same card and phone",
                                evidence={"ticket": "CS-1"}, at=T0 + timedelta(days=1))  # fmt: skip
    assert (
        audit.moved["identity"] == 1 and audit.moved["consent"] == 1 and audit.moved["event"] == 1
    )
    with db.session() as session:
        profile = load_profiles(session, ["web-17"])["web-17"]
        ledger = history(session, "web-17")
        source = session.get(Customer, "pos-903")
        assert resolve_customer(session, "phone", "+14155550100") == "web-17"
        assert session.get(Event, "pos-sale-1").customer_id == "web-17"
        audits = session.execute(select(CustomerMerge)).scalars().all()
    assert profile.addresses == {"sms": "+14155550100"}
    assert {k: v.status for k, v in profile.consents.items()} == {
        ("sms", "marketing"): "granted", ("email", "marketing"): "granted",
    }  # fmt: skip
    assert [r.recorded_at for r in ledger] == [T0, T0 + timedelta(hours=1)]  # times kept
    assert profile.channel_order == ("email", "sms")  # the target's own statement wins
    assert profile.timezone == "Europe/London"  # and gaps are filled from the source
    assert profile.attributes == {"first_name": "Ada", "tier": "gold", "store": "Leeds"}
    assert (source.merged_into, source.attributes) == ("web-17", {})
    assert [(a.actor, a.reason, a.evidence) for a in audits] == [
        ("ops@shop", "same card and phone", {"ticket": "CS-1"})
    ]


def test_a_merge_into_itself_or_twice_is_refused_and_changes_nothing(
    db: Database, two: None
) -> None:
    with pytest.raises(MergeError, match="into itself"), db.session() as session:
        merge_customers(session, "web-17", "web-17", actor="ops", reason="x", evidence={}, at=T0)
    with db.session() as session:
        merge_customers(session, "pos-903", "web-17", actor="ops", reason="x", evidence={}, at=T0)
    with pytest.raises(MergeError, match="already merged"), db.session() as session:
        merge_customers(session, "pos-903", "web-17", actor="ops", reason="x", evidence={}, at=T0)
    with pytest.raises(PreferenceError, match="merged into web-17"), db.session() as session:
        link_identity(
            session, "pos-903", "email", "a@example.com", source="api", evidence=SEEN, at=T0
        )
    assert count(db, CustomerMerge) == 1


def test_events_for_a_merged_customer_reach_the_profile_it_was_merged_into(
    db: Database, two: None
) -> None:
    from touchline.intake.ingest import ingest

    with db.session() as session:
        merge_customers(session, "pos-903", "web-17", actor="ops", reason="same person",
                        evidence={}, at=T0)  # fmt: skip
    report = ingest(db, [(1, {"id": "pos-sale-2", "type": "order.placed", "customer_id": "pos-903",
                              "occurred_at": T0.isoformat(), "payload": {"total": 12}})],
                    now=T0, source="pos")  # fmt: skip
    assert report.accepted == ["pos-sale-2"]
    with db.session() as session:
        assert session.get(Event, "pos-sale-2").customer_id == "web-17"
        assert session.get(Customer, "pos-903").merged_into == "web-17"
