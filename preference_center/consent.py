"""Current consent, derived from the ledger; and what it allows.

Marketing needs an explicit, current grant. Transactional messages (receipts, password
resets) need no opt-in but stop at an explicit revocation, such as an SMS STOP.
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
    recorded_at: datetime


ConsentMap = Mapping[tuple[str, str], ConsentState]


def fold_ledger(
    rows: Iterable[tuple[str, str, str, str, datetime]],
) -> dict[tuple[str, str], ConsentState]:
    """(channel, purpose, status, source, recorded_at) rows, oldest first → current state."""
    current: dict[tuple[str, str], ConsentState] = {}
    for channel, purpose, status, source, recorded_at in rows:
        current[(channel, purpose)] = ConsentState(status, source, recorded_at)
    return current


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
