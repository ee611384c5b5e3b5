"""An erased address that comes back: marketing waits for a new consent.

Erasure leaves a suppression of each erased address under its keyed hash (reason
``erased``). When an address is linked to a customer again — a re-import of an old CRM
file, a new event, an operator — and its hash matches, the ledger gets a revocation of
marketing on that channel, dated at the erasure. The ledger never lets a grant that
happened before a revocation outrank it (preference_center.consent), so consent carried
over from before the erasure (the old file says "opted in 2024") stays history, while a
consent given after the erasure (a new signup) counts as it should.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from preference_center.consent import MARKETING, REVOKED
from preference_center.identities import CHANNEL_IDENTITY
from touchline.config import Settings, get_settings
from touchline.db import chunked
from touchline.privacy.keys import keyed_hash
from touchline.record import Suppression

ERASED = "erased"  # the suppression reason of an erased address
SOURCE = "erasure"  # the ledger source of the revocations written here
CHANNELS_OF_KIND = {kind: channel for channel, kind in CHANNEL_IDENTITY.items()}


def erased_at(
    session: Session, settings: Settings, addresses: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], datetime]:
    """(kind, value) → when it was erased, for the addresses that were (first erasure)."""
    by_hash = {keyed_hash(settings, kind, value): (kind, value) for kind, value in addresses}
    kinds = sorted({kind for kind, _ in by_hash.values()})
    found: dict[tuple[str, str], datetime] = {}
    for chunk in chunked(sorted(by_hash)):
        for value, created_at in session.execute(
            select(Suppression.value, Suppression.created_at).where(
                Suppression.kind.in_(kinds),  # (kind, value) is the suppressions' index
                Suppression.reason == ERASED,
                Suppression.value.in_(chunk),
                Suppression.lifted_at.is_(None),
            )
        ):
            address = by_hash[value]
            found[address] = min(created_at, found.get(address, created_at))
    return found


def revoke_for_erased(
    session: Session,
    links: Iterable[tuple[str, str, str]],
    now: datetime,
    settings: Settings | None = None,
) -> int:
    """(customer, kind, value) just linked: revoke marketing where the address was erased.
    Returns the number of revocations written."""
    from preference_center.ledger import LedgerChange, append_changes

    settings = settings or get_settings()
    links = [(c, k, v) for c, k, v in links if k in CHANNELS_OF_KIND]
    if not links:
        return 0
    erased = erased_at(session, settings, {(k, v) for _, k, v in links})
    changes = [
        LedgerChange(
            customer, CHANNELS_OF_KIND[kind], MARKETING, REVOKED, SOURCE,
            {"reason": "this address was erased earlier: marketing needs a consent given "
                       "after the erasure", "address": keyed_hash(settings, kind, value),
             "erased_at": erased[(kind, value)].isoformat()},
            erased[(kind, value)],
        )
        for customer, kind, value in links
        if (kind, value) in erased
    ]  # fmt: skip
    return append_changes(session, changes, received_at=now, settings=settings)
