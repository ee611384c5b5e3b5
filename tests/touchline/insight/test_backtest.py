"""The backtest on simulated shops whose truth is known: the model must rank who lapses
better than days-since-last-purchase does; and the histories it reads count one purchase
per day."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from touchline.insight import simulate
from touchline.insight.backtest import decile_lapse_rates, roc_auc, run_backtest, write_plot
from touchline.insight.histories import purchase_histories

START = datetime(2023, 1, 1, tzinfo=UTC)
AS_OF = datetime(2025, 6, 1, tzinfo=UTC)
HORIZON = timedelta(days=270)
# Heterogeneous purchase rates (gamma) and dropout (beta): fast churners, steady buyers,
# rare buyers who rarely leave, frequent buyers with a heavy tail of leavers.
SHOPS = {
    "churners": (0.6, 30.0, 0.8, 2.5),
    "steady": (1.2, 80.0, 1.5, 4.0),
    "rare": (0.4, 20.0, 3.0, 12.0),
    "frequent": (2.0, 60.0, 0.7, 3.0),
}


@pytest.mark.parametrize("shop", sorted(SHOPS))
def test_the_model_ranks_lapses_better_than_recency(shop: str) -> None:
    purchases = simulate.population(
        20_000, SHOPS[shop], START, AS_OF + HORIZON, first_orders_until=AS_OF, seed=5
    )
    result = run_backtest(purchases, AS_OF, HORIZON)
    model, recency = result.results["model"], result.results["recency"]
    assert result.customers == 20_000 and 0.3 < result.lapse_rate < 0.9
    assert model.auc > recency.auc > 0.7, (model, recency)
    assert model.precision >= recency.precision and model.recall >= recency.recall
    assert result.budget == int((result.table["p_active"] < 0.5).sum())
    # The deciles are ordered: the top decile lapses most.
    assert result.deciles["model"].iloc[0] > result.deciles["model"].iloc[-1]


def test_auc_and_deciles_on_small_cases() -> None:
    assert roc_auc(np.array([3.0, 2.0, 1.0, 0.0]), np.array([True, True, False, False])) == 1.0
    assert roc_auc(np.array([1.0, 1.0]), np.array([True, False])) == 0.5
    assert np.isnan(roc_auc(np.array([1.0]), np.array([True])))
    rates = decile_lapse_rates(np.arange(20.0), np.arange(20) >= 10)
    assert list(rates) == [1.0] * 5 + [0.0] * 5


def test_histories_count_one_purchase_per_day() -> None:
    at = pd.Timestamp("2025-01-10T09:00:00Z")
    purchases = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b"],
            # Two orders on the 10th (a split basket) and one each on the 20th and 10 Feb.
            "occurred_at": [at, at + pd.Timedelta(hours=5), at + pd.Timedelta(days=10),
                            at + pd.Timedelta(days=31), at],
            "amount": [10.0, 5.0, 20.0, 30.0, 7.0],
        }
    )  # fmt: skip
    table = purchase_histories(purchases, datetime(2025, 3, 12, tzinfo=UTC))
    a, b = table.loc["a"], table.loc["b"]
    assert (a["x"], a["t_x"], a["T"], a["purchases"], a["monetary"]) == (2, 31, 61, 4, 65.0)
    assert a["usual_gap_days"] == 15.5  # gaps of 10 and 21 days
    assert (b["x"], b["t_x"], b["T"]) == (0, 0, 61) and np.isnan(b["usual_gap_days"])
    # Purchases after the as-of date are not seen.
    early = purchase_histories(purchases, datetime(2025, 1, 15, tzinfo=UTC))
    assert early.loc["a", "x"] == 0 and early.loc["a", "purchases"] == 2


def test_the_plot_is_a_png(tmp_path: Path) -> None:
    purchases = simulate.population(
        2_000, SHOPS["steady"], START, AS_OF + HORIZON, first_orders_until=AS_OF, seed=3
    )
    path = write_plot(run_backtest(purchases, AS_OF, HORIZON), tmp_path / "plots" / "bt.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
