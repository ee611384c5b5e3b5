from datetime import UTC, datetime, timedelta

import pytest

from touchline.clock import ManualClock, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("36h", timedelta(hours=36)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("1d12h", timedelta(hours=36)),
    ],
)
def test_durations_read_as_marketers_write_them(text: str, delta: timedelta) -> None:
    assert parse_duration(text) == delta


@pytest.mark.parametrize("text", ["", "2", "d", "2 days", "2x"])
def test_unreadable_durations_say_how_to_write_them(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_durations_print_in_their_largest_whole_unit() -> None:
    assert [format_duration(timedelta(hours=h)) for h in (48, 36, 1)] == ["2d", "36h", "1h"]


def test_a_manual_clock_moves_forward_only() -> None:
    clock = ManualClock(datetime(2026, 11, 23, tzinfo=UTC))
    assert clock.advance(timedelta(days=2)) == datetime(2026, 11, 25, tzinfo=UTC)
    with pytest.raises(ValueError):
        clock.set(datetime(2026, 11, 24, tzinfo=UTC))
    with pytest.raises(ValueError):
        ManualClock(datetime(2026, 11, 23))  # naive: which zone?
