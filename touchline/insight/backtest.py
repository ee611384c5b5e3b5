"""Backtest: would the flags have predicted who stopped buying?

Fit the purchase model on purchases up to ``as_of`` (the calibration period), score every
customer who had bought by then, and compare with what happened next: a customer
**lapsed** when they made no purchase in ``(as_of, as_of + horizon]``. Two scores are
judged the same way:

- **model**: 1 − P(at least one order within the horizon) (``purchase_model``);
- **recency** (the baseline): days since the last purchase — what a plain "silent for N
  days" rule ranks by.

For each: ROC AUC (the chance that a customer who lapsed is ranked above one who did not;
0.5 is a coin toss), and precision and recall among the ``budget`` customers it ranks most
likely to lapse — by default as many as the tripwire's thresholds would flag, so both scores
are judged on the same number of flags. The plot shows the lapse rate per score decile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from touchline.insight.histories import purchase_histories
from touchline.insight.purchase_model import PurchaseModel, fit
from touchline.insight.scores import score_histories

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SCORES = ("model", "recency")
DECILES = 10


@dataclass(frozen=True)
class ScoreResult:
    auc: float
    precision: float
    recall: float


@dataclass
class Backtest:
    as_of: datetime
    horizon: timedelta
    model: PurchaseModel
    customers: int
    lapsed: int
    budget: int
    results: dict[str, ScoreResult]
    deciles: pd.DataFrame  # index decile 1 (likeliest to lapse) … 10; lapse rate per score
    table: pd.DataFrame = field(repr=False)  # per customer: scores and the outcome

    @property
    def lapse_rate(self) -> float:
        return self.lapsed / self.customers if self.customers else float("nan")


def roc_auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Mann–Whitney: P(score of a positive > score of a negative), ties counting half."""
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = pd.Series(score).rank(method="average").to_numpy()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def top_k(score: np.ndarray, positive: np.ndarray, k: int) -> tuple[float, float]:
    """Precision and recall among the ``k`` highest scores (ties broken by position)."""
    positive = np.asarray(positive, dtype=bool)
    if k <= 0 or positive.sum() == 0:
        return float("nan"), float("nan")
    chosen = np.argsort(-np.asarray(score), kind="stable")[:k]
    hits = int(positive[chosen].sum())
    return hits / k, hits / int(positive.sum())


def decile_lapse_rates(score: np.ndarray, lapsed: np.ndarray) -> pd.Series:
    """Lapse rate per decile of ``score``; decile 1 holds the highest scores."""
    order = pd.Series(-np.asarray(score)).rank(method="first").to_numpy()
    decile = np.ceil(order * DECILES / len(order)).astype(int)
    return pd.Series(np.asarray(lapsed, dtype=float)).groupby(decile).mean()


def run_backtest(
    purchases: pd.DataFrame,
    as_of: datetime,
    horizon: timedelta,
    *,
    p_active_below: float = 0.5,
    expected_orders_below: float | None = None,
    budget: int | None = None,
) -> Backtest:
    """Fit up to ``as_of``, score, and judge against purchases in the horizon after it."""
    now = pd.Timestamp(as_of)
    histories = purchase_histories(purchases, as_of)
    model = fit(histories["x"], histories["t_x"], histories["T"])
    table = score_histories(histories, model, horizon)
    later = purchases[
        (purchases["occurred_at"] > now) & (purchases["occurred_at"] <= now + horizon)
    ]
    table["lapsed"] = ~table.index.isin(later["customer_id"].unique())
    table["model"] = 1.0 - table["p_order_in_horizon"]
    table["recency"] = histories["T"] - histories["t_x"]
    flagged = table["p_active"] < p_active_below
    if expected_orders_below is not None:
        flagged |= table["expected_orders_in_horizon"] < expected_orders_below
    k = int(flagged.sum()) if budget is None else budget
    lapsed = table["lapsed"].to_numpy()
    results = {}
    for name in SCORES:
        score = table[name].to_numpy()
        precision, recall = top_k(score, lapsed, k)
        results[name] = ScoreResult(roc_auc(score, lapsed), precision, recall)
    deciles = pd.DataFrame(
        {name: decile_lapse_rates(table[name].to_numpy(), lapsed) for name in SCORES}
    )
    deciles.index.name = "decile"
    return Backtest(
        as_of=as_of, horizon=horizon, model=model, customers=len(table),
        lapsed=int(lapsed.sum()), budget=k, results=results, deciles=deciles, table=table,
    )  # fmt: skip


def decile_figure(backtest: Backtest) -> Figure:
    """Lapse rate per score decile, model and recency side by side (Agg canvas)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 4.5), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    width = 0.4
    colors = {"model": "#1d4ed8", "recency": "#94a3b8"}
    for number, name in enumerate(SCORES):
        xs = backtest.deciles.index.to_numpy() + (number - 0.5) * width
        result = backtest.results[name]
        label = f"{'purchase model' if name == 'model' else 'days since last order'} (AUC {result.auc:.3f})"
        axes.bar(xs, 100 * backtest.deciles[name], width, label=label, color=colors[name])
    axes.axhline(100 * backtest.lapse_rate, color="#64748b", linestyle="--", linewidth=1)
    axes.set_xticks(backtest.deciles.index.to_numpy())
    axes.set_xlabel("score decile (1 = ranked likeliest to lapse)")
    axes.set_ylabel(f"% who bought nothing in the next {backtest.horizon.days} days")
    axes.set_title(
        f"Backtest as of {pd.Timestamp(backtest.as_of):%Y-%m-%d}: "
        f"{backtest.customers:,} customers, {backtest.lapse_rate:.0%} lapsed"
    )
    axes.legend(loc="upper right", fontsize=8)
    return figure


def write_plot(backtest: Backtest, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    decile_figure(backtest).savefig(path, format="png", facecolor="white")
    return path
