"""Each customer's purchase history summarised for the purchase model, as of a date.

The model counts **one purchase per day** (UTC): two orders in one afternoon — a forgotten
item, a split basket — are one buying occasion, not a rhythm of minutes. Per customer with
a purchase up to ``as_of``:

- ``x``: repeat purchase days (distinct days with a purchase, minus the first);
- ``t_x``: days from the first purchase day to the last;
- ``T``: days from the first purchase day to ``as_of``;
- ``usual_gap_days``: the median gap between their purchase days (NaN with one day only),
  for the evidence a marketer reads ("usually every 30 days");
- ``purchases`` (every order, same-day ones too) and ``monetary`` (total spent), as RFM.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

DAY = pd.Timedelta(days=1)
COLUMNS = (
    "first_purchase_at", "last_purchase_at", "x", "t_x", "T", "usual_gap_days",
    "purchases", "monetary",
)  # fmt: skip


def purchase_histories(purchases: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """One row per customer (index ``customer_id``) with ``COLUMNS``, from purchases up to
    ``as_of`` (later ones are ignored). Vectorised."""
    now = pd.Timestamp(as_of)
    purchases = purchases[purchases["occurred_at"] <= now]
    if purchases.empty:
        frame = pd.DataFrame({c: pd.Series([], dtype="float64") for c in COLUMNS})
        frame.index.name = "customer_id"
        return frame
    grouped = purchases.groupby("customer_id", sort=True)
    table = pd.DataFrame(
        {
            "first_purchase_at": grouped["occurred_at"].min(),
            "last_purchase_at": grouped["occurred_at"].max(),
            "purchases": grouped.size(),
            "monetary": grouped["amount"].sum(),
        }
    )
    days = pd.DataFrame(
        {
            "customer_id": purchases["customer_id"].to_numpy(),
            "day": purchases["occurred_at"].dt.tz_convert("UTC").dt.floor("D"),
        }
    ).drop_duplicates()
    days = days.sort_values(["customer_id", "day"], kind="stable")
    gaps = days.groupby("customer_id", sort=False)["day"].diff() / DAY
    per_day = days.assign(gap=gaps).groupby("customer_id", sort=True)
    first_day = per_day["day"].min()
    table["x"] = (per_day.size() - 1).astype("float64")
    table["t_x"] = (per_day["day"].max() - first_day) / DAY
    # T from the first purchase *day*, so t_x <= T and both count in the same whole days.
    table["T"] = np.maximum((now - first_day) / DAY, table["t_x"])
    table["usual_gap_days"] = per_day["gap"].median()
    return table[list(COLUMNS)]
