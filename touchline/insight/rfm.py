"""RFM: recency, frequency and monetary value per customer, scored 1–5, and segments.

Following Jim Novo's *Drilling Down*: the customers who bought most recently, most often and
for the most money are the likeliest to buy again; a good customer whose recency slips is
the one to act on.

Per customer, as of ``now``, from their purchases up to then:
- ``recency_days``: days since the last purchase (fractional);
- ``frequency``: number of purchases;
- ``monetary``: total spent.

**Scores are quintiles among all customers with a purchase.** A customer's score is
``1 + floor(5 × worse / customers)``, where ``worse`` is the number of customers with a
strictly worse value (longer recency; fewer purchases; less money). Equal values get equal
scores, the best fifth gets 5, and the same record always scores the same way. When most
customers bought once, they all share frequency score 1.

**Segments** come from the recency (R) and frequency (F) scores, first match wins:

| segment | R | F | what it means |
|---|---|---|---|
| champions | 4–5 | 4–5 | bought recently and often |
| loyal | 3–5 | 3–5 | buy regularly |
| new | 5 | 1 | first purchase, just now |
| promising | 4–5 | 1–2 | recent, not yet frequent |
| at_risk | 1–2 | 3–5 | bought often, but not for a while: win them back |
| about_to_sleep | 3 | 1–2 | fading, and never frequent |
| hibernating | 1–2 | 1–2 | long gone, and rarely bought |

The table covers all 25 (R, F) cells.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

SEGMENTS: tuple[tuple[str, tuple[int, int], tuple[int, int]], ...] = (
    ("champions", (4, 5), (4, 5)),
    ("loyal", (3, 5), (3, 5)),
    ("new", (5, 5), (1, 1)),
    ("promising", (4, 5), (1, 2)),
    ("at_risk", (1, 2), (3, 5)),
    ("about_to_sleep", (3, 3), (1, 2)),
    ("hibernating", (1, 2), (1, 2)),
)
SEGMENT_NAMES = tuple(name for name, _, _ in SEGMENTS)
COLUMNS = (
    "first_purchase_at", "last_purchase_at", "recency_days", "frequency", "monetary",
    "r", "f", "m", "segment",
)  # fmt: skip
DAY = pd.Timedelta(days=1)


def _segment_grid() -> np.ndarray:
    """grid[r-1, f-1] = index into SEGMENT_NAMES (first matching row of the table)."""
    grid = np.full((5, 5), -1, dtype=np.int8)
    for index, (_, (r_low, r_high), (f_low, f_high)) in reversed(list(enumerate(SEGMENTS))):
        grid[r_low - 1 : r_high, f_low - 1 : f_high] = index
    assert (grid >= 0).all(), "the segment table leaves a cell uncovered"
    return grid


GRID = _segment_grid()


def quintile_scores(values: pd.Series, higher_is_better: bool = True) -> pd.Series:
    """1–5: ``1 + floor(5 × (customers with a strictly worse value) / customers)``."""
    if values.empty:
        return pd.Series([], index=values.index, dtype="int8")
    ranked = values if higher_is_better else -values
    worse = ranked.rank(method="min") - 1  # ties share the lowest rank: equal values, equal score
    return (1 + np.floor(5 * worse / len(values))).astype("int8")


def rfm_table(purchases: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """One row per customer (index ``customer_id``) with ``COLUMNS``; vectorised."""
    if purchases.empty:
        frame = pd.DataFrame({c: [] for c in COLUMNS})
        frame.index.name = "customer_id"
        return frame
    grouped = purchases.groupby("customer_id", sort=True)
    table = pd.DataFrame(
        {
            "first_purchase_at": grouped["occurred_at"].min(),
            "last_purchase_at": grouped["occurred_at"].max(),
            "frequency": grouped.size(),
            "monetary": grouped["amount"].sum(),
        }
    )
    table["recency_days"] = (pd.Timestamp(now) - table["last_purchase_at"]) / DAY
    table["r"] = quintile_scores(table["recency_days"], higher_is_better=False)
    table["f"] = quintile_scores(table["frequency"])
    table["m"] = quintile_scores(table["monetary"])
    codes = GRID[table["r"].to_numpy() - 1, table["f"].to_numpy() - 1]
    table["segment"] = pd.Categorical.from_codes(codes, categories=list(SEGMENT_NAMES))
    return table[list(COLUMNS)]


def segment_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Customers, share, spend and the typical scores per segment, in the table's order."""
    if table.empty:
        return pd.DataFrame(
            {"customers": [0] * len(SEGMENT_NAMES), "share": [0.0] * len(SEGMENT_NAMES)},
            index=pd.Index(SEGMENT_NAMES, name="segment"),
        )
    grouped = table.groupby("segment", observed=False)
    counts = pd.DataFrame(
        {
            "customers": grouped.size(),
            "monetary": grouped["monetary"].sum().round(2),
            "median_recency_days": grouped["recency_days"].median().round(1),
            "median_frequency": grouped["frequency"].median(),
        }
    )
    counts.insert(1, "share", (counts["customers"] / len(table)).round(4))
    counts.index.name = "segment"
    return counts
