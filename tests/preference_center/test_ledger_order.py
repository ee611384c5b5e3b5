"""The ledger's order: the change Touchline received last decides; a change dated in the
future is refused; a grant never outranks a revocation that happened after it — and every
writer (intake, provider webhooks, the unsubscribe link) goes through the ledger API."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from channels.webhooks import ProviderEvent
from preference_center import load_profiles
from preference_center.consent import fold_ledger
from preference_center.ledger import (
    LedgerChange,
    append_changes,
    current_consents,
    record_consent,
)
from preference_center.schemas import ConsentIn
from touchline.config import Settings
from touchline.db import Database
from touchline.errors import PreferenceError
from touchline.inbound import record_provider_events
from touchline.intake import ingest
from touchline.record import Consent, Customer, Enrollment, Journey, Suppression, Touch

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SETTINGS = Settings()


@pytest.fixture
def ada(db: Database) -> str:
    with db.session() as session:
        session.add(Customer(id="ada", attributes={}, created_at=T0, updated_at=T0))
    return "ada"


def email_state(db: Database, customer: str = "ada") -> str | None:
    with db.session() as session:
        found = load_profiles(session, [customer])[customer].consents.get(("email", "marketing"))
        return found.status if found else None


def count(db: Database, table: type) -> int:
    with db.session() as session:
        return session.execute(select(func.count()).select_from(table)).scalar_one()


def test_a_change_dated_in_the_future_is_refused_and_nothing_is_written(
    db: Database, ada: str
) -> None:
    with pytest.raises(PreferenceError) as refused, db.session() as session:
        record_consent(session, ada, [ConsentIn(channel="email", status="granted")],
                       source="api", evidence={}, at=datetime(2099, 1, 1, tzinfo=UTC),
                       received_at=T0, settings=SETTINGS)  # fmt: skip
    assert "occurred_at: 2099-01-01T00:00:00+00:00 is in the future" in str(refused.value)
    assert count(db, Consent) == 0


def test_a_little_clock_skew_is_recorded_at_receipt(db: Database, ada: str) -> None:
    ahead = T0 + SETTINGS.clock_skew_tolerance - timedelta(seconds=1)
    with db.session() as session:
        record_consent(session, ada, [ConsentIn(channel="email", status="granted")],
                       source="api", evidence={}, at=ahead, received_at=T0, settings=SETTINGS)  # fmt: skip
    with db.session() as session:
        row = session.execute(select(Consent)).scalar_one()
    assert row.recorded_at == row.received_at == T0


def test_the_change_received_last_decides_whatever_its_date(db: Database, ada: str) -> None:
    with db.session() as session:
        append_changes(session, [LedgerChange("ada", "email", "marketing", "granted", "import",
                                              {}, T0 + timedelta(minutes=4))],
                       received_at=T0, settings=SETTINGS)  # fmt: skip
        append_changes(session, [LedgerChange("ada", "email", "marketing", "revoked",
                                              "unsubscribe_link", {}, T0 + timedelta(minutes=1))],
                       received_at=T0 + timedelta(minutes=1), settings=SETTINGS)  # fmt: skip
    assert email_state(db) == "revoked"
    with db.session() as session:
        assert current_consents(session, "ada")[("email", "marketing")].status == "revoked"


def test_a_late_grant_that_happened_before_the_revocation_does_not_win(
    db: Database, ada: str
) -> None:
    with db.session() as session:
        record_consent(session, ada, [ConsentIn(channel="email", status="revoked")],
                       source="unsubscribe_link", evidence={}, at=T0, settings=SETTINGS)  # fmt: skip
        # An import from another system arrives a day later with a grant of last month.
        record_consent(session, ada, [ConsentIn(channel="email", status="granted")],
                       source="import", evidence={"confirmed_at": "2026-10-01"},
                       at=T0 - timedelta(days=30), received_at=T0 + timedelta(days=1),
                       settings=SETTINGS)  # fmt: skip
    assert email_state(db) == "revoked"
    with db.session() as session:  # a grant given after the revocation does count
        record_consent(session, ada, [ConsentIn(channel="email", status="granted")],
                       source="preference_page", evidence={}, at=T0 + timedelta(days=2),
                       settings=SETTINGS)  # fmt: skip
    assert email_state(db) == "granted"


def test_folding_keeps_the_order_given() -> None:
    rows = [
        ("email", "marketing", "granted", "api", T0 + timedelta(days=365)),
        ("email", "marketing", "revoked", "unsubscribe_link", T0),
    ]
    assert fold_ledger(rows)[("email", "marketing")].status == "revoked"


def test_intake_rejects_a_consent_event_dated_in_the_future(db: Database) -> None:
    future = {"id": "e-2099", "type": "customer.consent_changed", "customer_id": "ada",
              "occurred_at": "2099-01-01T00:00:00+00:00",
              "consents": [{"channel": "email", "status": "granted"}]}  # fmt: skip
    fine = {**future, "id": "e-now", "occurred_at": T0.isoformat()}
    report = ingest(db, [(1, json.dumps(future)), (2, json.dumps(fine))], now=T0, source="test")
    assert report.accepted == ["e-now"] and report.rejected_events == 1
    assert "line 1" in str(report.rejected[0]) or report.rejected[0].line == 1
    assert "in the future" in str(report.rejected[0])
    assert count(db, Consent) == 1


def test_provider_unsubscribes_and_bounces_go_through_the_ledger(db: Database) -> None:
    with db.session() as session:
        session.add(Customer(id="c1", attributes={}, created_at=T0, updated_at=T0))
        session.add(Journey(key="j", version=1, name="J", definition={}, digest="x",
                            published_at=T0))  # fmt: skip
        session.flush()
        session.add(Enrollment(id="e1", journey_id=1, journey_key="j", journey_version=1,
                               customer_id="c1", trigger_at=T0, entered_at=T0, updated_at=T0))  # fmt: skip
        session.flush()
        session.add(Touch(id="t1", enrollment_id="e1", customer_id="c1", journey_key="j",
                          journey_version=1, step_id="s", purpose="marketing", channel="email",
                          address="c1@example.com", scheduled_for=T0, created_at=T0))  # fmt: skip
    received = T0 + timedelta(minutes=1)
    events = [
        # The provider's clock runs an hour fast: recorded at receipt, never in the future.
        ProviderEvent("sendgrid", "u1", "unsubscribed", None, "t1", None, T0 + timedelta(hours=1)),
        ProviderEvent("sendgrid", "b1", "bounced", None, "t1", None, T0),
        ProviderEvent("sendgrid", "b2", "bounced", None, "t1", None, T0),
    ]
    with db.session() as session:
        record_provider_events(session, events, received, SETTINGS)
    with db.session() as session:
        consent = session.execute(select(Consent)).scalar_one()
        suppression = session.execute(select(Suppression)).scalar_one()  # once, not twice
    assert (consent.status, consent.recorded_at, consent.received_at) == (
        "revoked",
        received,
        received,
    )
    assert (suppression.kind, suppression.value, suppression.reason) == (
        "email",
        "c1@example.com",
        "bounced",
    )


def test_the_migration_keeps_the_order_existing_rows_had(tmp_path) -> None:
    from alembic import command
    from sqlalchemy import text

    from touchline.db import alembic_config

    database = Database(f"sqlite:///{tmp_path / 'm.db'}")
    config = alembic_config(database.url)
    command.upgrade(config, "0004")
    with database.engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO customer (id, attributes, created_at, updated_at) "
            "VALUES ('ada', '{}', '2026-11-01 09:00:00.000000', '2026-11-01 09:00:00.000000')"
        ))  # fmt: skip
        connection.execute(text(
            "INSERT INTO consent (customer_id, channel, purpose, status, source, evidence, "
            "recorded_at) VALUES ('ada', 'email', 'marketing', 'granted', 'import', '{}', "
            "'2026-11-01 09:00:00.000000')"
        ))  # fmt: skip
    command.upgrade(config, "head")
    with database.session() as session:
        row = session.execute(select(Consent)).scalar_one()
    assert row.received_at == row.recorded_at == datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    database.dispose()
