"""What the refresh learned, read back for a batch of decisions.

The refresh (``preference_center.learning``) writes channel and timing effectiveness for
three scopes: each customer with data, each segment, and everyone ("global"). A decision
needs all three for its customer — their own figures when they have enough data, else their
segment's, else everyone's — so ``load_learned`` reads a batch's customer rows in chunked
IN lists and each segment's and the global rows once per call, whatever the batch size.

Segments: a customer's segment is the *string* value of the attribute named by
``settings.segment_attribute``. A customer without one (missing, empty, not a string) is in
no segment: their figures fall back straight to the global ones.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from touchline.db import chunked
from touchline.record import ChannelEffectiveness, TimingEffectiveness

CUSTOMER, SEGMENT, GLOBAL = "customer", "segment", "global"
GLOBAL_KEY = "*"
SCOPE_KEY_LENGTH = 128  # ChannelEffectiveness.scope_key
# The minimum-data rule (Braze's): a scope's rates rank channels only with at least this
# many messages of the kind, on at least this many channels.
MIN_MESSAGES = 3
MIN_CHANNELS = 2


@dataclass(frozen=True)
class Figure:
    sent: int
    engaged: int
    value: float  # the smoothed rate (channels) or score (hours)


@dataclass(frozen=True)
class Scope:
    """One scope's learned figures: a customer, a segment, or everyone."""

    scope: str
    key: str
    rates: Mapping[tuple[str, str], Figure] = field(default_factory=dict)  # (kind, channel)
    timing: Mapping[tuple[str, int], Figure] = field(default_factory=dict)  # (channel, hour)

    @property
    def label(self) -> str:
        if self.scope == CUSTOMER:
            return "this customer's history"
        if self.scope == SEGMENT:
            return f"segment {self.key}"
        return "all customers"

    def volume(self, kind: str, channels: Iterable[str]) -> tuple[int, int]:
        """Messages of this kind on these channels, and how many of the channels carried any."""
        sent = [self.rates[(kind, c)].sent for c in channels if (kind, c) in self.rates]
        return sum(sent), sum(1 for s in sent if s)

    def has_enough(self, kind: str, channels: Iterable[str]) -> bool:
        messages, used = self.volume(kind, channels)
        return messages >= MIN_MESSAGES and used >= MIN_CHANNELS

    def sent_on(self, channel: str) -> int:
        """Messages sent on this channel, whatever the kind (the timing rows' total)."""
        return sum(f.sent for (c, _hour), f in self.timing.items() if c == channel)


def _empty_customer() -> Scope:
    return Scope(CUSTOMER, "")


def _empty_global() -> Scope:
    return Scope(GLOBAL, GLOBAL_KEY)


@dataclass(frozen=True)
class Learned:
    """Everything learned that bears on one customer, innermost scope first."""

    customer: Scope = field(default_factory=_empty_customer)
    segment: Scope | None = None
    overall: Scope = field(default_factory=_empty_global)

    def scopes(self) -> tuple[Scope, ...]:
        inner = (self.customer, self.segment) if self.segment else (self.customer,)
        return (*inner, self.overall)


def segment_of(attributes: Mapping[str, Any] | None, attribute: str) -> str | None:
    """The customer's segment by the rule above (the refresh applies the same rule in SQL)."""
    value = (attributes or {}).get(attribute)
    return value[:SCOPE_KEY_LENGTH] if isinstance(value, str) and value else None


def load_learned(
    session: Session, customer_ids: Iterable[str], segments: Mapping[str, str | None]
) -> dict[str, Learned]:
    """``segments``: customer id -> segment name (absent or None: no segment)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    overall = _scopes(session, GLOBAL, [GLOBAL_KEY]).get(GLOBAL_KEY, _empty_global())
    names = sorted({s for cid in ids if (s := segments.get(cid))})
    by_segment = _scopes(session, SEGMENT, names) if names else {}
    customers = _scopes(session, CUSTOMER, ids)
    result = {}
    for cid in ids:
        name = segments.get(cid)
        result[cid] = Learned(
            customer=customers.get(cid, Scope(CUSTOMER, cid)),
            segment=by_segment.get(name, Scope(SEGMENT, name)) if name else None,
            overall=overall,
        )
    return result


def _scopes(session: Session, scope: str, keys: list[str]) -> dict[str, Scope]:
    """Two queries per chunk of keys: channel rates, then hour-of-week scores."""
    rates: dict[str, dict[tuple[str, str], Figure]] = defaultdict(dict)
    timing: dict[str, dict[tuple[str, int], Figure]] = defaultdict(dict)
    ce, te = ChannelEffectiveness, TimingEffectiveness
    for chunk in chunked(keys):
        for key, kind, channel, sent, engaged, rate in session.execute(
            select(ce.scope_key, ce.kind, ce.channel, ce.sent, ce.engaged, ce.rate).where(
                ce.scope == scope, ce.scope_key.in_(chunk)
            )
        ):
            rates[key][(kind, channel)] = Figure(sent, engaged, rate)
        for key, channel, hour, sent, engaged, score in session.execute(
            select(te.scope_key, te.channel, te.hour_of_week, te.sent, te.engaged, te.score).where(
                te.scope == scope, te.scope_key.in_(chunk)
            )
        ):
            timing[key][(channel, hour)] = Figure(sent, engaged, score)
    return {
        key: Scope(scope, key, rates.get(key, {}), timing.get(key, {}))
        for key in set(rates) | set(timing)
    }
