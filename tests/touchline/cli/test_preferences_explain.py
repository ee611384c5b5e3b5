"""`touchline preferences explain`: the decision for a customer and a send step, every
reason printed — the seed case of a stated channel that the data contradicts included."""

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import START
from touchline.cli import app
from touchline.config import PROJECT_ROOT, Settings, reset_settings_cache
from touchline.content import TemplateCatalog
from touchline.db import Database
from touchline.intake.ingest import ingest
from touchline.journeys import load_journey
from touchline.journeys.store import publish

runner = CliRunner()


@pytest.fixture
def record(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'explain.db'}")
    db.upgrade()
    monkeypatch.setenv("TOUCHLINE_DATABASE_URL", db.url)
    monkeypatch.setenv("TOUCHLINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "250")
    reset_settings_cache()
    with db.session() as session:
        publish(session, load_journey(PROJECT_ROOT / "journeys" / "welcome.yaml",
                                      TemplateCatalog(PROJECT_ROOT / "templates")), START)  # fmt: skip
    ingest(db, [(1, {
        "id": "signup-ada", "type": "customer.signed_up", "customer_id": "ada",
        "occurred_at": START.isoformat(),
        "profile": {"email": "ada@example.com", "phone": "+14155550100"},
        "preferences": {"channel_order": ["email", "sms"], "timezone": "Europe/London",
                        "quiet_hours": {"start": "21:00", "end": "08:00"}, "max_per_week": 2},
        "consents": [{"channel": "email", "status": "revoked"},
                     {"channel": "sms", "status": "granted", "evidence": {"confirmed_at": "x"}}],
    })], now=START, source="signup_form", settings=Settings())  # fmt: skip
    yield db
    reset_settings_cache()


def test_explain_prints_the_profile_and_every_reason(record: Database) -> None:
    at = (START + timedelta(hours=3)).isoformat()
    result = runner.invoke(app, ["preferences", "explain", "ada", "--as-of", at])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "email marketing" in out and "revoked on" in out
    assert "2 a week (0 in the last 7 days)" in out
    assert "a marketing message, policy preferred: sms to +14155550100" in out
    assert "opted out of email marketing" in out  # the failed filter, with its reason
    assert "not enough data" in out  # policy best without data says so


def test_explain_for_a_journey_step(record: Database) -> None:
    at = (START + timedelta(hours=3)).isoformat()
    result = runner.invoke(app, ["preferences", "explain", "ada", "-j", "welcome", "-s", "nudge_sms",
                                 "--as-of", at])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "welcome / nudge_sms: sms to +14155550100" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [(["nobody"], "no customer 'nobody'"),
     (["ada", "-j", "nope"], "journey 'nope' is not published"),
     (["ada", "-j", "welcome", "-s", "nope"], "welcome has no send step 'nope'")],
)  # fmt: skip
def test_explain_says_what_is_wrong(record: Database, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["preferences", "explain", *args])
    assert result.exit_code == 1
    assert message in result.output


def test_history_lists_the_ledger_and_merge_refuses_a_merge_into_itself(record: Database) -> None:
    result = runner.invoke(app, ["preferences", "history", "ada"])
    assert result.exit_code == 0, result.output
    assert "revoked" in result.output and "confirmed_at=x" in result.output
    refused = runner.invoke(app, ["preferences", "merge", "ada", "--into", "ada", "--reason", "x"])
    assert refused.exit_code == 1
    assert "cannot merge customer ada into itself; nothing changed" in refused.output
