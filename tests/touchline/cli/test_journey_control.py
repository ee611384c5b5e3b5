"""The lifecycle commands as an operator types them: pause, status, history, preview (files
written), proof refused outside the proof list, and the exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.touchline.engine.test_language import customer, send
from touchline.cli import app
from touchline.config import reset_settings_cache
from touchline.db import Database

runner = CliRunner()


@pytest.fixture
def cli_db(db: Database, published: None, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setenv("TOUCHLINE_DATABASE_URL", db.url)
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("TOUCHLINE_PROOF_ADDRESSES", "team@shop.example")
    reset_settings_cache()
    send(db, customer("ann"))
    yield db
    reset_settings_cache()


def test_pause_status_history_and_refusals(cli_db: Database) -> None:
    paused = runner.invoke(app, ["journeys", "pause", "welcome", "--reason", "typo", "--by", "ana"])
    assert paused.exit_code == 0, paused.output
    assert "welcome: live → paused by ana: typo" in paused.output
    again = runner.invoke(app, ["journeys", "pause", "welcome", "--reason", "x"])
    assert again.exit_code == 1 and "welcome is paused; it cannot become paused" in again.output
    both = runner.invoke(app, ["journeys", "stop", "welcome", "--reason", "x"])
    assert both.exit_code == 2 and "exactly one of --drain or --exit" in both.output
    status = runner.invoke(app, ["journeys", "status", "welcome"])
    assert status.exit_code == 0 and "paused" in status.output and "typo — ana" in status.output
    history = runner.invoke(app, ["journeys", "history", "welcome"])
    assert "live → paused" in history.output and "typo" in history.output
    missing = runner.invoke(app, ["journeys", "status", "nope"])
    assert missing.exit_code == 1


def test_preview_writes_the_files_and_proof_refuses_other_addresses(
    cli_db: Database, tmp_path: Path
) -> None:
    out = tmp_path / "prev"
    result = runner.invoke(app, ["journeys", "preview", "welcome", "--customer", "ann",
                                 "--step", "welcome_email", "--out", str(out),
                                 "--no-screenshots"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "decision: email to ann@example.com" in result.output
    folder = out / "ann" / "welcome_email"
    assert (folder / "email.subject.txt").read_text().strip()
    assert json.loads((folder / "decision.json").read_text())["channel"] == "email"
    bad_step = runner.invoke(app, ["journeys", "preview", "welcome", "--step", "nope"])
    assert bad_step.exit_code == 1 and "its send steps: welcome_email" in bad_step.output
    refused = runner.invoke(app, ["journeys", "proof", "welcome", "--to", "ann@example.com"])
    assert refused.exit_code == 1 and "not on the proof list: ann@example.com" in refused.output
