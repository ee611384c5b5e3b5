"""When a customer engages: the best hour to send within a window, in their own time zone.

Each candidate moment — now, then every whole local hour up to the end of the window — is
scored by the learned engagement of its hour of the week (Monday 00h = 0) on this channel.
Whose scores count is the minimum-data rule: the customer's own hours if they have at least
``MIN_MESSAGES`` messages on the channel, else their segment's if it has, else everyone's;
an hour a scope never sent at takes the next scope's score (the refresh smoothed each score
toward exactly that). With nothing learned for the channel at all, a default day decides.
Quiet hours are never chosen; ties go to the earliest moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from preference_center.learned import GLOBAL, MIN_MESSAGES, Figure, Learned, Scope
from preference_center.quiet_hours import QuietHours, defer_past_quiet_hours
from touchline.words import counted

# A default day when nothing is learned: mornings and evenings engage best. Relative
# weights by local hour, not probabilities.
AUDIENCE_CURVE = (
    1, 1, 1, 1, 1, 2, 4, 6, 8, 9, 8, 6, 6, 6, 5, 5, 6, 7, 8, 9, 8, 6, 3, 2,
)  # fmt: skip


@dataclass(frozen=True)
class BestTime:
    at: datetime  # UTC: now, or a whole local hour
    explanation: str


def hour_of_week(moment: datetime, tz: ZoneInfo) -> int:
    local = moment.astimezone(tz)
    return local.weekday() * 24 + local.hour


def best_time(
    learned: Learned,
    channel: str,
    tz: ZoneInfo,
    now: datetime,
    within: timedelta,
    quiet: list[QuietHours],
) -> BestTime:
    window = f"best time within {_span(within)}"
    allowed = [c for c in candidates(now, tz, within) if not _is_quiet(c, tz, quiet)]
    if not allowed:
        at, _ = defer_past_quiet_hours(now, tz, quiet)
        return BestTime(
            at, f"{window}: every hour of it is quiet; {at.astimezone(tz):%a %H:%M} local, "
            "when quiet hours end",
        )  # fmt: skip
    scopes = [s for s in learned.scopes() if _counts(s, channel)]
    if not any(key[0] == channel for s in scopes for key in s.timing):
        best = max(allowed, key=lambda c: (AUDIENCE_CURVE[c.astimezone(tz).hour], -c.timestamp()))
        return BestTime(
            best,
            f"{window}: {_when(best, now, tz)} — nothing learned yet for {channel}; "
            "the audience's usual best hours",
        )

    def score(moment: datetime) -> tuple[float, Figure | None, Scope | None]:
        hour = hour_of_week(moment, tz)
        for scope in scopes:
            if (channel, hour) in scope.timing:
                figure = scope.timing[(channel, hour)]
                return figure.value, figure, scope
        return 0.0, None, None

    best = max(allowed, key=lambda c: (score(c)[0], -c.timestamp()))
    _value, figure, scope = score(best)
    basis = _basis(best, tz, figure, scope)
    if learned.customer not in scopes:
        sent = learned.customer.sent_on(channel)
        basis += f" (this customer: {counted(sent, 'message')} on {channel}; needs {MIN_MESSAGES})"
    return BestTime(best, f"{window}: {_when(best, now, tz)} — {basis}")


def candidates(now: datetime, tz: ZoneInfo, within: timedelta) -> list[datetime]:
    """Now, then each whole local hour up to ``now + within`` (stepped in UTC, so a DST
    change neither skips nor repeats an hour)."""
    local = now.astimezone(tz)
    moment = local.replace(minute=0, second=0, microsecond=0).astimezone(now.tzinfo)
    moment += timedelta(hours=1)
    moments = [now]
    while moment - now <= within:
        moments.append(moment)
        moment += timedelta(hours=1)
    return moments


def _counts(scope: Scope, channel: str) -> bool:
    """Whether this scope's hours count: the global scope always, the others with data."""
    return scope.scope == GLOBAL or scope.sent_on(channel) >= MIN_MESSAGES


def _is_quiet(moment: datetime, tz: ZoneInfo, quiet: list[QuietHours]) -> bool:
    local = moment.astimezone(tz).time()
    return any(q.contains(local) for q in quiet)


def _basis(moment: datetime, tz: ZoneInfo, figure: Figure | None, scope: Scope | None) -> str:
    if figure is None or scope is None:
        return "no hour scores better than another"
    at = f"{moment.astimezone(tz):%a %H}:00"
    if not figure.sent:
        return f"{scope.label}: nothing sent at {at} yet; the channel's overall rate"
    return (
        f"{scope.label}: {figure.engaged} of {figure.sent} engaged when sent at {at} "
        f"(score {figure.value:.0%})"
    )


def _when(moment: datetime, now: datetime, tz: ZoneInfo) -> str:
    return "now" if moment == now else f"{moment.astimezone(tz):%a %H:%M} local"


def _span(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours // 24}d" if hours % 24 == 0 and hours >= 24 else f"{hours}h"
