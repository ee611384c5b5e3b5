from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from preference_center.quiet_hours import QuietHours, defer_past_quiet_hours

NIGHT = QuietHours(time(21), time(8))


def test_a_window_across_midnight() -> None:
    assert NIGHT.contains(time(23)) and NIGHT.contains(time(2)) and NIGHT.contains(time(21))
    assert not NIGHT.contains(time(8)) and not NIGHT.contains(time(12))


def test_equal_start_and_end_is_no_window() -> None:
    assert not QuietHours(time(9), time(9)).contains(time(9))


def test_deferral_lands_on_the_local_end_of_the_window() -> None:
    paris = ZoneInfo("Europe/Paris")
    now = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)  # 23:30 in Paris
    send_at, window = defer_past_quiet_hours(now, paris, [NIGHT])
    assert window == NIGHT
    assert send_at.astimezone(paris) == datetime(2026, 11, 24, 8, 0, tzinfo=paris)


def test_deferral_keeps_wall_clock_time_across_a_dst_change() -> None:
    # Night of 28-29 March 2026: Paris moves from UTC+1 to UTC+2.
    paris = ZoneInfo("Europe/Paris")
    now = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)  # 23:00 CET
    send_at, _ = defer_past_quiet_hours(now, paris, [NIGHT])
    assert send_at.astimezone(paris).time() == time(8, 0)
    assert send_at == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)  # 08:00 CEST


def test_outside_the_window_nothing_moves() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert defer_past_quiet_hours(now, ZoneInfo("UTC"), [NIGHT]) == (now, None)


def test_overlapping_windows_chain() -> None:
    late = QuietHours(time(7, 30), time(9))  # the customer sleeps in
    now = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
    send_at, _ = defer_past_quiet_hours(now, ZoneInfo("UTC"), [NIGHT, late])
    assert send_at == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
