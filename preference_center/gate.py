"""The final gate: is this message still allowed, now, as the record stands?

A touch is decided, then it may wait — for quiet hours, for the customer's best hour, for a
provider that asked us to slow down. Meanwhile the customer may leave the topic, the address
may bounce or change hands, another journey may fill the customer's weekly limit. So just
before a message is handed to a provider, :func:`still_allowed` decides again from a
snapshot loaded at that moment (:func:`load_snapshot`, a few queries per batch), with the
decision's own filters (``preference_center.decision``):

1. the channel's hard filters — an address on file now, not suppressed, consent for the
   purpose, still in the journey's topic — else **skip**;
2. the frequency caps, counting every marketing touch sent or on its way since the
   decision (other workers' in-flight sends included, this touch excluded) — else **skip**;
3. quiet hours in the customer's zone (a send that slipped into them through retries) —
   else **defer** to their end;
4. the address: the one the customer has *now* — **redirect** if it changed since the
   decision (an unlinked number is never used: it may belong to someone else by now).

A skip's reason is stored with the touch, like the decision's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from preference_center.consent import MARKETING
from preference_center.decision import (
    ADDRESS_NAMES,
    DecisionPolicy,
    cap_reached,
    channel_checks,
    customer_zone,
    quiet_windows,
)
from preference_center.history import marketing_in_flight
from preference_center.profile import WHATSAPP_SESSION, CustomerProfile, load_profiles
from preference_center.quiet_hours import defer_past_quiet_hours

ALLOWED, SKIP, DEFER, REDIRECT = "allowed", "skip", "defer", "redirect"
# How a failed filter reads in the touch's skip reason.
LABELS = {
    "address": "address changed before dispatch",
    "suppression": "address suppressed before dispatch",
    "consent": "consent changed before dispatch",
    "topic": "left the topic before dispatch",
}
OWN_LIMIT_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class PendingSend:
    """A decided touch about to be handed to a provider."""

    touch_id: str
    customer_id: str
    channel: str
    address: str | None  # as decided
    purpose: str
    topic: str | None = None


@dataclass(frozen=True)
class Verdict:
    outcome: str  # allowed | skip | defer | redirect
    address: str | None = None  # where to send (allowed, redirect)
    reason: str | None = None
    until: datetime | None = None  # defer: not before then

    @property
    def sends(self) -> bool:
        return self.outcome in (ALLOWED, REDIRECT)


def still_allowed(
    profile: CustomerProfile, pending: PendingSend, now: datetime, policy: DecisionPolicy
) -> Verdict:
    """The verdict for one touch, from ``profile`` as loaded just now."""
    checks = channel_checks(profile, pending.channel, pending.purpose, pending.topic)
    failed = next((r for r in checks if r.outcome == "fail"), None)
    if failed is not None:
        return Verdict(SKIP, reason=f"{LABELS[failed.check]}: {failed.message}")
    capped = cap_reached(profile, pending.purpose, policy)
    if capped:
        return Verdict(SKIP, reason=f"frequency cap reached before dispatch: {capped}")
    windows = quiet_windows(profile, pending.purpose, pending.channel, policy)
    if windows:
        tz_name, tz = customer_zone(profile, policy, [])
        until, blocking = defer_past_quiet_hours(now, tz, [w for w, _ in windows])
        if blocking is not None:
            label = next(name for window, name in windows if window == blocking)
            return Verdict(
                DEFER,
                until=until,
                reason=f"{now.astimezone(tz):%H:%M} {tz_name} is within {label} ({blocking}) "
                f"at dispatch; deferred to {until.astimezone(tz):%a %H:%M} local",
            )
    current = profile.addresses[pending.channel]
    if current != pending.address:
        name = ADDRESS_NAMES.get(pending.channel, "address")
        return Verdict(
            REDIRECT, address=current, reason=f"the customer's {name} changed since the decision"
        )
    return Verdict(ALLOWED, address=current)


def gate_batch(
    profiles: Mapping[str, CustomerProfile],
    pending: Sequence[PendingSend],
    now: datetime,
    policy: DecisionPolicy,
) -> dict[str, Verdict]:
    """Verdicts for a batch, in order. A marketing message let through counts against its
    customer's caps for the rest of the batch, as it will once sent."""
    let_through: Counter[str] = Counter()
    verdicts: dict[str, Verdict] = {}
    for item in pending:
        profile = profiles.get(item.customer_id) or CustomerProfile(item.customer_id)
        if extra := let_through[item.customer_id]:
            profile = replace(
                profile,
                recent_marketing=profile.recent_marketing + extra,
                marketing_this_week=profile.marketing_this_week + extra,
            )
        verdict = still_allowed(profile, item, now, policy)
        if verdict.sends and item.purpose == MARKETING:
            let_through[item.customer_id] += 1
        verdicts[item.touch_id] = verdict
    return verdicts


def load_snapshot(
    session: Session,
    customer_ids: Iterable[str],
    *,
    purpose: str,
    now: datetime,
    policy: DecisionPolicy,
    exclude_touches: Collection[str] = (),
    whatsapp: bool = False,
) -> dict[str, CustomerProfile]:
    """The customers as the record has them now: addresses, consent, topics, suppressions,
    preferences, and (marketing) what counts against their caps — one query per concern."""
    profiles = load_profiles(
        session,
        customer_ids,
        whatsapp_sessions_since=now - WHATSAPP_SESSION if whatsapp else None,
    )
    if purpose != MARKETING or not profiles:
        return profiles
    recent: Mapping[str, int] = {}
    if policy.marketing_cap:
        recent = marketing_in_flight(session, profiles, now - policy.cap_window, exclude_touches)
    limited = [cid for cid, p in profiles.items() if p.max_per_week]
    week: Mapping[str, int] = {}
    if limited:
        week = marketing_in_flight(session, limited, now - OWN_LIMIT_WINDOW, exclude_touches)
    return {
        cid: replace(p, recent_marketing=recent.get(cid, 0), marketing_this_week=week.get(cid, 0))
        for cid, p in profiles.items()
    }
