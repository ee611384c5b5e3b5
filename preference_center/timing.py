"""When a customer engages: the best hour to send within a window, in their own time zone.

Each local hour of the day is scored by the customer's engagement at that hour, smoothed
toward an audience-wide curve (people read in the morning and the evening). Few data points
and the curve decides; many and the customer's own habits do.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from preference_center.quiet_hours import QuietHours

MIN_ENGAGEMENTS = 3
# A default day: mornings and evenings engage best. Relative weights, not probabilities.
AUDIENCE_CURVE = (
    1, 1, 1, 1, 1, 2, 4, 6, 8, 9, 8, 6, 6, 6, 5, 5, 6, 7, 8, 9, 8, 6, 3, 2,
)  # fmt: skip


@dataclass(frozen=True)
class BestTime:
    at: datetime  # UTC, on the hour (or now)
    explanation: str


def best_time(
    engaged_at: tuple[datetime, ...],
    tz: ZoneInfo,
    now: datetime,
    within: timedelta,
    quiet: list[QuietHours],
    strength: float = 4.0,
) -> BestTime:
    hours = Counter(moment.astimezone(tz).hour for moment in engaged_at)
    total = sum(hours.values())
    curve_total = sum(AUDIENCE_CURVE)

    def score(hour: int) -> float:
        prior = AUDIENCE_CURVE[hour] / curve_total
        if total < MIN_ENGAGEMENTS:
            return prior
        return (hours[hour] + prior * strength) / (total + strength)

    candidates = [now]
    first_hour = now.astimezone(tz).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    moment = first_hour
    while moment - now <= within:
        candidates.append(moment.astimezone(now.tzinfo))
        moment += timedelta(hours=1)
    allowed = [
        c for c in candidates if not any(q.contains(c.astimezone(tz).time()) for q in quiet)
    ] or candidates
    best = max(allowed, key=lambda c: (score(c.astimezone(tz).hour), -c.timestamp()))
    local = best.astimezone(tz)
    basis = (
        f"opened {hours[local.hour]} of {total} times around {local:%H}:00"
        if total >= MIN_ENGAGEMENTS
        else f"too little history ({total} engagements); the audience's best hours"
    )
    when = "now" if best == now else f"{local:%a %H:%M} local"
    return BestTime(best, f"best time within {_span(within)}: {when} — {basis}")


def _span(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours // 24}d" if hours % 24 == 0 and hours >= 24 else f"{hours}h"
