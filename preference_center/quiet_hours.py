"""Quiet hours, always in the customer's own time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True)
class QuietHours:
    """A daily window, e.g. 21:00–08:00 (wrapping midnight). start == end means none."""

    start: time
    end: time

    def contains(self, local: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def ends_after(self, local_now: datetime) -> datetime:
        """When the window that contains ``local_now`` ends (local, aware)."""
        end_today = local_now.replace(
            hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0
        )
        if end_today <= local_now:
            # Aware arithmetic with a ZoneInfo is wall-clock arithmetic: across a DST change
            # this is still 08:00 local the next day, which is what the customer expects.
            end_today += timedelta(days=1)
        return end_today

    def __str__(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}"


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def is_valid_timezone(name: str) -> bool:
    try:
        zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def defer_past_quiet_hours(
    now: datetime, tz: ZoneInfo, windows: list[QuietHours]
) -> tuple[datetime, QuietHours | None]:
    """The earliest moment at or after ``now`` outside every window (UTC), and the window
    that caused the first deferral (None if ``now`` is already allowed)."""
    moment = now.astimezone(tz)
    first: QuietHours | None = None
    for _ in range(len(windows) * 2 + 1):  # overlapping windows chain; bounded anyway
        blocking = next((w for w in windows if w.contains(moment.time())), None)
        if blocking is None:
            break
        first = first or blocking
        moment = blocking.ends_after(moment)
    return moment.astimezone(UTC), first
