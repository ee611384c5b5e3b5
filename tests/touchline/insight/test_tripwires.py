"""Tripwires on both backends: the purchase model, fitted on the record's purchases, flags
valuable customers slipping away — one-time buyers and long silences included — once per
silence, through intake, with the evidence in words; a retention journey enrolls them."""

import csv
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.conftest import START
from touchline.cli import app
from touchline.config import Settings, reset_settings_cache
from touchline.db import Database
from touchline.insight import simulate
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
NAMED = ("vip", "regular", "small", "once", "newbie", "lost")
SHOPPERS = 300


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
    # Bought every 10 days, silent for 90: slipping away.
    events += [order("vip", d, 100.0, n) for n, d in enumerate(range(150, 89, -10))]
    # Same rhythm and spend, bought 5 days ago: active.
    events += [order("regular", d, 100.0, n) for n, d in enumerate(range(65, 4, -10))]
    # Same rhythm and silence as vip, but spends little: not valuable.
    events += [order("small", d, 0.01, n) for n, d in enumerate(range(150, 89, -10))]
    # One big order 400 days ago: a one-time buyer, probably gone.
    events += [order("once", 400, 1000.0, 0)]
    # One big order 3 days ago: new, not lapsing.
    events += [order("newbie", 3, 800.0, 0)]
    # Silent for 400 days after a rhythm of 10: long gone, still worth a win-back.
    events += [order("lost", d, 200.0, n) for n, d in enumerate((420, 410, 400))]
    # A shop's worth of ordinary customers (small baskets) for the model to learn from.
    shoppers = simulate.population(
        SHOPPERS, (1.0, 30.0, 1.2, 3.0), START - timedelta(days=500), START,
        first_orders_until=START - timedelta(days=10), seed=2,
    )  # fmt: skip
    events += [
        {"id": row.event_id, "type": "order.placed", "customer_id": row.customer_id,
         "occurred_at": row.occurred_at.isoformat(), "payload": {"total": 0.5}}
        for row in shoppers.itertuples()
    ]  # fmt: skip
    report = ingest(db, [(None, e) for e in events], now=START, source="test")
    assert not report.rejected and len(report.accepted) == len(events)


def settings_for(db: Database, tmp_path: Path, **values: object) -> Settings:
    return Settings(database_url=db.url, home=tmp_path, **values)  # type: ignore[arg-type]


def test_valuable_customers_slipping_away_are_flagged_once_with_evidence(
    db: Database, tmp_path: Path
) -> None:
    history(db)
    settings = settings_for(db, tmp_path)
    report = flag_disengaging(db, START, settings)
    assert report.customers == SHOPPERS + len(NAMED)
    assert report.model is not None and report.model.customers == report.customers
    named = [c for c in report.flags.index if c in NAMED]
    # Ranked by the model: the longest gone first; one-time buyers are in.
    assert named == ["lost", "vip", "once"]
    assert report.flagged == len(report.flags) == report.at_risk and report.already_flagged == 0
    assert (report.flags["p_active"] < 0.5).all() and report.flags[
        "p_active"
    ].is_monotonic_increasing
    with db.session() as session:
        event = session.get(Event, report.flags.loc["vip", "event_id"])
    assert event is not None and event.customer_id == "vip" and event.occurred_at == START
    payload = event.payload
    assert payload["evidence"].startswith(
        f"{payload['expected_orders']:.2f} orders expected next quarter; "
    )
    assert f"{payload['p_active']:.0%} likely still active; " in payload["evidence"]
    assert payload["evidence"].endswith("90 days since the last order, usually every 10")
    assert payload["last_purchase_at"] == (START - timedelta(days=90)).isoformat()
    assert (payload["purchases"], payload["purchase_days"], payload["monetary"]) == (7, 7, 700.0)
    # RFM, relative to a shop whose customers mostly left, still calls them a champion: the
    # model judges their silence against their own rhythm.
    assert payload["horizon_days"] == 90.0 and payload["segment"] == "champions"
    assert 0 < payload["p_order"] < payload["p_active"] < 0.5
    once = report.flags.loc["once", "evidence"]
    assert once.endswith("400 days since the only order so far")

    # Tomorrow's run: the same silences are not flagged again; only silences that crossed
    # the threshold since are new.
    again = flag_disengaging(db, START + timedelta(days=1), settings)
    assert again.already_flagged == len(report.flags)
    fresh = again.flags[again.flags["new"]]
    assert len(fresh) == again.flagged and not set(fresh.index) & set(report.flags.index)
    with db.session() as session:
        stored = session.execute(select(Event.id).where(Event.type == EVENT_TYPE)).all()
    assert len(stored) == len(report.flags) + again.flagged


def test_thresholds_and_value_are_settings(db: Database, tmp_path: Path) -> None:
    history(db)
    strict = flag_disengaging(
        db, START, settings_for(db, tmp_path, tripwire_p_alive_below=0.01), dry_run=True
    )
    assert [c for c in strict.flags.index if c in NAMED] == ["lost"]
    # Everyone counts as valuable: the small spender is flagged too.
    loose = flag_disengaging(
        db, START, settings_for(db, tmp_path, tripwire_min_monetary_score=0), dry_run=True
    )
    assert {"small", "vip"} <= set(loose.flags.index)
    # Fewer than 5 orders expected next quarter flags the active regular as well.
    busy = flag_disengaging(
        db, START, settings_for(db, tmp_path, tripwire_expected_orders_below=5), dry_run=True
    )
    assert "regular" in busy.flags.index and "regular" not in loose.flags.index
    with db.session() as session:  # dry runs store nothing
        assert session.execute(select(Event.id).where(Event.type == EVENT_TYPE)).first() is None


def test_the_flag_enrolls_a_retention_journey(db: Database, tmp_path: Path) -> None:
    with db.session() as session:
        publish(session, LoadedJourney(JourneyDefinition.model_validate(WINBACK), Path("t")), START)
        session.commit()
    history(db)
    settings = settings_for(db, tmp_path)
    report = flag_disengaging(db, START, settings)
    # The journey's trigger wants monetary >= 100: the named big spenders.
    assert report.enrolled == 3
    with db.session() as session:
        enrolled = session.execute(select(Enrollment)).scalars().all()
    assert sorted(e.customer_id for e in enrolled) == ["lost", "once", "vip"]
    assert {e.current_step for e in enrolled} == {"miss_you"}
    # Rerun: the events are duplicates, so nobody is enrolled again (even with every_event).
    assert flag_disengaging(db, START + timedelta(hours=6), settings).enrolled == 0
    with db.session() as session:
        assert len(session.execute(select(Enrollment.id)).all()) == 3


def test_the_commands_print_segments_flags_and_export_them(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TOUCHLINE_DATABASE_URL", sqlite_db.url)
    monkeypatch.setenv("COLUMNS", "250")
    reset_settings_cache()
    history(sqlite_db)
    as_of = ["--as-of", START.isoformat()]
    rfm = CliRunner().invoke(app, ["insight", "rfm", *as_of])
    assert rfm.exit_code == 0, rfm.output
    assert f"{SHOPPERS + len(NAMED)} customers with a purchase (order.placed)" in rfm.output
    dry = CliRunner().invoke(app, ["insight", "tripwires", *as_of, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert (
        "likely still active" in dry.output
        and "(0 flagged before for the same silence)" in dry.output
    )
    assert "more (all of them: --csv FILE)" in dry.output
    out = tmp_path / "flags.csv"
    flags = CliRunner().invoke(app, ["insight", "flags", "--csv", str(out), *as_of])
    assert flags.exit_code == 0, flags.output
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) > 20 and next(iter(rows[0])) == "customer_id"
    assert {"lost", "vip", "once"} <= {r["customer_id"] for r in rows}
    assert all(r["new_flag"] == "True" for r in rows)
    done = CliRunner().invoke(app, ["insight", "tripwires", *as_of])
    assert f"flagged {len(rows)} (0 flagged before" in done.output
    again = CliRunner().invoke(app, ["insight", "tripwires", *as_of, "--dry-run"])
    assert f"would flag 0 ({len(rows)} flagged before for the same silence)" in again.output
    reset_settings_cache()


def test_a_shop_whose_purchases_are_all_today_flags_nobody_and_says_why(
    sqlite_db: Database, tmp_path: Path
) -> None:
    ingest(sqlite_db, [(None, order("c1", 0, 50.0, 0)), (None, order("c2", 0, 20.0, 0))],
           now=START, source="test")  # fmt: skip
    report = flag_disengaging(sqlite_db, START, settings_for(sqlite_db, tmp_path))
    assert report.flags.empty and report.model is None
    assert report.not_fitted is not None and "as-of day" in report.not_fitted


def test_the_evidence_reads_as_a_marketer_would_say_it() -> None:
    import pandas as pd

    from touchline.insight.tripwires import evidence_words

    row = pd.Series({"expected_orders_in_horizon": 0.0812, "p_active": 0.41,
                     "days_since_last_order": 95.4, "usual_days_between_orders": 30.2,
                     "order_days": 6})  # fmt: skip
    assert evidence_words(row, timedelta(days=90)) == (
        "0.08 orders expected next quarter; 41% likely still active; "
        "95 days since the last order, usually every 30"
    )
    gone = row.copy()
    gone[["expected_orders_in_horizon", "p_active", "order_days"]] = [0.0001, 0.001, 1]
    assert evidence_words(gone, timedelta(days=45)) == (
        "< 0.01 orders expected in the next 45 days; < 1% likely still active; "
        "95 days since the only order so far"
    )
