"""Everything the decision needs to know about a customer, loaded for a whole batch at once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from preference_center.consent import ConsentMap, fold_ledger
from preference_center.history import History, load_history, recent_marketing
from preference_center.identities import CHANNEL_IDENTITY
from preference_center.quiet_hours import QuietHours
from touchline.db import chunked
from touchline.record import Consent, Customer, Identity, Preference


@dataclass(frozen=True)
class CustomerProfile:
    customer_id: str
    attributes: Mapping[str, Any] = field(default_factory=dict)
    addresses: Mapping[str, str] = field(default_factory=dict)  # channel -> address
    consents: ConsentMap = field(default_factory=dict)
    channel_order: tuple[str, ...] = ()  # as stated; empty if the customer said nothing
    timezone: str | None = None
    locale: str | None = None
    quiet_hours: QuietHours | None = None
    # Loaded only when a decision needs them (channel or time "best"; frequency caps).
    history: History = field(default_factory=History)
    recent_marketing: int = 0


def load_profiles(
    session: Session,
    customer_ids: Iterable[str],
    *,
    history_since: datetime | None = None,
    marketing_since: datetime | None = None,
) -> dict[str, CustomerProfile]:
    """Profiles for many customers in a handful of queries, whatever the batch size.

    ``history_since``: also load engagement history (for "best" channel and time).
    ``marketing_since``: also count marketing messages sent since then (frequency caps).
    """
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    attributes: dict[str, dict[str, Any]] = {}
    addresses: dict[str, dict[str, str]] = defaultdict(dict)
    ledger: dict[str, list[tuple]] = defaultdict(list)
    prefs: dict[str, Preference] = {}
    kind_to_channel = {kind: channel for channel, kind in CHANNEL_IDENTITY.items()}
    for chunk in chunked(ids):
        for cid, attrs in session.execute(
            select(Customer.id, Customer.attributes).where(Customer.id.in_(chunk))
        ):
            attributes[cid] = attrs or {}
        # The newest identity of a kind wins (a changed phone number replaces the old one).
        for cid, kind, value in session.execute(
            select(Identity.customer_id, Identity.kind, Identity.value)
            .where(Identity.customer_id.in_(chunk))
            .order_by(Identity.created_at, Identity.id)
        ):
            if kind in kind_to_channel:
                addresses[cid][kind_to_channel[kind]] = value
        for row in session.execute(
            select(
                Consent.customer_id,
                Consent.channel,
                Consent.purpose,
                Consent.status,
                Consent.source,
                Consent.recorded_at,
            )
            .where(Consent.customer_id.in_(chunk))
            .order_by(Consent.recorded_at, Consent.id)
        ):
            ledger[row[0]].append(tuple(row[1:]))
        for pref in session.execute(
            select(Preference).where(Preference.customer_id.in_(chunk))
        ).scalars():
            prefs[pref.customer_id] = pref

    histories = load_history(session, ids, history_since) if history_since else {}
    recent = recent_marketing(session, ids, marketing_since) if marketing_since else {}
    profiles = {}
    for cid in ids:
        if cid not in attributes:
            continue
        pref = prefs.get(cid)
        quiet = None
        if pref and pref.quiet_hours_start is not None and pref.quiet_hours_end is not None:
            quiet = QuietHours(pref.quiet_hours_start, pref.quiet_hours_end)
        profiles[cid] = CustomerProfile(
            customer_id=cid,
            attributes=attributes[cid],
            addresses=dict(addresses.get(cid, {})),
            consents=fold_ledger(ledger.get(cid, [])),
            channel_order=tuple(pref.channel_order) if pref and pref.channel_order else (),
            timezone=pref.timezone if pref else None,
            locale=pref.locale if pref else None,
            quiet_hours=quiet,
            history=histories.get(cid, History()),
            recent_marketing=recent.get(cid, 0),
        )
    return profiles
