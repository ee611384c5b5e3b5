"""Timeline dates show the year when it is not the current one: an event dated 2030 (or
last December's) must not read as this year's."""

from datetime import UTC, datetime

from rich.console import Console

from touchline.cli.present import timeline_table
from touchline.timeline import Entry

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def rendered(*moments: datetime, timezone: str | None = None) -> str:
    entries = [Entry(at, "event", None, f"entry {n}", {}) for n, at in enumerate(moments)]
    console = Console(width=200, record=True)
    console.print(timeline_table(entries, "ada", timezone, now=NOW))
    return console.export_text()


def test_this_years_dates_stay_short_and_others_show_their_year() -> None:
    text = rendered(
        datetime(2026, 11, 23, 9, 12, tzinfo=UTC),
        datetime(2025, 12, 31, 23, 0, tzinfo=UTC),
        datetime(2030, 1, 1, tzinfo=UTC),
        timezone="Europe/Paris",
    )
    assert "Mon 23 09:12" in text and "Mon 10:12" in text  # UTC, then local
    assert "Wed 31 Dec 2025 23:00" in text
    assert "Thu 00:00" in text  # that New Year's Eve in UTC is already this year in Paris
    assert "Tue 01 Jan 2030 00:00" in text
