"""Attribution of the hand-built promo record's 14 conversions, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.touchline.reports.builders import promo_record
from touchline.db import Database
from touchline.reports.attribution import (
    NO_TOUCH,
    attribution,
    conversion_paths,
)
from touchline.reports.journey import load_record


@pytest.fixture
def promo(db: Database) -> Database:
    with db.session() as session:
        promo_record(session)
    return db


def test_paths_hold_the_touches_within_the_goal_window_before_each_conversion(
    promo: Database,
) -> None:
    with promo.session() as session:
        record = load_record(session, "promo")
        paths = conversion_paths(session, record.conversions, record.goal_within, "promo")
    by_customer = {
        cid: list(zip(rows["channel"], rows["position_based"].round(4), strict=True))
        for cid, rows in paths.groupby("customer_id")
    }
    assert by_customer["t00"] == [("email", 1.0)]  # one touch: all of it
    assert by_customer["t01"] == [("email", 0.5), ("sms", 0.5)]  # two: half each
    assert by_customer["t02"] == [("email", 1.0)]  # the newsletter 8 days before: outside
    assert by_customer["t03"] == [("email", 1.0)]  # the newsletter after it: not before
    assert by_customer["t04"] == [("email", 0.4), ("email", 0.2), ("sms", 0.4)]
    assert by_customer["t05"] == [("x", 0.4), ("email", 0.1), ("email", 0.1), ("whatsapp", 0.4)]
    assert by_customer["h00"] == [("email", 1.0)]  # held out of promo, not of the newsletter
    assert "h15" not in by_customer  # no touch at all
    assert paths.groupby("conversion_id")["last_touch"].sum().eq(1).all()


def test_credit_per_channel_adds_up_to_the_conversions_in_each_model(promo: Database) -> None:
    with promo.session() as session:
        record = load_record(session, "promo")
        credit = attribution(session, record.conversions, record.goal_within, "promo")
        own = attribution(
            session, record.conversions, record.goal_within, "promo", this_journey_only=True
        )
    assert len(record.conversions) == 14
    assert credit["last_touch"].to_dict() == {
        "email": 8.0, "sms": 4.0, "whatsapp": 1.0, "x": 0.0, NO_TOUCH: 1.0,
    }  # fmt: skip
    assert credit["position_based"].to_dict() == pytest.approx(
        {"email": 10.3, "sms": 1.9, "x": 0.4, "whatsapp": 0.4, NO_TOUCH: 1.0}
    )
    assert credit.index[-1] == NO_TOUCH  # the remainder comes last
    for model in ("last_touch", "position_based"):
        assert credit[model].sum() == pytest.approx(14)
        assert own[model].sum() == pytest.approx(14)
    # Revenue shared the same way: sms was last for t01 (50), t04 (30), t20 and t21 (20).
    assert credit.loc["sms", "last_touch_revenue"] == pytest.approx(120)
    assert credit["position_based_revenue"].sum() == pytest.approx(4 * 50 + 4 * 30 + 2 * 20 + 80)
    assert credit.loc["sms", "conversions_touched"] == 4
    # Only promo's own touches: t01, t04, t05 end on promo's email; h00 has no touch.
    assert own["last_touch"].to_dict() == {"email": 10.0, "sms": 2.0, NO_TOUCH: 2.0}
