"""The interaction record on SQLite and PostgreSQL alike."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, StatementError

from touchline.db import Database, insert_ignoring_duplicates
from touchline.record import Consent, Customer, Event, Identity


def test_the_schema_is_the_newest_migration(db: Database) -> None:
    assert db.is_current()
    assert {
        "customer",
        "identity",
        "consent",
        "preference",
        "event",
        "journey",
        "enrollment",
        "touch",
        "interaction",
    } <= set(db.table_names())


def test_datetimes_come_back_in_utc_whatever_zone_went_in(db: Database) -> None:
    paris = timezone(timedelta(hours=1))
    with db.session() as session:
        session.add(
            Customer(
                id="c1",
                attributes={},
                created_at=datetime(2026, 11, 23, 10, 0, tzinfo=paris),
                updated_at=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
            )
        )
    with db.session() as session:
        customer = session.get(Customer, "c1")
        assert customer.created_at == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
        assert customer.created_at.tzinfo == UTC


def test_naive_datetimes_are_refused(db: Database) -> None:
    with pytest.raises(StatementError, match="naive datetime"), db.session() as session:
        session.add(
            Customer(
                id="c1",
                attributes={},
                created_at=datetime(2026, 11, 23),
                updated_at=datetime(2026, 11, 23),
            )
        )
        session.flush()


def test_json_attributes_round_trip(db: Database) -> None:
    attributes = {"first_name": "Zoë", "tags": ["vip", "beta"], "score": 4.5, "nested": {"a": None}}
    with db.session() as session:
        session.add(
            Customer(
                id="c1",
                attributes=attributes,
                created_at=datetime.now(UTC),
                updated_at=datetime.now(UTC),
            )
        )
    with db.session() as session:
        assert session.get(Customer, "c1").attributes == attributes


def test_an_address_belongs_to_one_customer(db: Database) -> None:
    now = datetime.now(UTC)
    with db.session() as session:
        session.add_all(
            [Customer(id=c, attributes={}, created_at=now, updated_at=now) for c in ("c1", "c2")]
        )
        session.add(
            Identity(
                customer_id="c1",
                kind="email",
                value="ada@example.com",
                source="test",
                created_at=now,
            )
        )
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(
            Identity(
                customer_id="c2",
                kind="email",
                value="ada@example.com",
                source="test",
                created_at=now,
            )
        )


def test_insert_ignoring_duplicates_reports_only_what_is_new(db: Database) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "id": f"e{i}",
            "type": "a.b",
            "customer_id": "c1",
            "occurred_at": now,
            "received_at": now,
            "source": "t",
            "payload": {},
        }
        for i in range(3)
    ]
    with db.session() as session:
        session.add(Customer(id="c1", attributes={}, created_at=now, updated_at=now))
        session.flush()
        assert sorted(
            insert_ignoring_duplicates(
                session, Event, rows[:2], conflict_columns=["id"], returning="id"
            )
        ) == ["e0", "e1"]
        assert insert_ignoring_duplicates(
            session, Event, rows, conflict_columns=["id"], returning="id"
        ) == ["e2"]
        assert len(session.execute(select(Event)).all()) == 3


def test_the_consent_ledger_keeps_every_change(db: Database) -> None:
    from preference_center import load_profiles

    now = datetime(2026, 11, 23, tzinfo=UTC)
    with db.session() as session:
        session.add(Customer(id="c1", attributes={}, created_at=now, updated_at=now))
        session.flush()
        for hours, status, source in (
            (0, "granted", "signup_form"),
            (1, "revoked", "sms_keyword"),
            (2, "granted", "api"),
        ):
            session.add(
                Consent(
                    customer_id="c1",
                    channel="sms",
                    purpose="marketing",
                    status=status,
                    source=source,
                    evidence={},
                    recorded_at=now + timedelta(hours=hours),
                )
            )
    with db.session() as session:
        assert len(session.execute(select(Consent)).all()) == 3
        state = load_profiles(session, ["c1"])["c1"].consents[("sms", "marketing")]
        assert (state.status, state.source) == ("granted", "api")


@pytest.mark.parametrize("count", [7, 1500])  # PostgreSQL: one unnest statement; COPY
def test_bulk_inserts_keep_every_value_and_skip_only_duplicates(db: Database, count: int) -> None:
    """Hostile text (quotes, backslashes, braces, commas, NULL as a word, non-Latin
    scripts), JSON with nesting and nulls, times given in other zones; duplicates
    inside the batch and against the table; twice in one transaction; a rollback."""
    paris = timezone(timedelta(hours=1))
    now = datetime(2026, 11, 23, 10, 0, tzinfo=paris)
    nasty = ['a"b', "back\\slash", "{brace}", "a,b", "NULL", "", "ｓｔｏｐ ✋", "tab\tnew\nline"]
    rows = [
        {
            "id": f"e{i}",
            "type": "a.b",
            "customer_id": "c1",
            "occurred_at": now + timedelta(seconds=i),
            "received_at": now,
            "source": nasty[i % len(nasty)],
            "payload": {
                "text": nasty[i % len(nasty)],
                "n": i,
                "list": [1, None, {"x": "y"}],
                "nul": "a\x00b",
            },
        }
        for i in range(count)
    ]
    with db.session() as session:
        session.add(Customer(id="c1", attributes={}, created_at=now, updated_at=now))
        session.commit()
        first = insert_ignoring_duplicates(
            session, Event, rows[: count // 2] + rows[:3], conflict_columns=["id"], returning="id"
        )
        assert sorted(first) == sorted(r["id"] for r in rows[: count // 2])
        # The same transaction again: nothing staged by the first call comes back.
        second = insert_ignoring_duplicates(
            session, Event, rows, conflict_columns=["id"], returning="id"
        )
        assert sorted(second) == sorted(r["id"] for r in rows[count // 2 :])
        session.commit()
    with db.session() as session:
        stored = {e.id: e for e in session.execute(select(Event)).scalars()}
    assert len(stored) == count
    for row in rows:
        event = stored[row["id"]]
        # JSON loses NUL characters on both databases (PostgreSQL refuses them).
        assert (event.source, event.payload) == (row["source"], {**row["payload"], "nul": "ab"})
        assert event.occurred_at == row["occurred_at"] and event.occurred_at.tzinfo == UTC

    more = [{**row, "id": f"f{row['id']}"} for row in rows]
    with db.session() as session:
        insert_ignoring_duplicates(session, Event, more, conflict_columns=["id"])
        session.rollback()
        # After a rollback the next batch goes in whole, and alone.
        assert len(insert_ignoring_duplicates(
            session, Event, more[:5], conflict_columns=["id"], returning="id"
        )) == 5  # fmt: skip
        session.commit()
    with db.session() as session:
        assert len(session.execute(select(Event.id)).all()) == count + 5


def test_bulk_inserts_refuse_naive_times_and_fill_python_defaults(db: Database) -> None:
    now = datetime(2026, 11, 23, tzinfo=UTC)
    with db.session() as session:
        session.add(Customer(id="c1", attributes={}, created_at=now, updated_at=now))
        session.commit()
        naive = [{"id": "x", "type": "a.b", "customer_id": "c1", "occurred_at": now.replace(tzinfo=None),
                  "received_at": now, "source": "t", "payload": {}}]  # fmt: skip
        with pytest.raises((ValueError, StatementError)):
            insert_ignoring_duplicates(session, Event, naive * 1200, conflict_columns=["id"])
        session.rollback()
        # ``verified`` is left out: its Python-side default (False) still applies.
        identities = [
            {"customer_id": "c1", "kind": "email", "value": f"a{i}@example.com",
             "source": "t", "created_at": now}
            for i in range(1100)
        ]  # fmt: skip
        insert_ignoring_duplicates(
            session, Identity, identities, conflict_columns=["kind", "value"]
        )
        session.commit()
        verified = session.execute(select(Identity.verified)).scalars().all()
    assert len(verified) == 1100 and not any(verified)
