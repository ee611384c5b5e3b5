"""touchline events plan / send / stats against the tracking plan."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import START
from touchline.cli import app
from touchline.config import reset_settings_cache
from touchline.db import Database

runner = CliRunner()


@pytest.fixture
def cli_env(sqlite_db: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setenv("TOUCHLINE_DATABASE_URL", sqlite_db.url)
    monkeypatch.setenv("COLUMNS", "250")
    reset_settings_cache()
    yield sqlite_db
    reset_settings_cache()


def lines(tmp_path: Path, *types: str) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(
        json.dumps({"id": f"e{n}", "type": t, "customer_id": f"c{n}",
                    "occurred_at": START.isoformat()}) + "\n"
        for n, t in enumerate(types, start=1)
    ))  # fmt: skip
    return path


def test_plan_lists_every_declared_type(cli_env: Database) -> None:
    result = runner.invoke(app, ["events", "plan"])
    assert result.exit_code == 0, result.output
    assert "cart.abandoned" in result.output and "cart.total" in result.output
    assert "event types declared" in result.output


def test_send_refuses_undeclared_types_by_line_and_stats_counts_permissive_ones(
    cli_env: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = lines(tmp_path, "customer.signed_up", "customer.signedup")
    strict = runner.invoke(app, ["events", "send", str(path)])
    assert strict.exit_code == 1
    assert ("events.jsonl:2: type: unknown event type 'customer.signedup'; did you mean "
            "'customer.signed_up'?") in strict.output  # fmt: skip
    assert "1 accepted, 0 already received, 1 rejected" in strict.output

    monkeypatch.setenv("TOUCHLINE_TRACKING_PLAN", "permissive")
    reset_settings_cache()
    permissive = runner.invoke(app, ["events", "send", str(path)])
    assert permissive.exit_code == 0, permissive.output
    assert "(accepted: the tracking plan is permissive)" in permissive.output
    stats = runner.invoke(app, ["events", "stats"])
    assert stats.exit_code == 0, stats.output
    assert "1 event of 1 undeclared type" in stats.output
