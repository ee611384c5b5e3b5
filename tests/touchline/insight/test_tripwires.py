"""Tripwires on both backends: a valuable customer gone quiet is flagged once, through
intake, and a retention journey triggered on the flag enrolls them."""

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.conftest import START
from touchline.cli import app
from touchline.config import Settings, reset_settings_cache
from touchline.db import Database
from touchline.insight.tripwires import EVENT_TYPE, flag_disengaging
from touchline.intake import ingest
from touchline.journeys.loader import LoadedJourney
from touchline.journeys.model import JourneyDefinition
from touchline.journeys.store import publish
from touchline.record import Enrollment, Event

WINBACK = {
    "key": "winback_test",
    "name": "Win back",
    "trigger": {"event": "customer.disengaging", "where": {"payload": "monetary", "gte": 100}},
    "reentry": "every_event",
    "steps": [{"id": "miss_you", "type": "send", "channel": "email", "template": "cart/reminder"}],
}


def order(customer: str, days_ago: float, amount: float, n: int) -> dict:  # type: ignore[type-arg]
    return {
        "id": f"o-{customer}-{n}",
        "type": "order.placed",
        "customer_id": customer,
        "occurred_at": (START - timedelta(days=days_ago)).isoformat(),
        "payload": {"total": amount},
    }


def history(db: Database) -> None:
    events = []
    # Buys every 10 days, silent for 30: overdue since day 15 (1.5 × 10).
    events += [order("vip", d, 100.0, n) for n, d in enumerate((60, 50, 40, 30))]
    # Same rhythm and spend, bought 5 days ago: on time.
    events += [order("regular", d, 100.0, n) for n, d in enumerate((35, 25, 15, 5))]
    # Same rhythm and silence, but spends little: not valuable.
    events += [order("small", d, 1.0, n) for n, d in enumerate((60, 50, 40, 30))]
    # Valuable, but one purchase says nothing about a rhythm.
    events += [order("once", 100, 1000.0, 0)]
    # Valuable and overdue — for a year: not "just in time" any more (outside the lookback).
    events += [order("lost", d, 200.0, n) for n, d in enumerate((400, 390, 380))]
    # Ten one-off small buyers, so that the others' spend ranks in the top fifths.
    events += [order(f"f{n}", 3, 5.0, 0) for n in range(10)]
    report = ingest(db, [(None, e) for e in events], now=START, source="test")
    assert not report.rejected and len(report.accepted) == len(events)


def settings_for(db: Database, tmp_path: Path, **values: object) -> Settings:
    return Settings(database_url=db.url, home=tmp_path, **values)  # type: ignore[arg-type]


def test_a_valuable_quiet_customer_is_flagged_once_with_evidence(
    db: Database, tmp_path: Path
) -> None:
    history(db)
    settings = settings_for(db, tmp_path)
    report = flag_disengaging(db, START, settings)
    assert (report.customers, report.with_rhythm, report.flagged, report.already_flagged) == (
        15, 4, 1, 0,
    )  # fmt: skip
    assert report.overdue == 2  # vip, and lost (outside the lookback)
    assert list(report.flags.index) == ["vip"]
    with db.session() as session:
        [event] = session.execute(select(Event).where(Event.type == EVENT_TYPE)).scalars().all()
    assert event.customer_id == "vip" and event.occurred_at == START
    assert event.payload == {
        "last_purchase_at": (START - timedelta(days=30)).isoformat(),
        "silent_since": (START - timedelta(days=30)).isoformat(),
        "threshold_crossed_at": (START - timedelta(days=15)).isoformat(),
        "expected_interval_days": 10.0,
        "silence_days": 30.0,
        "threshold_days": 15.0,
        "sensitivity": 1.5,
        "purchases": 4,
        "monetary": 400.0,
        "scores": {"recency": 1, "frequency": 5, "monetary": 4},
        "segment": "at_risk",
    }

    # Tomorrow's run: the same silence, nobody flagged again.
    again = flag_disengaging(db, START + timedelta(days=1), settings)
    assert (again.flagged, again.already_flagged) == (0, 1)
    with db.session() as session:
        assert len(session.execute(select(Event.id).where(Event.type == EVENT_TYPE)).all()) == 1


def test_sensitivity_and_value_are_settings(db: Database, tmp_path: Path) -> None:
    history(db)
    # 4 × 10 days = 40 > 30 days of silence: nobody is overdue yet.
    assert flag_disengaging(
        db, START, settings_for(db, tmp_path, tripwire_sensitivity=4)
    ).flags.empty
    # Everyone with a rhythm counts as valuable: the small spender is flagged too.
    loose = flag_disengaging(
        db, START, settings_for(db, tmp_path, tripwire_min_monetary_score=0), dry_run=True
    )
    assert sorted(loose.flags.index) == ["small", "vip"]
    # A longer lookback reaches the customer lost a year ago.
    far = flag_disengaging(
        db, START, settings_for(db, tmp_path, tripwire_lookback=timedelta(days=400)), dry_run=True
    )
    assert sorted(far.flags.index) == ["lost", "vip"]
    with db.session() as session:  # dry runs store nothing
        assert session.execute(select(Event.id).where(Event.type == EVENT_TYPE)).first() is None


def test_a_visit_means_the_customer_is_not_silent(db: Database, tmp_path: Path) -> None:
    history(db)
    visit = {"id": "v1", "type": "site.visited", "customer_id": "vip",
             "occurred_at": (START - timedelta(days=2)).isoformat()}  # fmt: skip
    ingest(db, [(None, visit)], now=START, source="test")
    settings = settings_for(db, tmp_path, visit_event_types=["site.visited"])
    assert flag_disengaging(db, START, settings, dry_run=True).flags.empty


def test_the_flag_enrolls_a_retention_journey(db: Database, tmp_path: Path) -> None:
    with db.session() as session:
        publish(session, LoadedJourney(JourneyDefinition.model_validate(WINBACK), Path("t")), START)
        session.commit()
    history(db)
    settings = settings_for(db, tmp_path)
    report = flag_disengaging(db, START, settings)
    assert report.enrolled == 1
    with db.session() as session:
        [enrollment] = session.execute(select(Enrollment)).scalars().all()
    assert (enrollment.journey_key, enrollment.customer_id, enrollment.current_step) == (
        "winback_test", "vip", "miss_you",
    )  # fmt: skip
    assert enrollment.trigger_event_id == report.flags.loc["vip", "event_id"]
    # Rerun: the event is a duplicate, so nobody is enrolled again (even with every_event).
    assert flag_disengaging(db, START + timedelta(hours=6), settings).enrolled == 0
    with db.session() as session:
        assert len(session.execute(select(Enrollment.id)).all()) == 1


def test_the_commands_print_segments_and_flags(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOUCHLINE_DATABASE_URL", sqlite_db.url)
    monkeypatch.setenv("COLUMNS", "250")
    reset_settings_cache()
    history(sqlite_db)
    as_of = ["--as-of", START.isoformat()]
    rfm = CliRunner().invoke(app, ["insight", "rfm", *as_of])
    assert rfm.exit_code == 0, rfm.output
    assert "15 customers with a purchase (order.placed)" in rfm.output and "at_risk" in rfm.output
    dry = CliRunner().invoke(app, ["insight", "tripwires", *as_of, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would flag 1 (0 flagged before for the same silence)" in dry.output
    assert "vip" in dry.output
    done = CliRunner().invoke(app, ["insight", "tripwires", *as_of])
    assert "flagged 1 (0 flagged before" in done.output
    again = CliRunner().invoke(app, ["insight", "tripwires", *as_of, "--dry-run"])
    assert "would flag 0 (1 flagged before for the same silence)" in again.output
    reset_settings_cache()
