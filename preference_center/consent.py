"""Current consent, derived from the ledger; and what it allows.

Marketing needs an explicit, current grant. Transactional messages (receipts, password
resets) need no opt-in but stop at an explicit revocation, such as an SMS STOP.

Topics (subscription groups: newsletter, promotions…) work the other way round: the channel
grant is the opt-in, and a customer who has it receives every topic until they leave one.
A topic row applies to one channel or, with channel "all", to every channel; the one
received later decides.

Order: rows are folded in the order Touchline *received* them (``Consent.received_at``,
then id), never by the time a sender claims (``recorded_at``, kept as evidence) — so a
change dated in the future cannot outlive a later unsubscribe. And a grant never outranks a
revocation that happened after it: a grant received late (a backfilled import, a delayed
event) that happened before the current revocation is history, not the current state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

GRANTED, REVOKED, PENDING = "granted", "revoked", "pending"
STATUSES = (GRANTED, REVOKED, PENDING)
MARKETING, TRANSACTIONAL = "marketing", "transactional"
PURPOSES = (MARKETING, TRANSACTIONAL)


@dataclass(frozen=True)
class ConsentState:
    status: str
    source: str
    recorded_at: datetime  # when the change happened (as told, never after its receipt)
    seq: int = 0  # its place in the order of receipt, within one fold


ConsentMap = Mapping[tuple[str, str], ConsentState]  # (channel, purpose) -> state
TopicMap = Mapping[tuple[str, str], ConsentState]  # (topic, channel or "all") -> state
ALL_CHANNELS = "all"


def fold_ledger(
    rows: Iterable[tuple[str, str, str, str, datetime]],
) -> dict[tuple[str, str], ConsentState]:
    """(channel, purpose, status, source, recorded_at) rows, in the order received → current
    state."""
    return _fold(rows)


def _fold(
    rows: Iterable[tuple[str, str, str, str, datetime]],
) -> dict[tuple[str, str], ConsentState]:
    current: dict[tuple[str, str], ConsentState] = {}
    for seq, (first, second, status, source, recorded_at) in enumerate(rows, 1):
        before = current.get((first, second))
        if before is not None and _stale_grant(before, status, recorded_at):
            continue
        current[(first, second)] = ConsentState(status, source, recorded_at, seq)
    return current


def _stale_grant(before: ConsentState, status: str, happened: datetime) -> bool:
    """A grant (or a pending one) that happened before the revocation now in force."""
    return before.status == REVOKED and status != REVOKED and happened < before.recorded_at


def consent_allows(consents: ConsentMap, channel: str, purpose: str) -> tuple[bool, str]:
    """Whether consent lets this channel carry this purpose, and why, in words."""
    state = consents.get((channel, purpose))
    when = lambda s: s.recorded_at.strftime("%Y-%m-%d")  # noqa: E731
    if purpose == TRANSACTIONAL:
        if state is not None and state.status == REVOKED:
            return (
                False,
                f"opted out of {channel} (transactional) on {when(state)} via {state.source}",
            )
        return True, f"{channel} transactional messages allowed"
    if state is None:
        return False, f"no {purpose} consent for {channel}"
    if state.status == GRANTED:
        return True, f"{purpose} consent for {channel} granted on {when(state)} via {state.source}"
    if state.status == PENDING:
        return False, f"{purpose} consent for {channel} awaits confirmation"
    return False, f"opted out of {channel} {purpose} on {when(state)} via {state.source}"


def fold_topics(
    rows: Iterable[tuple[str, str, str, str, datetime]],
) -> dict[tuple[str, str], ConsentState]:
    """(topic, channel, status, source, recorded_at) rows, in the order received → current
    state."""
    return _fold(rows)


def topic_state(topics: TopicMap, topic: str, channel: str) -> ConsentState | None:
    """The row that decides a topic on a channel: of the channel's and "all", the one
    received later."""
    candidates = [s for s in (topics.get((topic, channel)), topics.get((topic, ALL_CHANNELS))) if s]
    return max(candidates, key=lambda s: (s.seq, s.recorded_at)) if candidates else None


def topic_allows(topics: TopicMap, topic: str, channel: str) -> tuple[bool, str]:
    state = topic_state(topics, topic, channel)
    if state is None or state.status != REVOKED:
        return True, f"subscribed to {topic}"
    return (
        False,
        f"left the topic {topic} on {state.recorded_at:%Y-%m-%d} via {state.source}",
    )
