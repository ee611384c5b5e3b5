"""Safe launches: the reach before anyone is enrolled (--dry-run), non-zero exits for
rejected rows, an unpublished journey naming the publish command, and a CSV with an
unclosed quote blamed on the line where the quote opened — no row swallowed silently."""

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.conftest import START
from tests.touchline.engine.test_language import customer, event, send
from touchline.cli import app
from touchline.config import PROJECT_ROOT, Settings, reset_settings_cache
from touchline.content import TemplateCatalog
from touchline.csv_rows import CsvRow, CsvRows, RejectedRow
from touchline.db import Database
from touchline.errors import LaunchError
from touchline.journeys import load_journeys
from touchline.journeys.store import publish
from touchline.launch import launch
from touchline.launch.reach import reach
from touchline.record import Enrollment

runner = CliRunner()


@pytest.fixture
def winter_sale(db: Database, catalog: TemplateCatalog) -> None:
    with db.session() as session:
        for loaded in load_journeys([PROJECT_ROOT / "journeys" / "winter_sale.yaml"], catalog):
            publish(session, loaded, START)
        session.commit()


def enrollments(db: Database) -> int:
    with db.session() as session:
        return session.execute(select(func.count()).select_from(Enrollment)).scalar_one()


def audience(db: Database) -> None:
    """40 customers; c1 left the promotions topic, c2 revoked every marketing consent."""
    send(db, *(customer(f"c{n}") for n in range(1, 41)))
    left = event("leave-1", "customer.consent_changed", "c1", START)
    left["consents"] = [{"channel": "all", "topic": "promotions", "status": "revoked"}]
    revoked = event("revoke-2", "customer.consent_changed", "c2", START)
    revoked["consents"] = [{"channel": c, "status": "revoked"} for c in ("email", "sms")]
    send(db, left, revoked)


def segment_file(tmp_path: Path) -> Path:
    rows = ["customer_id,store", *(f"c{n},Lyon" for n in range(1, 41)), "c3,Lyon", "ghost,Paris",
            ",Paris", "c4,Lyon,extra"]  # fmt: skip
    path = tmp_path / "sale.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_the_dry_run_counts_every_row_and_enrolls_nobody(
    db: Database, settings: Settings, winter_sale: None, tmp_path: Path
) -> None:
    audience(db)
    path = segment_file(tmp_path)
    found = reach(db, "winter_sale", path, now=START + timedelta(hours=1), settings=settings)
    assert enrollments(db) == 0  # nothing written
    assert (found.rows, found.rejected_count, found.unknown_customers, found.listed_twice) == (
        44, 2, 1, 1)  # fmt: skip
    assert [r.line for r in found.rejected] == [44, 45]
    assert found.unknown_sample == [(43, "ghost")]
    assert found.held_out + found.would_enter == 40 and found.held_out > 0
    decided = sum(found.sent_now.values()) + sum(found.deferred.values())
    assert decided + found.capped + found.nothing_sendable == found.would_enter
    entering = {f"c{n}" for n in (1, 2)} - held_out_of(found)
    # c1 left the topic and c2 revoked consent: each skipped on both channels, not sent.
    skipped = {ch: dict(checks) for ch, checks in found.skipped.items()}
    for channel in ("email", "sms"):
        assert skipped[channel].get("topic", 0) == (1 if "c1" in entering else 0)
        assert skipped[channel].get("consent", 0) == (1 if "c2" in entering else 0)
    assert found.nothing_sendable == len(entering)

    # The launch then enrolls what the dry run said would enter (holdouts are enrolled too,
    # as a control group that is sent nothing).
    report = launch(db, "winter_sale", path, now=START + timedelta(hours=1))
    assert report.enrolled == found.would_enter + found.held_out
    again = reach(db, "winter_sale", path, now=START + timedelta(hours=2), settings=settings)
    assert again.already_enrolled == 40 and again.would_enter == 0


def held_out_of(found: object) -> set[str]:
    from touchline import ids

    return {f"c{n}" for n in (1, 2) if ids.fraction("holdout", "winter_sale", f"c{n}") * 100 < 10}


def test_launching_an_unpublished_journey_names_the_publish_command(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    path = segment_file(tmp_path)
    with pytest.raises(LaunchError) as refused:
        launch(db, "winter_sale", path, now=START)
    assert str(refused.value) == (
        "journey 'winter_sale' is not published: publish it first with "
        f"`touchline journeys publish {PROJECT_ROOT / 'journeys' / 'winter_sale.yaml'}`"
    )
    with pytest.raises(LaunchError, match="touchline journeys publish"):
        reach(db, "winter_sale", path, now=START, settings=settings)


def test_the_cli_exits_non_zero_on_rejected_rows_unless_allowed(
    db: Database,
    settings: Settings,
    winter_sale: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    audience(db)
    path = segment_file(tmp_path)
    monkeypatch.setenv("COLUMNS", "250")
    reset_settings_cache()
    dry = runner.invoke(app, ["launch", "winter_sale", "--segment", str(path), "--dry-run"])
    assert dry.exit_code == 1, dry.output
    assert "Dry run" in dry.output and "sale.csv:line 44: customer_id is empty" in dry.output
    assert "sale.csv:line 43: no customer 'ghost' in the record" in dry.output
    assert enrollments(db) == 0
    allowed = runner.invoke(app, ["launch", "winter_sale", "--segment", str(path), "--dry-run",
                                  "--allow-rejects"])  # fmt: skip
    assert allowed.exit_code == 0, allowed.output
    real = runner.invoke(app, ["launch", "winter_sale", "--segment", str(path)])
    assert real.exit_code == 1 and "2 rows rejected" in real.output
    assert enrollments(db) == 40  # the good rows went in all the same


def rows(tmp_path: Path, text: str) -> list[CsvRow | RejectedRow]:
    path = tmp_path / "file.csv"
    path.write_text(text, encoding="utf-8")
    return list(CsvRows(path, required=["customer_id"]))


def test_an_unclosed_quote_is_blamed_on_its_line_and_no_row_is_swallowed(tmp_path: Path) -> None:
    found = rows(tmp_path, 'customer_id,store\nc1,Lyon\nc2,"Paris\nc3,Nice\nc4,Lille\n')
    assert found[0] == CsvRow(2, ["c1", "Lyon"])
    assert isinstance(found[1], RejectedRow) and found[1].line == 3
    assert "a quote opened on this line is never closed" in found[1].reason
    assert found[2:] == [CsvRow(4, ["c3", "Nice"]), CsvRow(5, ["c4", "Lille"])]


def test_a_quoted_field_across_lines_is_still_one_row(tmp_path: Path) -> None:
    found = rows(tmp_path, 'customer_id,note\nc1,"two\nlines"\nc2,ok\n')
    assert found == [CsvRow(2, ["c1", "two\nlines"]), CsvRow(4, ["c2", "ok"])]


def test_a_stray_quote_closed_much_later_swallows_nothing(tmp_path: Path) -> None:
    text = 'customer_id,store\nc1,"Lyon\nc2,Paris\nc3,"Nice"\nc4,Lille\n'
    found = rows(tmp_path, text)
    assert [(type(r).__name__, r.line) for r in found] == [
        ("RejectedRow", 2), ("CsvRow", 3), ("CsvRow", 4), ("CsvRow", 5)]  # fmt: skip


def test_a_paused_journey_is_not_launched_and_the_dry_run_says_so(
    db: Database, settings: Settings, winter_sale: None, tmp_path: Path
) -> None:
    from touchline.lifecycle.states import PAUSED, change_state

    audience(db)
    path = segment_file(tmp_path)
    change_state(db, "winter_sale", PAUSED, reason="pricing error", who="test", now=START)
    message = (
        "journey 'winter_sale' is paused: a launch enrolls nobody; resume it first with "
        "`touchline journeys resume winter_sale --reason TEXT`"
    )
    with pytest.raises(LaunchError) as refused:
        launch(db, "winter_sale", path, now=START)
    assert str(refused.value) == message
    with pytest.raises(LaunchError, match="is paused"):
        reach(db, "winter_sale", path, now=START, settings=settings)
    assert enrollments(db) == 0
