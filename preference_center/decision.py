"""The decision: which channel (or none) and when, with every reason written down.

Order of work, for each candidate channel in the journey's order:
    1. hard filters — the template speaks the channel, an address is on file, consent
       allows this purpose on this channel. A failed filter is never overridden: an
       opted-out channel is never used. The next candidate is tried (fallback).
    2. timing — quiet hours in the customer's own time zone defer the send to the end
       of the window (marketing only; a password reset does not wait for the morning).

The reasons of every candidate, chosen or rejected, are kept: they are stored with the touch,
so "why did she get an SMS at 08:00 and not an email?" has an answer in the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from preference_center.consent import MARKETING, consent_allows
from preference_center.profile import CustomerProfile
from preference_center.quiet_hours import (
    QuietHours,
    defer_past_quiet_hours,
    is_valid_timezone,
    zone,
)

ADDRESS_NAMES = {"email": "email address", "sms": "phone number"}


@dataclass(frozen=True)
class DecisionPolicy:
    """The company's defaults, for customers who stated nothing."""

    default_channel_order: tuple[str, ...] = ("email", "sms")
    default_timezone: str = "UTC"
    company_quiet_hours: QuietHours | None = None
    quiet_hours_channels: frozenset[str] = frozenset({"sms"})

    @classmethod
    def from_settings(cls, settings: Any) -> DecisionPolicy:
        return cls(
            default_channel_order=tuple(settings.default_channel_order),
            default_timezone=settings.default_timezone,
            company_quiet_hours=QuietHours(settings.quiet_hours_start, settings.quiet_hours_end),
            quiet_hours_channels=frozenset(settings.quiet_hours_channels),
        )


@dataclass(frozen=True)
class SendRequest:
    """What a send step asks for."""

    purpose: str
    channels: tuple[str, ...] | None  # the journey's order; None: the customer's order
    available: tuple[str, ...]  # channels the template has content for


@dataclass(frozen=True)
class Reason:
    check: str  # policy | template | address | consent | timezone | quiet_hours
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


def decide(
    profile: CustomerProfile, request: SendRequest, now: datetime, policy: DecisionPolicy
) -> Decision:
    reasons: list[Reason] = []

    if request.channels is not None:
        order = request.channels
        reasons.append(Reason("policy", "note", f"the journey asks for {' then '.join(order)}"))
    elif profile.channel_order:
        order = profile.channel_order
        reasons.append(Reason("policy", "note", f"the customer's stated order: {', '.join(order)}"))
    else:
        order = policy.default_channel_order
        reasons.append(
            Reason("policy", "note", f"no stated order; company default: {', '.join(order)}")
        )

    chosen: str | None = None
    for channel in order:
        if channel not in request.available:
            reasons.append(
                Reason("template", "fail", "the template has no content for it", channel)
            )
            continue
        address = profile.addresses.get(channel)
        if not address:
            reasons.append(
                Reason(
                    "address",
                    "fail",
                    f"no {ADDRESS_NAMES.get(channel, 'address')} on file",
                    channel,
                )
            )
            continue
        allowed, why = consent_allows(profile.consents, channel, request.purpose)
        reasons.append(Reason("consent", "pass" if allowed else "fail", why, channel))
        if allowed:
            chosen = channel
            break

    if chosen is None:
        return Decision(None, None, now, tuple(reasons))

    send_at = now
    if request.purpose == MARKETING:
        send_at = _respect_quiet_hours(profile, chosen, now, policy, reasons)
    return Decision(chosen, profile.addresses[chosen], send_at, tuple(reasons))


def _respect_quiet_hours(
    profile: CustomerProfile,
    channel: str,
    now: datetime,
    policy: DecisionPolicy,
    reasons: list[Reason],
) -> datetime:
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

    windows: list[tuple[QuietHours, str]] = []
    if profile.quiet_hours is not None:
        windows.append((profile.quiet_hours, "the customer's quiet hours"))
    if policy.company_quiet_hours is not None and channel in policy.quiet_hours_channels:
        windows.append((policy.company_quiet_hours, f"quiet hours for {channel}"))
    if not windows:
        return now

    tz = zone(tz_name)
    send_at, blocking = defer_past_quiet_hours(now, tz, [w for w, _ in windows])
    if blocking is None:
        local = now.astimezone(tz)
        reasons.append(
            Reason(
                "quiet_hours", "pass", f"{local:%H:%M} {tz_name} is outside quiet hours", channel
            )
        )
        return now
    label = next(name for window, name in windows if window == blocking)
    local_now, local_send = now.astimezone(tz), send_at.astimezone(tz)
    reasons.append(
        Reason(
            "quiet_hours",
            "defer",
            f"{local_now:%H:%M} {tz_name} is within {label} ({blocking}); "
            f"deferred to {local_send:%a %H:%M} local",
            channel,
        )
    )
    return send_at
