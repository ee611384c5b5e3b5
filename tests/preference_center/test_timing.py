"""The best hour within a window: learned hour-of-week scores, in the customer's own zone,
never inside quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from preference_center import ConsentState, CustomerProfile, DecisionPolicy, SendRequest, decide
from preference_center.learned import Figure, Learned, Scope, load_learned
from preference_center.learning import refresh
from preference_center.quiet_hours import QuietHours
from preference_center.timing import best_time, candidates, hour_of_week
from tests.preference_center.test_learning import NOW, SETTINGS, Record
from touchline.db import Database

LONDON, TOKYO = ZoneInfo("Europe/London"), ZoneInfo("Asia/Tokyo")
WEEK = timedelta(weeks=1)
MONDAY_20_UTC = datetime(2026, 11, 2, 20, tzinfo=UTC)  # 20:00 in London (winter: UTC+0)


@pytest.fixture
def record(db: Database) -> Record:
    return Record(db)


def learned(db: Database, cid: str, segment: str | None = None) -> Learned:
    refresh(db, NOW, SETTINGS)
    with db.session() as session:
        return load_learned(session, [cid], {cid: segment})[cid]


def test_the_customers_own_best_hour_in_their_zone(db: Database, record: Record) -> None:
    record.customer("owl", tz="Europe/London")
    record.messages("owl", "email", sent=3, engaged=3, at=MONDAY_20_UTC, every=WEEK)
    record.messages("owl", "email", sent=3, at=MONDAY_20_UTC - timedelta(hours=4), every=WEEK)
    best = best_time(learned(db, "owl"), "email", LONDON, NOW, timedelta(hours=24), [])
    assert best.at == datetime(2026, 11, 23, 20, tzinfo=UTC)  # Monday 20:00 London
    assert best.explanation.startswith(
        "best time within 1d: Mon 20:00 local — this customer's history: 3 of 3 engaged when "
        "sent at Mon 20:00 (score"
    )


def test_a_zone_with_an_offset_shifts_the_hour(db: Database, record: Record) -> None:
    # Tuesday 08:00 in Tokyo (UTC+9, no daylight time) is Monday 23:00 UTC.
    record.customer("early", tz="Asia/Tokyo")
    tuesday_8_tokyo = datetime(2026, 11, 2, 23, tzinfo=UTC)
    record.messages("early", "sms", sent=3, engaged=3, at=tuesday_8_tokyo, every=WEEK)
    record.messages("early", "sms", sent=3, at=tuesday_8_tokyo + timedelta(hours=4), every=WEEK)
    best = best_time(learned(db, "early"), "sms", TOKYO, NOW, timedelta(hours=12), [])
    assert best.at == datetime(2026, 11, 23, 23, tzinfo=UTC)
    assert "Tue 08:00 local" in best.explanation


def test_quiet_hours_are_never_chosen_however_well_they_score(db: Database, record: Record) -> None:
    record.customer("owl", tz="Europe/London")
    late = MONDAY_20_UTC + timedelta(hours=2)  # 22:00: the customer's best hour, but quiet
    record.messages("owl", "sms", sent=4, engaged=4, at=late, every=WEEK)
    record.messages("owl", "sms", sent=2, engaged=2, at=MONDAY_20_UTC, every=WEEK)
    owl = learned(db, "owl")
    quiet = [QuietHours(time(21), time(8))]
    best = best_time(owl, "sms", LONDON, NOW, timedelta(hours=12), quiet)
    assert best.at == datetime(2026, 11, 23, 20, tzinfo=UTC)  # the best outside 21:00–08:00
    without = best_time(owl, "sms", LONDON, NOW, timedelta(hours=12), [])
    assert without.at == datetime(2026, 11, 23, 22, tzinfo=UTC)


def test_a_window_that_is_all_quiet_waits_for_quiet_hours_to_end() -> None:
    night = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)
    quiet = [QuietHours(time(21), time(8))]
    best = best_time(Learned(), "sms", LONDON, night, timedelta(hours=6), quiet)
    assert best.at == datetime(2026, 11, 24, 8, tzinfo=UTC)
    assert best.explanation == (
        "best time within 6h: every hour of it is quiet; Tue 08:00 local, when quiet hours end"
    )


def test_too_little_data_uses_the_segment_then_everyone(db: Database, record: Record) -> None:
    record.customer("new", segment="vip", tz="Europe/London")
    record.customer("old", segment="vip", tz="Europe/London")
    record.messages("new", "email", sent=2, engaged=2, at=MONDAY_20_UTC - timedelta(hours=2))
    record.messages("old", "email", sent=3, engaged=3, at=MONDAY_20_UTC, every=WEEK)
    new = learned(db, "new", "vip")
    best = best_time(new, "email", LONDON, NOW, timedelta(hours=12), [])
    # new's own 18:00 does not count yet (2 messages); the segment's 20:00 does.
    assert best.at == datetime(2026, 11, 23, 20, tzinfo=UTC)
    assert "— segment vip: 3 of 3 engaged when sent at Mon 20:00" in best.explanation
    assert best.explanation.endswith("(this customer: 2 messages on email; needs 3)")
    # Without a segment: everyone's hours, new's own 18:00 included.
    alone = Learned(customer=new.customer, overall=new.overall)
    assert best_time(alone, "email", LONDON, NOW, timedelta(hours=12), []).at == datetime(
        2026, 11, 23, 20, tzinfo=UTC
    )
    assert (
        "— all customers: 3 of 3"
        in best_time(alone, "email", LONDON, NOW, timedelta(hours=12), []).explanation
    )


def test_nothing_learned_falls_back_to_the_audiences_day() -> None:
    best = best_time(Learned(), "email", LONDON, NOW, timedelta(hours=24), [])
    assert best.at == datetime(2026, 11, 23, 19, tzinfo=UTC)  # the evening peak
    assert "nothing learned yet for email; the audience's usual best hours" in best.explanation


def test_ties_go_to_the_earliest_moment() -> None:
    flat = Figure(10, 2, 0.2)
    overall = Scope("global", "*", timing={("email", h): flat for h in range(168)})
    best = best_time(Learned(overall=overall), "email", LONDON, NOW, timedelta(hours=24), [])
    assert best.at == NOW and "now —" in best.explanation


def test_candidates_are_whole_local_hours_across_a_dst_change() -> None:
    # London leaves summer time at 02:00 BST on 25 October 2026 (01:00 UTC).
    now = datetime(2026, 10, 24, 23, 30, tzinfo=UTC)  # 00:30 BST
    moments = candidates(now, LONDON, timedelta(hours=4))
    assert moments[0] == now
    assert [m.astimezone(LONDON).strftime("%H:%M %Z") for m in moments[1:]] == [
        "01:00 BST", "01:00 GMT", "02:00 GMT", "03:00 GMT",
    ]  # fmt: skip
    assert hour_of_week(moments[2], LONDON) == 6 * 24 + 1  # Sunday 01:00


def test_the_decision_sends_at_the_best_hour_and_says_why(db: Database, record: Record) -> None:
    record.customer("owl", tz="Europe/London")
    record.messages("owl", "email", sent=3, engaged=3, at=MONDAY_20_UTC, every=WEEK)
    granted = ConsentState("granted", "signup_form", datetime(2026, 1, 1, tzinfo=UTC))
    profile = CustomerProfile(
        "owl",
        addresses={"email": "owl@example.com"},
        consents={("email", "marketing"): granted},
        timezone="Europe/London",
        learned=learned(db, "owl"),
    )
    request = SendRequest("marketing", ("email",), ("email",), best_within=timedelta(hours=12))
    decision = decide(profile, request, NOW, DecisionPolicy())
    assert decision.send_at == datetime(2026, 11, 23, 20, tzinfo=UTC)
    [timing] = [r for r in decision.reasons if r.check == "timing"]
    assert timing.outcome == "defer" and "Mon 20:00 local" in timing.message
