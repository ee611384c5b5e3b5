"""Touchline's notion of "now", injectable so that multi-day journeys run in seconds.

Engine functions take ``now`` as an argument; only the edges (flows, CLI, API) ask a clock.
``SystemClock`` is production; ``ManualClock`` is moved by hand (demo, tests, simulation).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


def utcnow() -> datetime:
    return datetime.now(UTC)


def ensure_utc(value: datetime) -> datetime:
    """Normalise an aware datetime to UTC; naive datetimes are refused, never guessed."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"datetime {value.isoformat()} has no time zone")
    return value.astimezone(UTC)


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return utcnow()


class ManualClock:
    """A clock that only moves when told to. Thread-safe: the demo's emulators read it."""

    def __init__(self, start: datetime):
        self._now = ensure_utc(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("a clock does not run backwards")
        with self._lock:
            self._now += delta
            return self._now

    def set(self, moment: datetime) -> datetime:
        moment = ensure_utc(moment)
        with self._lock:
            if moment < self._now:
                raise ValueError("a clock does not run backwards")
            self._now = moment
            return self._now


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``36h``, ``2d``, ``1w`` (and combinations like ``1d12h``)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    raw = text.strip().lower()
    if not raw:
        raise ValueError("empty duration")
    total, number = 0, ""
    for char in raw:
        if char.isdigit():
            number += char
        elif char in units and number:
            total += int(number) * units[char]
            number = ""
        else:
            raise ValueError(
                f"'{text}' is not a duration; write a number and a unit: 90s, 30m, 36h, 2d, 1w"
            )
    if number:
        raise ValueError(f"'{text}' needs a unit after {number}: s, m, h, d or w")
    return timedelta(seconds=total)


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
