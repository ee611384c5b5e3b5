"""`touchline insight scores` and `backtest` through the record: every customer's scores as a
segment file `touchline launch` reads, and the backtest a user runs on their own history."""

import csv
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import START
from touchline.cli import app
from touchline.config import reset_settings_cache
from touchline.db import Database
from touchline.insight import simulate
from touchline.insight.scores import SCORE_COLUMNS
from touchline.intake import ingest
from touchline.launch.segment_file import SegmentReader, SegmentRow

AS_OF = START - timedelta(days=270)


@pytest.fixture
def shop(sqlite_db: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    """1,000 simulated customers over two and a half years, up to START."""
    monkeypatch.setenv("TOUCHLINE_DATABASE_URL", sqlite_db.url)
    monkeypatch.setenv("COLUMNS", "250")
    reset_settings_cache()
    purchases = simulate.population(
        1_000, (0.8, 40.0, 1.2, 3.0), START - timedelta(days=900), START,
        first_orders_until=AS_OF, seed=4,
    )  # fmt: skip
    events = [
        {"id": row.event_id, "type": "order.placed", "customer_id": row.customer_id,
         "occurred_at": row.occurred_at.isoformat(), "payload": {"total": row.amount}}
        for row in purchases.itertuples()
    ]  # fmt: skip
    assert not ingest(sqlite_db, [(None, e) for e in events], now=START, source="test").rejected
    yield sqlite_db
    reset_settings_cache()


def test_scores_are_a_segment_file(shop: Database, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    result = CliRunner().invoke(
        app, ["insight", "scores", "--csv", str(out), "--as-of", START.isoformat()]
    )
    assert result.exit_code == 0, result.output
    assert "1,000 customers scored" in result.output
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1_000 and tuple(rows[0]) == SCORE_COLUMNS
    for row in rows:
        assert 0 <= float(row["p_active"]) <= 1 and float(row["expected_orders_in_horizon"]) >= 0
        assert float(row["p_order_in_horizon"]) <= float(row["p_active"]) + 1e-4
        assert row["rfm_segment"] and 1 <= int(row["rfm_monetary_score"]) <= 5
        assert int(row["order_days"]) <= int(row["orders"])
    # What `touchline launch` reads: every row a customer, the scores as segment columns.
    read = list(SegmentReader(out))
    assert all(isinstance(r, SegmentRow) for r in read) and len(read) == 1_000
    assert set(read[0].columns) == set(SCORE_COLUMNS) - {"customer_id"}


def test_the_backtest_prints_both_scores_and_draws_the_deciles(
    shop: Database, tmp_path: Path
) -> None:
    plot = tmp_path / "bt.png"
    result = CliRunner().invoke(
        app, ["insight", "backtest", "--as-of", AS_OF.isoformat(), "--horizon", "270d",
              "--plot", str(plot)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (
        "purchase model (MBG/NBD)" in result.output and "days since last purchase" in result.output
    )
    assert "ROC AUC" in result.output and "precision @" in result.output
    assert "bought nothing in the next 270 days" in result.output
    assert "end before" not in result.output  # the record covers the horizon
    assert plot.read_bytes()[:4] == b"\x89PNG"
    bad = CliRunner().invoke(app, ["insight", "backtest", "--as-of", AS_OF.isoformat(),
                                   "--horizon", "soon"])  # fmt: skip
    assert bad.exit_code == 2 and "--horizon" in bad.output


def test_an_empty_record_says_there_is_nothing_to_fit(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TOUCHLINE_DATABASE_URL", sqlite_db.url)
    reset_settings_cache()
    result = CliRunner().invoke(app, ["insight", "scores", "--csv", str(tmp_path / "s.csv")])
    assert result.exit_code == 1 and "no customers with a purchase" in result.output
    tripwires = CliRunner().invoke(app, ["insight", "tripwires", "--dry-run"])
    assert tripwires.exit_code == 0 and "would flag 0" in tripwires.output
    reset_settings_cache()
