"""The decision: which channel (or none) and when, with every reason written down.

Order of work:
    1. frequency caps — a marketing message beyond the company's cap or the customer's own
       weekly limit (counted across every journey and channel) is not sent. Transactional
       messages are not capped.
    2. the order of channels to try — the journey's list; the customer's stated order
       (``preferred``); or measured engagement (``best``: learned by the daily refresh, the
       customer's own rates when they have enough data, else their segment's, else
       everyone's — otherwise the stated order, saying so).
    3. hard filters, channel by channel in that order — the template speaks the channel, an
       address is on file and not suppressed, consent allows this purpose on this channel,
       the customer has not left the journey's topic there. A failed filter is never
       overridden: an opted-out channel is never used. The next channel is tried.
    4. timing — the best hour within the journey's window if it asks for one; then quiet
       hours in the customer's own time zone (marketing only; a password reset does not
       wait for the morning).

The reasons of every candidate, chosen or rejected, are kept: they are stored with the touch,
so "why did she get an SMS at 08:00 and not an email?" has an answer in the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from preference_center.consent import MARKETING, consent_allows, topic_allows
from preference_center.effectiveness import rank_channels
from preference_center.profile import CustomerProfile
from preference_center.quiet_hours import (
    QuietHours,
    defer_past_quiet_hours,
    is_valid_timezone,
    zone,
)
from preference_center.timing import best_time

ADDRESS_NAMES = {
    "email": "email address",
    "sms": "phone number",
    "whatsapp": "WhatsApp number",
    "x": "X handle",
}


@dataclass(frozen=True)
class DecisionPolicy:
    """The company's rules and defaults."""

    default_channel_order: tuple[str, ...] = ("email", "sms")
    default_timezone: str = "UTC"
    company_quiet_hours: QuietHours | None = None
    quiet_hours_channels: frozenset[str] = frozenset({"sms"})
    marketing_cap: int | None = None  # marketing messages per customer per cap window
    cap_window: timedelta = timedelta(days=7)
    # (The priors that engagement rates start from are applied by the daily refresh,
    # preference_center.learning; decisions read what it learned.)

    @classmethod
    def from_settings(cls, settings: Any) -> DecisionPolicy:
        return cls(
            default_channel_order=tuple(settings.default_channel_order),
            default_timezone=settings.default_timezone,
            company_quiet_hours=QuietHours(settings.quiet_hours_start, settings.quiet_hours_end),
            quiet_hours_channels=frozenset(settings.quiet_hours_channels),
            marketing_cap=settings.marketing_cap or None,
            cap_window=settings.marketing_cap_window,
        )


@dataclass(frozen=True)
class SendRequest:
    """What a send step asks for."""

    purpose: str
    channels: tuple[str, ...] | None  # the journey's order; None: the customer's order
    available: tuple[str, ...]  # channels the template has content for
    policy: str = "list"  # list | preferred | best
    best_within: timedelta | None = None  # send at the customer's best hour within this
    kind: str = "marketing"  # kind of message: the journey's topic, else its purpose
    topic: str | None = None  # the subscription group; a customer who left it is skipped


@dataclass(frozen=True)
class Reason:
    check: str  # cap | policy | ranking | template | address | suppression | consent | topic | timezone | timing | quiet_hours
    outcome: str  # pass | fail | defer | note
    message: str
    channel: str | None = None

    def __str__(self) -> str:
        prefix = f"{self.channel}: " if self.channel else ""
        return f"{prefix}{self.message}"

    def to_record(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class Decision:
    channel: str | None
    address: str | None
    send_at: datetime
    reasons: tuple[Reason, ...]

    @property
    def skip_reason(self) -> str | None:
        """One line naming why no channel was possible (None when one was chosen)."""
        if self.channel is not None:
            return None
        failed = [str(r) for r in self.reasons if r.outcome == "fail"]
        return "; ".join(failed) or "no channel to try"

    def to_record(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "send_at": self.send_at.isoformat(),
            "reasons": [r.to_record() for r in self.reasons],
        }


def cap_reached(profile: CustomerProfile, purpose: str, policy: DecisionPolicy) -> str | None:
    """Why a frequency cap — the company's or the customer's own — forbids another message
    now, or None. Touches sent by every journey and channel count."""
    if purpose != MARKETING:
        return None
    own = profile.max_per_week
    if own and profile.marketing_this_week >= own:
        return (
            f"the customer's own limit: {profile.marketing_this_week} marketing messages in "
            f"the last 7 days (they asked for at most {own} a week)"
        )
    if not policy.marketing_cap or profile.recent_marketing < policy.marketing_cap:
        return None
    days = policy.cap_window.total_seconds() / 86400
    window = f"{days:g} days" if days != 1 else "day"
    return (
        f"frequency cap: {profile.recent_marketing} marketing messages in the last {window} "
        f"(at most {policy.marketing_cap})"
    )


def channel_checks(
    profile: CustomerProfile, channel: str, purpose: str, topic: str | None
) -> list[Reason]:
    """The hard filters of one channel, in order, up to the first that fails: an address on
    file, not suppressed, consent for the purpose, still in the topic. Shared by the
    decision and the final gate (preference_center.gate), so both say the same."""
    name = ADDRESS_NAMES.get(channel, "address")
    if not profile.addresses.get(channel):
        return [Reason("address", "fail", f"no {name} on file", channel)]
    if channel in profile.suppressed:
        why = f"the {name} is suppressed ({profile.suppressed[channel]})"
        return [Reason("suppression", "fail", why, channel)]
    allowed, why = consent_allows(profile.consents, channel, purpose)
    checks = [Reason("consent", "pass" if allowed else "fail", why, channel)]
    if allowed and topic is not None and purpose == MARKETING:
        joined, why = topic_allows(profile.topics, topic, channel)
        if not joined:
            checks.append(Reason("topic", "fail", why, channel))
    return checks


def decide(
    profile: CustomerProfile, request: SendRequest, now: datetime, policy: DecisionPolicy
) -> Decision:
    reasons: list[Reason] = []

    capped = cap_reached(profile, request.purpose, policy)
    if capped:
        return Decision(None, None, now, (Reason("cap", "fail", capped),))

    order = _order(profile, request, policy, reasons)

    chosen: str | None = None
    for channel in order:
        if channel not in request.available:
            reasons.append(
                Reason("template", "fail", "the template has no content for it", channel)
            )
            continue
        checks = channel_checks(profile, channel, request.purpose, request.topic)
        reasons.extend(checks)
        if any(r.outcome == "fail" for r in checks):
            continue
        chosen = channel
        break

    if chosen is None:
        return Decision(None, None, now, tuple(reasons))

    send_at = _timing(profile, request, chosen, now, policy, reasons)
    return Decision(chosen, profile.addresses[chosen], send_at, tuple(reasons))


def _order(
    profile: CustomerProfile, request: SendRequest, policy: DecisionPolicy, reasons: list[Reason]
) -> tuple[str, ...]:
    if request.channels is not None:
        reasons.append(
            Reason("policy", "note", f"the journey asks for {' then '.join(request.channels)}")
        )
        return request.channels
    if profile.channel_order:
        stated = profile.channel_order
        stated_reason = f"the customer's stated order: {', '.join(stated)}"
    else:
        stated = policy.default_channel_order
        stated_reason = f"no stated order; company default: {', '.join(stated)}"
    if request.policy != "best":
        reasons.append(Reason("policy", "note", stated_reason))
        return stated
    # "best": measured engagement decides, when there is enough of it. The stated order is
    # still recorded, so a customer who says "email" but answers SMS has both facts kept.
    candidates = tuple(dict.fromkeys((*stated, *policy.default_channel_order)))
    ranking = rank_channels(profile.learned, candidates, request.kind, stated)
    if not ranking.channels:
        reasons.append(
            Reason("ranking", "note", f"best: {ranking.explanation}; using {stated_reason}")
        )
        return stated
    note = f"best: {ranking.explanation}"
    if profile.channel_order and ranking.channels[0] != profile.channel_order[0]:
        note += f" — although the customer states {profile.channel_order[0]} first"
    reasons.append(Reason("ranking", "note", note))
    return ranking.channels


def _timing(
    profile: CustomerProfile,
    request: SendRequest,
    channel: str,
    now: datetime,
    policy: DecisionPolicy,
    reasons: list[Reason],
) -> datetime:
    if request.purpose != MARKETING and request.best_within is None:
        return now
    tz_name, tz = customer_zone(profile, policy, reasons)
    windows = quiet_windows(profile, request.purpose, channel, policy)

    start = now
    if request.best_within is not None:
        best = best_time(
            profile.learned, channel, tz, now, request.best_within, [w for w, _ in windows]
        )
        reasons.append(
            Reason("timing", "defer" if best.at > now else "pass", best.explanation, channel)
        )
        start = best.at
    if not windows:
        return start

    send_at, blocking = defer_past_quiet_hours(start, tz, [w for w, _ in windows])
    if blocking is None:
        local = start.astimezone(tz)
        reasons.append(
            Reason(
                "quiet_hours", "pass", f"{local:%H:%M} {tz_name} is outside quiet hours", channel
            )
        )
        return start
    label = next(name for window, name in windows if window == blocking)
    local_start, local_send = start.astimezone(tz), send_at.astimezone(tz)
    reasons.append(
        Reason(
            "quiet_hours",
            "defer",
            f"{local_start:%H:%M} {tz_name} is within {label} ({blocking}); "
            f"deferred to {local_send:%a %H:%M} local",
            channel,
        )
    )
    return send_at


def customer_zone(
    profile: CustomerProfile, policy: DecisionPolicy, reasons: list[Reason]
) -> tuple[str, ZoneInfo]:
    """The customer's time zone (else the company's), noting the fallback in ``reasons``."""
    tz_name = profile.timezone or policy.default_timezone
    if profile.timezone and not is_valid_timezone(profile.timezone):
        reasons.append(
            Reason(
                "timezone",
                "note",
                f"unknown time zone '{profile.timezone}'; using {policy.default_timezone}",
            )
        )
        tz_name = policy.default_timezone
    elif not profile.timezone:
        reasons.append(Reason("timezone", "note", f"no time zone on file; using {tz_name}"))
    return tz_name, zone(tz_name)


def quiet_windows(
    profile: CustomerProfile, purpose: str, channel: str, policy: DecisionPolicy
) -> list[tuple[QuietHours, str]]:
    """The quiet hours a marketing message on ``channel`` must respect, with their names."""
    windows: list[tuple[QuietHours, str]] = []
    if purpose == MARKETING:
        if profile.quiet_hours is not None:
            windows.append((profile.quiet_hours, "the customer's quiet hours"))
        if policy.company_quiet_hours is not None and channel in policy.quiet_hours_channels:
            windows.append((policy.company_quiet_hours, f"quiet hours for {channel}"))
    return windows
