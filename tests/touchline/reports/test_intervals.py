"""The interval formulas against published values (no statistics package needed)."""

from __future__ import annotations

import pytest

from touchline.reports.intervals import (
    katz_ratio,
    newcombe_difference,
    t_quantile,
    welch_difference,
    wilson,
)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # Newcombe (1998), Statistics in Medicine 17:873–890, table II, method 10.
        ((56, 70, 48, 80), (0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.1705, 0.8090)),
        ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ],
)
def test_newcombe_matches_the_published_examples(
    counts: tuple[int, int, int, int], expected: tuple[float, float]
) -> None:
    interval = newcombe_difference(*counts)
    assert (round(interval.low, 4), round(interval.high, 4)) == expected


def test_wilson_stays_inside_zero_and_one() -> None:
    assert (wilson(0, 10).low, wilson(10, 10).high) == (0.0, 1.0)
    assert wilson(0, 10).high == pytest.approx(0.2775, abs=1e-4)
    # Newcombe (1998a), single proportion, 81/263: 0.2553 to 0.3662
    assert (round(wilson(81, 263).low, 4), round(wilson(81, 263).high, 4)) == (0.2553, 0.3662)


@pytest.mark.parametrize(
    ("df", "quantile"),
    # Student's t, two-sided 95% (tables; R's qt(0.975, df))
    [(1, 12.706204736), (2, 4.302652730), (5, 2.570581836), (10, 2.228138852),
     (30, 2.042272456), (1000, 1.962339081)],
)  # fmt: skip
def test_t_quantiles_match_the_tables(df: int, quantile: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(quantile, abs=1e-8)
    assert t_quantile(0.025, df) == pytest.approx(-quantile, abs=1e-8)


def test_welch_with_equal_groups_is_the_pooled_t_interval() -> None:
    # n = 6 each, variances 4 and 4: df = 10, se = √(4/6 + 4/6)
    interval = welch_difference(7.0, 4.0, 6, 5.0, 4.0, 6)
    assert interval is not None
    half = 2.228138852 * (8 / 6) ** 0.5
    assert (interval.low, interval.high) == pytest.approx((2 - half, 2 + half))
    assert welch_difference(1.0, 0.0, 5, 1.0, 0.0, 5) is None  # nothing varies
    assert welch_difference(1.0, 1.0, 1, 1.0, 1.0, 5) is None  # a group of one


def test_katz_needs_a_conversion_on_each_side() -> None:
    assert katz_ratio(0, 10, 3, 10) is None
    ratio = katz_ratio(6, 20, 3, 20)
    assert ratio is not None and ratio.estimate == pytest.approx(2.0)
