"""Everything the decision needs to know about a customer, loaded for a whole batch at once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from preference_center.consent import ConsentMap, TopicMap, fold_ledger, fold_topics
from preference_center.history import recent_marketing
from preference_center.identities import CHANNEL_IDENTITY
from preference_center.learned import Learned, load_learned, segment_of
from preference_center.quiet_hours import QuietHours
from touchline.config import get_settings
from touchline.db import chunked
from touchline.record import Consent, Customer, Identity, Interaction, Preference, Suppression
from touchline.record.touches import RECEIVED, REPLIED

# WhatsApp's customer service window: a business may write freely for this long after the
# customer's last message.
WHATSAPP_SESSION = timedelta(hours=24)


@dataclass(frozen=True)
class CustomerProfile:
    customer_id: str
    attributes: Mapping[str, Any] = field(default_factory=dict)
    addresses: Mapping[str, str] = field(default_factory=dict)  # channel -> address
    consents: ConsentMap = field(default_factory=dict)
    topics: TopicMap = field(default_factory=dict)  # topics left or joined explicitly
    channel_order: tuple[str, ...] = ()  # as stated; empty if the customer said nothing
    timezone: str | None = None
    locale: str | None = None
    quiet_hours: QuietHours | None = None
    # Loaded only when a decision needs them (channel or time "best"; frequency caps).
    learned: Learned = field(default_factory=Learned)
    recent_marketing: int = 0
    # The customer's own frequency limit, and what counts against it (the last 7 days).
    max_per_week: int | None = None
    marketing_this_week: int = 0
    # Channels whose address on file is suppressed (bounced, reported spam, texted STOP
    # before we knew the number), with the reason.
    suppressed: Mapping[str, str] = field(default_factory=dict)
    # When the customer's WhatsApp session window closes: 24 hours after their last
    # WhatsApp message to us. Free text goes only before then; loaded when asked.
    whatsapp_session_until: datetime | None = None


def load_profiles(
    session: Session,
    customer_ids: Iterable[str],
    *,
    learned: bool = False,
    marketing_since: datetime | None = None,
    week_since: datetime | None = None,
    whatsapp_sessions_since: datetime | None = None,
) -> dict[str, CustomerProfile]:
    """Profiles for many customers in a handful of queries, whatever the batch size.

    ``learned``: also load what the refresh learned (for "best" channel and time).
    ``marketing_since``: also count marketing messages sent since then (frequency caps).
    ``week_since``: also count them for customers with a limit of their own (a week ago).
    ``whatsapp_sessions_since``: also find WhatsApp session windows still open, from the
    customers' WhatsApp messages since then (a session's length ago).
    """
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    attributes: dict[str, dict[str, Any]] = {}
    addresses: dict[str, dict[str, str]] = defaultdict(dict)
    ledger: dict[str, list[tuple]] = defaultdict(list)
    topic_ledger: dict[str, list[tuple]] = defaultdict(list)
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
                Consent.topic,
            )
            .where(Consent.customer_id.in_(chunk))
            .order_by(Consent.received_at, Consent.id)
        ):
            cid, channel, purpose, status, source, recorded_at, topic = row
            if topic is None:
                ledger[cid].append((channel, purpose, status, source, recorded_at))
            else:
                topic_ledger[cid].append((topic, channel, status, source, recorded_at))
        for pref in session.execute(
            select(Preference).where(Preference.customer_id.in_(chunk))
        ).scalars():
            prefs[pref.customer_id] = pref

    segment_attribute = get_settings().segment_attribute
    learnt = (
        load_learned(
            session,
            attributes,
            {cid: segment_of(attrs, segment_attribute) for cid, attrs in attributes.items()},
        )
        if learned
        else {}
    )
    recent = recent_marketing(session, ids, marketing_since) if marketing_since else {}
    # The customer's own limit counts a week, whatever the company's window is.
    limited = [cid for cid, pref in prefs.items() if pref.max_per_week]
    this_week: Mapping[str, int] = {}
    if limited and week_since is not None:
        this_week = recent_marketing(session, limited, week_since)
    suppressed = load_suppressions(session, addresses, kind_to_channel)
    sessions = (
        whatsapp_sessions(session, ids, whatsapp_sessions_since) if whatsapp_sessions_since else {}
    )
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
            topics=fold_topics(topic_ledger.get(cid, [])),
            channel_order=tuple(pref.channel_order) if pref and pref.channel_order else (),
            timezone=pref.timezone if pref else None,
            locale=pref.locale if pref else None,
            quiet_hours=quiet,
            learned=learnt.get(cid, Learned()),
            recent_marketing=recent.get(cid, 0),
            max_per_week=pref.max_per_week if pref else None,
            marketing_this_week=this_week.get(cid, 0),
            suppressed=suppressed.get(cid, {}),
            whatsapp_session_until=sessions.get(cid),
        )
    return profiles


def whatsapp_sessions(session: Session, ids: list[str], since: datetime) -> dict[str, datetime]:
    """customer -> when their WhatsApp session window closes, for messages since ``since``."""
    found: dict[str, datetime] = {}
    for chunk in chunked(ids):
        for cid, last in session.execute(
            select(Interaction.customer_id, func.max(Interaction.occurred_at))
            .where(
                Interaction.customer_id.in_(chunk),
                Interaction.occurred_at >= since,
                Interaction.channel == "whatsapp",
                Interaction.kind.in_((REPLIED, RECEIVED)),
            )
            .group_by(Interaction.customer_id)
        ):
            found[cid] = last + WHATSAPP_SESSION
    return found


def load_suppressions(
    session: Session,
    addresses: Mapping[str, Mapping[str, str]],
    kind_to_channel: Mapping[str, str],
) -> dict[str, dict[str, str]]:
    """customer -> channel -> reason, for the customers' current addresses only."""
    channel_to_kind = {channel: kind for kind, channel in kind_to_channel.items()}
    owners: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for cid, by_channel in addresses.items():
        for channel, value in by_channel.items():
            owners[(channel_to_kind[channel], value)].append((cid, channel))
    result: dict[str, dict[str, str]] = defaultdict(dict)
    for kind in {k for k, _ in owners}:
        values = sorted(v for k, v in owners if k == kind)
        for chunk in chunked(values):
            for value, reason in session.execute(
                select(Suppression.value, Suppression.reason).where(
                    Suppression.kind == kind,
                    Suppression.value.in_(chunk),
                    Suppression.lifted_at.is_(None),
                )
            ):
                for cid, channel in owners[(kind, value)]:
                    result[cid][channel] = reason
    return result
