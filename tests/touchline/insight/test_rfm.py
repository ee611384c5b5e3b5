"""RFM scores, segments and each customer's expected interval, on hand-built histories."""

from datetime import timedelta

import pandas as pd

from tests.conftest import START
from touchline.insight.rfm import SEGMENT_NAMES, quintile_scores, rfm_table, segment_counts


def purchases(*rows: tuple[str, float, float]) -> pd.DataFrame:
    """(customer, days before START, amount)."""
    return pd.DataFrame(
        {
            "event_id": [f"p{n}" for n in range(len(rows))],
            "customer_id": [c for c, _, _ in rows],
            "occurred_at": pd.to_datetime(
                [START - timedelta(days=d) for _, d, _ in rows], utc=True
            ),
            "amount": [a for _, _, a in rows],
        }
    )


def test_quintile_scores_are_exact_and_ties_share_a_score() -> None:
    values = pd.Series([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], index=list("abcdefghij"))
    assert quintile_scores(values).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    # Lower is better for recency: the shortest gets 5.
    assert quintile_scores(values, higher_is_better=False).tolist() == [
        5,
        5,
        4,
        4,
        3,
        3,
        2,
        2,
        1,
        1,
    ]
    ties = pd.Series([1, 1, 1, 1, 1, 1, 2, 3, 3, 9])
    # Six customers bought once: none of them is worse than another, all score 1.
    assert quintile_scores(ties).tolist() == [1, 1, 1, 1, 1, 1, 4, 4, 4, 5]


def test_rfm_table_values_scores_and_segments() -> None:
    frame = purchases(
        ("ann", 2, 50.0), ("ann", 12, 50.0), ("ann", 22, 50.0), ("ann", 32, 50.0),  # 4 × 50
        ("bob", 1, 5.0),  # new: once, just now
        ("cat", 200, 30.0), ("cat", 210, 30.0), ("cat", 220, 30.0),  # bought often, long ago
        ("dan", 300, 1.0),  # once, long ago
        ("eve", 40, 20.0), ("eve", 60, 20.0),
    )  # fmt: skip
    table = rfm_table(frame, START)
    ann = table.loc["ann"]
    assert (ann["frequency"], ann["monetary"], ann["recency_days"]) == (4, 200.0, 2.0)
    assert ann["last_purchase_at"] == pd.Timestamp(START - timedelta(days=2))
    assert table["r"].to_dict() == {"ann": 4, "bob": 5, "cat": 2, "dan": 1, "eve": 3}
    assert table["f"].to_dict() == {"ann": 5, "bob": 1, "cat": 4, "dan": 1, "eve": 3}
    assert table["m"].to_dict() == {"ann": 5, "bob": 2, "cat": 4, "dan": 1, "eve": 3}
    assert table["segment"].astype(str).to_dict() == {
        "ann": "champions", "bob": "new", "cat": "at_risk", "dan": "hibernating", "eve": "loyal",
    }  # fmt: skip
    counts = segment_counts(table)
    assert list(counts.index) == list(SEGMENT_NAMES)
    assert counts.loc["champions", "customers"] == 1 and counts.loc["promising", "customers"] == 0
    assert counts["customers"].sum() == 5 and counts.loc["at_risk", "monetary"] == 90.0


def test_no_purchases_no_customers() -> None:
    empty = purchases()
    assert rfm_table(empty, START).empty
    assert segment_counts(rfm_table(empty, START))["customers"].sum() == 0
