"""The touchline command line, as a user runs it."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import START
from touchline.cli import app
from touchline.config import PROJECT_ROOT, reset_settings_cache
from touchline.db import Database

runner = CliRunner()


@pytest.fixture
def cli_env(sqlite_db: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setenv("TOUCHLINE_DATABASE_URL", sqlite_db.url)
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps at the terminal's width
    reset_settings_cache()
    yield sqlite_db
    reset_settings_cache()


def events_file(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def signup(customer: str) -> str:
    return json.dumps(
        {
            "id": f"s-{customer}",
            "type": "customer.signed_up",
            "customer_id": customer,
            "occurred_at": START.isoformat(),
            "profile": {"email": f"{customer}@example.com"},
        }
    )


def test_validate_reports_each_journey(cli_env: Database) -> None:
    result = runner.invoke(app, ["journeys", "validate"])
    assert result.exit_code == 0, result.output
    assert "welcome — 4 steps, trigger: event customer.signed_up" in result.output


def test_validate_names_file_line_and_field(cli_env: Database, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (PROJECT_ROOT / "journeys" / "welcome.yaml")
        .read_text()
        .replace("duration: 2d", "duration: two days")
    )
    result = runner.invoke(app, ["journeys", "validate", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:34: steps[1].duration: 'two days' is not a duration" in result.output


def test_publish_twice_creates_one_version(cli_env: Database) -> None:
    assert "new version" in runner.invoke(app, ["journeys", "publish"]).output
    assert "unchanged" in runner.invoke(app, ["journeys", "publish"]).output


def test_events_send_is_idempotent_and_names_bad_lines(cli_env: Database, tmp_path: Path) -> None:
    runner.invoke(app, ["journeys", "publish"])
    path = events_file(
        tmp_path, signup("c1"), '{"id": "x", "type": "customer.signed_up"}', signup("c2")
    )
    first = runner.invoke(app, ["events", "send", str(path)])
    assert first.exit_code == 1
    assert "events.jsonl:2: customer_id: is required" in first.output
    assert "2 accepted, 0 already received, 1 rejected; 2 enrolled" in first.output
    second = runner.invoke(app, ["events", "send", str(path)])
    assert "0 accepted, 2 already received, 1 rejected; 0 enrolled" in second.output


def test_launch_enrolls_a_segment_once_and_names_bad_rows(
    cli_env: Database, tmp_path: Path
) -> None:
    runner.invoke(app, ["journeys", "publish"])
    runner.invoke(app, ["events", "send", str(events_file(tmp_path, signup("c1"), signup("c2")))])
    csv = tmp_path / "vip.csv"
    csv.write_text("customer_id,store\nc1,Lyon\n,Paris\nc2,Nice\nnobody,Lille\n")
    first = runner.invoke(app, ["launch", "winter_sale", "--segment", str(csv)])
    assert first.exit_code == 1, first.output  # a row was rejected: --allow-rejects says "fine"
    assert "1 row rejected" in first.output
    assert "vip.csv:line 3: customer_id is empty" in first.output
    assert "vip.csv:line 5: no customer 'nobody' in the record" in first.output
    assert "4 rows read; 2 enrolled, 0 already enrolled" in first.output
    again = runner.invoke(app, ["launch", "winter_sale", "--segment", str(csv)])
    assert "had already finished: 2 enrolled from 4 rows. Nothing to do." in again.output
    wrong = runner.invoke(app, ["launch", "welcome", "--segment", str(csv)])
    assert wrong.exit_code == 2
    assert "only journeys with `trigger: segment` are launched" in wrong.output


def test_events_send_reads_standard_input(cli_env: Database) -> None:
    result = runner.invoke(app, ["events", "send", "-"], input=signup("c9") + "\n")
    assert result.exit_code == 0 and "1 accepted" in result.output


def test_timeline_of_an_unknown_customer_says_so(cli_env: Database) -> None:
    result = runner.invoke(app, ["timeline", "nobody"])
    assert result.exit_code == 1 and "no record of customer 'nobody'" in result.output


def test_timeline_shows_what_happened(cli_env: Database, tmp_path: Path) -> None:
    runner.invoke(app, ["events", "send", str(events_file(tmp_path, signup("c1")))])
    result = runner.invoke(app, ["timeline", "c1"])
    assert result.exit_code == 0 and "customer.signed_up" in result.output
