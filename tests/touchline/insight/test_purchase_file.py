"""`touchline import purchases`: any column layout, bad rows named by line, reruns load
nothing twice (both backends for the import, SQLite for the command)."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.conftest import START
from touchline.cli import app
from touchline.config import Settings, reset_settings_cache
from touchline.db import Database
from touchline.insight.purchase_file import PurchaseColumns, import_purchases
from touchline.record import Event

CSV = (
    "Order No,Client,When,Total,Cur\n"
    "A-1,c1,2026-10-01T10:00:00+02:00,120.50,eur\n"  # line 2
    "A-2,,2026-10-02T10:00:00Z,10,EUR\n"  # line 3: no customer
    "A-3,c2,yesterday,10,EUR\n"  # line 4: not a date
    "A-4,c2,2026-10-03 09:00,10,EUR\n"  # line 5: no time zone
    "A-5,c2,2026-10-04T09:00:00Z,12;50,EUR\n"  # line 6: not a number
    "A-6,c2,2026-10-05T09:00:00Z,-3,EUR\n"  # line 7: a refund
    "A-7,c2,2026-10-06T09:00:00Z\n"  # line 8: a field short
    "\n"
    "A-8,c2,2026-10-07T09:00:00Z,99,USD\n"  # line 10
    "A-9,c 3,2026-10-08T09:00:00Z,5,USD\n"  # line 11: not a customer id
)
COLUMNS = PurchaseColumns(
    customer="Client", date="When", amount="Total", currency="Cur", id="Order No"
)


@pytest.fixture
def purchases_csv(tmp_path: Path) -> Path:
    path = tmp_path / "orders.csv"
    path.write_text(CSV)
    return path


def test_bad_rows_are_named_by_line_and_the_rest_loads_once(
    db: Database, purchases_csv: Path, tmp_path: Path
) -> None:
    settings = Settings(database_url=db.url, home=tmp_path)
    report = import_purchases(db, purchases_csv, COLUMNS, now=START, settings=settings)
    assert (report.rows_read, report.loaded, report.already_loaded) == (9, 2, 0)
    assert [(r.line, r.reason.split(" ")[0]) for r in report.rejected] == [
        (3, "Client"), (4, "'yesterday'"), (5, "'2026-10-03"), (6, "amount"), (7, "amount"),
        (8, "3"), (11, "Client"),
    ]  # fmt: skip
    assert "has no time zone" in report.rejected[2].reason
    assert "refunds are not purchases" in report.rejected[4].reason
    with db.session() as session:
        events = {e.id: e for e in session.execute(select(Event)).scalars()}
    assert sorted(events) == ["order.placed:A-1", "order.placed:A-8"]
    first = events["order.placed:A-1"]
    assert (first.type, first.customer_id, first.source) == (
        "order.placed",
        "c1",
        "purchase_import",
    )
    assert first.occurred_at == datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
    assert first.payload == {"total": 120.5, "currency": "EUR", "order_id": "A-1"}

    again = import_purchases(db, purchases_csv, COLUMNS, now=START, settings=settings)
    assert (again.loaded, again.already_loaded, again.rejected_count) == (0, 2, 7)


def test_without_an_id_column_ids_derive_from_the_row_and_a_zone_can_be_given(
    db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "pos.csv"
    path.write_text("customer,day,amount\nc9,2026-07-01 12:00,10\nc9,2026-07-02,20\n")
    settings = Settings(database_url=db.url, home=tmp_path)
    columns = PurchaseColumns(customer="customer", date="day", amount="amount")
    report = import_purchases(
        db, path, columns, now=START, timezone="Europe/Paris", event_type="pos.sale",
        settings=settings,
    )  # fmt: skip
    assert (report.loaded, report.rejected_count) == (2, 0)
    with db.session() as session:
        stored = session.execute(
            select(Event.occurred_at, Event.type).order_by(Event.occurred_at)
        ).all()
    assert stored == [
        (datetime(2026, 7, 1, 10, 0, tzinfo=UTC), "pos.sale"),  # noon in Paris (summer time)
        (datetime(2026, 7, 1, 22, 0, tzinfo=UTC), "pos.sale"),  # midnight on 2 July in Paris
    ]
    again = import_purchases(
        db, path, columns, now=START, timezone="Europe/Paris", event_type="pos.sale",
        settings=settings,
    )  # fmt: skip
    assert (again.loaded, again.already_loaded) == (0, 2)


def test_the_command_reports_lines_and_totals(
    sqlite_db: Database, purchases_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOUCHLINE_DATABASE_URL", sqlite_db.url)
    monkeypatch.setenv("COLUMNS", "250")
    reset_settings_cache()
    args = ["import", "purchases", str(purchases_csv), "--customer", "Client", "--date", "When",
            "--amount", "Total", "--currency", "Cur", "--id", "Order No"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output  # some rows were rejected
    assert "orders.csv:line 6: amount '12;50' is not a number" in result.output
    assert (
        "9 rows read; 2 purchases loaded as order.placed, 0 already loaded, 7 rejected"
        in result.output
    )
    again = CliRunner().invoke(app, args)
    assert "0 purchases loaded as order.placed, 2 already loaded" in again.output
    missing = CliRunner().invoke(app, [*args[:4], "Buyer", *args[5:]])
    assert missing.exit_code == 2
    assert "no 'Buyer' column (columns: Order No, Client, When, Total, Cur)" in missing.output
    reset_settings_cache()


def test_identical_rows_without_an_id_are_two_purchases_and_a_rerun_loads_nothing(
    db: Database, tmp_path: Path
) -> None:
    """A till export without order ids: the same customer buying the same thing twice at the
    same minute is two sales. Identity is the file's content and the line."""
    path = tmp_path / "till.csv"
    row = "c1,2026-07-01T12:00:00Z,9.90\n"
    path.write_text("customer,at,amount\n" + row + row + "c2,2026-07-01T12:00:00Z,9.90\n")
    settings = Settings(database_url=db.url, home=tmp_path)
    columns = PurchaseColumns(customer="customer", date="at", amount="amount")
    report = import_purchases(db, path, columns, now=START, settings=settings)
    assert (report.loaded, report.already_loaded, report.duplicates) == (3, 0, [])
    with db.session() as session:
        customers = session.execute(select(Event.customer_id).order_by(Event.customer_id)).all()
    assert [c for (c,) in customers] == ["c1", "c1", "c2"]

    again = import_purchases(db, path, columns, now=START, settings=settings)
    assert (again.loaded, again.already_loaded) == (0, 3)
    assert [(d.line, d.reason) for d in again.duplicates] == [
        (n, "this file was loaded before (same content, same line)") for n in (2, 3, 4)
    ]


def test_a_repeated_order_id_is_loaded_once_and_named(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        "id,customer,at,amount\n"
        "A-1,c1,2026-07-01T12:00:00Z,10\n"
        "A-2,c1,2026-07-02T12:00:00Z,20\n"
        "A-1,c1,2026-07-01T12:00:00Z,10\n"  # line 4: the export repeated line 2
    )
    settings = Settings(database_url=db.url, home=tmp_path)
    columns = PurchaseColumns(customer="customer", date="at", amount="amount", id="id")
    report = import_purchases(db, path, columns, now=START, settings=settings)
    assert (report.loaded, report.already_loaded) == (2, 1)
    assert [(d.line, d.reason) for d in report.duplicates] == [(4, "order id A-1 repeats line 2")]
    again = import_purchases(db, path, columns, now=START, settings=settings)
    assert [(d.line, d.reason.split(" (")[0]) for d in again.duplicates] == [
        (2, "its order id is already in the record"),
        (3, "its order id is already in the record"),
        (4, "order id A-1 repeats line 2"),
    ]


def test_a_fresh_home_is_migrated_and_a_configured_database_says_what_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "till.csv"
    path.write_text("customer,at,amount\nc1,2026-07-01T12:00:00Z,9.90\n")
    args = ["import", "purchases", str(path), "--customer", "customer", "--date", "at",
            "--amount", "amount"]  # fmt: skip
    # The embedded default database: the command creates it.
    monkeypatch.delenv("TOUCHLINE_DATABASE_URL", raising=False)
    monkeypatch.setenv("TOUCHLINE_HOME", str(tmp_path / "fresh-home"))
    reset_settings_cache()
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "1 purchases loaded" in result.output
    # Someone's own database, empty: a sentence, not a traceback.
    monkeypatch.setenv("TOUCHLINE_DATABASE_URL", f"sqlite:///{tmp_path / 'theirs.db'}")
    reset_settings_cache()
    for command in (
        args,
        ["insight", "rfm"],
        ["insight", "scores", "--csv", str(tmp_path / "s.csv")],
    ):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2, result.output
        assert "run `touchline db upgrade`" in result.output and "Traceback" not in result.output
    reset_settings_cache()
