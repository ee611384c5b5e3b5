"""Every customer scored by the purchase model, beside their RFM scores and segment.

``score_customers`` fits MBG/NBD (``purchase_model``) on everyone's history as of a date
and gives, per customer: P(still active), the orders to expect and the chance of at least
one order within a horizon, the evidence behind them, and the RFM columns kept for
reporting. ``SCORE_COLUMNS`` is the CSV layout of ``touchline insight scores``, which starts
with ``customer_id`` so the file is a segment file for ``touchline launch`` as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from touchline.insight.histories import purchase_histories
from touchline.insight.purchase_model import PurchaseModel, fit
from touchline.insight.rfm import rfm_table

SCORE_COLUMNS = (
    "customer_id", "p_active", "expected_orders_in_horizon", "p_order_in_horizon",
    "horizon_days", "days_since_last_order", "usual_days_between_orders", "order_days",
    "orders", "spent", "first_order_at", "last_order_at", "rfm_recency_score",
    "rfm_frequency_score", "rfm_monetary_score", "rfm_segment",
)  # fmt: skip


@dataclass
class Scores:
    as_of: datetime
    horizon: timedelta
    model: PurchaseModel
    table: pd.DataFrame  # index customer_id; SCORE_COLUMNS but customer_id


def score_histories(
    histories: pd.DataFrame, model: PurchaseModel, horizon: timedelta
) -> pd.DataFrame:
    """The model's columns for each history (index kept)."""
    days = horizon / timedelta(days=1)
    x, t_x, T = histories["x"], histories["t_x"], histories["T"]
    return pd.DataFrame(
        {
            "p_active": model.p_alive(x, t_x, T),
            "expected_orders_in_horizon": model.expected_purchases(days, x, t_x, T),
            "p_order_in_horizon": model.probability_of_purchase(days, x, t_x, T),
            "horizon_days": days,
        },
        index=histories.index,
    )


def score_customers(purchases: pd.DataFrame, as_of: datetime, horizon: timedelta) -> Scores:
    """Fit on purchases up to ``as_of`` and score every customer with one (raises
    ``ModelFitError`` when there is nothing to fit)."""
    histories = purchase_histories(purchases, as_of)
    model = fit(histories["x"], histories["t_x"], histories["T"])
    table = score_histories(histories, model, horizon)
    rfm = rfm_table(purchases[purchases["occurred_at"] <= pd.Timestamp(as_of)], as_of)
    table["days_since_last_order"] = histories["T"] - histories["t_x"]
    table["usual_days_between_orders"] = histories["usual_gap_days"]
    table["order_days"] = (histories["x"] + 1).astype("int64")
    table["orders"] = histories["purchases"].astype("int64")
    table["spent"] = histories["monetary"].round(2)
    table["first_order_at"] = histories["first_purchase_at"]
    table["last_order_at"] = histories["last_purchase_at"]
    table["rfm_recency_score"] = rfm["r"]
    table["rfm_frequency_score"] = rfm["f"]
    table["rfm_monetary_score"] = rfm["m"]
    table["rfm_segment"] = rfm["segment"]
    table.index.name = "customer_id"
    return Scores(as_of=as_of, horizon=horizon, model=model, table=table)


def scores_csv_frame(scores: Scores) -> pd.DataFrame:
    """``SCORE_COLUMNS``, rounded for people, ISO 8601 times."""
    frame = scores.table.reset_index()
    for column in ("p_active", "p_order_in_horizon"):
        frame[column] = frame[column].round(4)
    for column in ("expected_orders_in_horizon", "days_since_last_order"):
        frame[column] = frame[column].round(3)
    frame["usual_days_between_orders"] = frame["usual_days_between_orders"].round(1)
    for column in ("first_order_at", "last_order_at"):
        frame[column] = frame[column].map(lambda t: t.isoformat())
    return frame[list(SCORE_COLUMNS)]
