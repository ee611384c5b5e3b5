"""The journey report on a hand-built record with known counts, on SQLite and PostgreSQL:
the funnel, treatment vs holdout, lift with its interval, split variants, and what it says
when there is not enough data."""

from __future__ import annotations

import math
from datetime import timedelta
from statistics import NormalDist

import pytest

from tests.conftest import START
from tests.touchline.reports.builders import PROMO, RecordBuilder, promo_record
from touchline.db import Database
from touchline.errors import JourneyNotFoundError
from touchline.reports.journey import (
    build_report,
    funnel,
    lift,
    load_record,
    outcome_by_group,
    variant_outcomes,
)

Z = NormalDist().inv_cdf(0.975)


def wilson_bounds(k: int, n: int) -> tuple[float, float]:
    """Written out again here, from the formula, to check the module against."""
    p = k / n
    centre = (2 * n * p + Z**2) / (2 * (n + Z**2))
    half = Z * math.sqrt(Z**2 + 4 * n * p * (1 - p)) / (2 * (n + Z**2))
    return centre - half, centre + half


def newcombe(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float, float]:
    p1, p2 = k1 / n1, k2 / n2
    (l1, u1), (l2, u2) = wilson_bounds(k1, n1), wilson_bounds(k2, n2)
    d = p1 - p2
    return (
        d,
        d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
        d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2),
    )


@pytest.fixture
def promo(db: Database) -> Database:
    with db.session() as session:
        promo_record(session)
    return db


def test_the_funnel_counts_distinct_touches_and_converting_enrollments(promo: Database) -> None:
    with promo.session() as session:
        table = funnel(load_record(session, "promo"))
    assert table.index.tolist() == [("first_email", "email"), ("reminder", "sms")]
    assert table.loc[("first_email", "email")].to_dict() == {
        # 38 sent (2 failed); an open without a delivery counts; duplicates count once
        "sent": 38, "delivered": 36, "opened": 20, "clicked": 8,
        # t00–t07, t20–t23 converted after the email; the holdout's skipped touches are not here
        "converted": 12,
    }  # fmt: skip
    # Only t20 and t21 converted after the SMS; t22–t23 had converted before it.
    assert table.loc[("reminder", "sms")].to_dict() == {
        "sent": 10, "delivered": 10, "opened": 0, "clicked": 0, "converted": 2,
    }  # fmt: skip


def test_treatment_and_holdout_outcomes(promo: Database) -> None:
    with promo.session() as session:
        table = outcome_by_group(load_record(session, "promo"))
    treatment, holdout = table.loc["treatment"], table.loc["holdout"]
    assert (treatment["enrollments"], treatment["conversions"]) == (40, 12)
    assert (holdout["enrollments"], holdout["conversions"]) == (20, 2)
    assert treatment["conversion_rate"] == pytest.approx(0.3)
    # 4×50 + 4×30 + 2×20 over 40 enrollments; a conversion without revenue counts 0;
    # the newsletter's conversion of t01 (999) is not promo's.
    assert treatment["revenue_per_enrollment"] == pytest.approx(360 / 40)
    assert holdout["revenue_per_enrollment"] == pytest.approx(80 / 20)
    assert (treatment["rate_low"], treatment["rate_high"]) == pytest.approx(wilson_bounds(12, 40))


def test_lift_against_the_holdout_with_newcombes_interval(promo: Database) -> None:
    with promo.session() as session:
        table = lift(load_record(session, "promo"))
    rate = table[(table["comparison"] == "treatment vs holdout")
                 & (table["metric"] == "conversion_rate")].iloc[0]  # fmt: skip
    diff, low, high = newcombe(12, 40, 2, 20)
    assert (rate["absolute"], rate["low"], rate["high"]) == pytest.approx((diff, low, high))
    assert diff == pytest.approx(0.2)
    assert rate["significant"] == (low > 0)
    sign = "+" if low >= 0 else "−"
    assert rate["summary"] == (
        f"+20.0 points (95% CI {sign}{abs(low) * 100:.1f} to +{high * 100:.1f}): "
        + ("significant" if low > 0 else "not significant")
    )
    # Relative: 30% vs 10% is three times the rate, +200%; Katz's log interval around it.
    se = math.sqrt(1 / 12 - 1 / 40 + 1 / 2 - 1 / 20)
    assert rate["relative"] == pytest.approx(2.0)
    assert rate["relative_low"] == pytest.approx(3 * math.exp(-Z * se) - 1)
    assert rate["relative_high"] == pytest.approx(3 * math.exp(Z * se) - 1)

    revenue = table[(table["comparison"] == "treatment vs holdout")
                    & (table["metric"] == "revenue_per_enrollment")].iloc[0]  # fmt: skip
    assert revenue["absolute"] == pytest.approx(9.0 - 4.0)
    assert revenue["low"] < 5.0 < revenue["high"]
    assert revenue["relative"] == pytest.approx(5.0 / 4.0)
    assert revenue["summary"].startswith("+5.00 per enrollment (95% CI ")


def test_split_variants_against_each_other_and_the_holdout_that_reached_the_split(
    promo: Database,
) -> None:
    with promo.session() as session:
        record = load_record(session, "promo")
    arms = variant_outcomes(record)
    assert arms.index.tolist() == [("subject", "A"), ("subject", "B"), ("subject", "holdout")]
    assert arms["enrollments"].tolist() == [20, 20, 20]
    assert arms["conversions"].tolist() == [8, 4, 2]
    assert arms.loc[("subject", "A"), "revenue_per_enrollment"] == pytest.approx(320 / 20)

    table = lift(record).set_index(["comparison", "metric"])
    assert list(dict.fromkeys(c for c, _ in table.index)) == [
        "treatment vs holdout", "subject: B vs A", "subject: A vs holdout", "subject: B vs holdout",
    ]  # fmt: skip
    for comparison, counts in {
        "subject: B vs A": (4, 20, 8, 20),
        "subject: A vs holdout": (8, 20, 2, 20),
        "subject: B vs holdout": (4, 20, 2, 20),
    }.items():
        row = table.loc[(comparison, "conversion_rate")]
        assert (row["absolute"], row["low"], row["high"]) == pytest.approx(newcombe(*counts))


def test_not_enough_data_instead_of_a_division_by_zero(db: Database) -> None:
    with db.session() as session:
        build = RecordBuilder(session)
        build.journey({**PROMO, "holdout": 0})
        for n in range(12):
            build.enroll(f"c{n}")
    with db.session() as session:
        report = build_report(session, "promo")
    assert report.lift["summary"].tolist() == ["not enough data: no holdout enrollments"] * 2
    assert (
        report.headline[-2] == "Lift in conversion rate: not enough data: no holdout enrollments."
    )
    assert report.funnel.empty and report.attribution.empty
    assert math.isnan(report.outcomes.loc["holdout", "conversion_rate"])

    with db.session() as session:
        build = RecordBuilder(session)
        for n in range(12):
            build.enroll(f"h{n}", holdout=True)
    with db.session() as session:
        table = lift(load_record(session, "promo"))
    # Both groups big enough, nobody converted: no rate difference to speak of.
    assert table["summary"].tolist() == [
        "not enough data: no conversions yet",
        "not enough data: no revenue recorded",
    ]
    with db.session() as session:
        record = load_record(session, "promo")
    assert (
        lift(record, min_group=15)["summary"].tolist()
        == ["not enough data: holdout has 12 enrollments (needs 15)"] * 2
    )


def test_since_keeps_only_enrollments_that_entered_after_it(db: Database) -> None:
    with db.session() as session:
        build = RecordBuilder(session)
        build.journey(PROMO)
        old = build.enroll("old", entered=START - timedelta(days=30))
        build.touch(old, "old", "first_email", "email", START - timedelta(days=30))
        build.convert(old, "old", START - timedelta(days=29), 10)
        new = build.enroll("new")
        build.touch(new, "new", "first_email", "email", START)
    with db.session() as session:
        everything = build_report(session, "promo")
        recent = build_report(session, "promo", since=START - timedelta(days=1))
    assert everything.funnel.loc[("first_email", "email"), "sent"] == 2
    assert everything.outcomes.loc["treatment", "conversions"] == 1
    assert recent.funnel.loc[("first_email", "email"), "sent"] == 1
    assert recent.outcomes.loc["treatment", "conversions"] == 0
    assert "since 2026-11-22" in recent.headline[0]


def test_an_unpublished_journey_is_named_with_the_published_ones(db: Database) -> None:
    with db.session() as session:
        RecordBuilder(session).journey(PROMO)
    with db.session() as session, pytest.raises(JourneyNotFoundError, match=r"'nope'.*promo"):
        load_record(session, "nope")
