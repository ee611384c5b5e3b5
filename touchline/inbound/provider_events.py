"""Provider events (delivered, opened, clicked, bounced…) into the interaction record.

Each event is stored once, whatever the provider repeats: the row id derives from the
provider's event id. An event finds its touch by the touch id we sent along (SendGrid
custom_args, the Twilio callback URL) or, failing that, by the provider's message id.

What an event says about the address or the customer goes further, once per event:
- a hard bounce, a spam complaint, or a message the provider dropped because the address
  is on its own bounce, spam-report or unsubscribe list suppresses the address;
- an unsubscribe at the provider revokes email marketing in the consent ledger, and a
  group unsubscribe leaves the topic its group stands for (``sendgrid_asm_groups``);
  source ``provider``, the event as evidence.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from channels.webhooks import ProviderEvent
from preference_center.ledger import (
    LedgerChange,
    SuppressionIn,
    append_changes,
    suppress_addresses,
)
from touchline.config import Settings, get_settings
from touchline.db import insert_ignoring_duplicates
from touchline.ids import interaction_id
from touchline.record import Interaction, Touch
from touchline.record.touches import BOUNCED, SENT, SPAM_REPORT, UNSUBSCRIBED

log = logging.getLogger(__name__)

SUPPRESSING = frozenset({BOUNCED, SPAM_REPORT})
DROPPED = "dropped"
RESUBSCRIBED = "resubscribed"
# SendGrid drops a message to an address on one of its suppression lists, saying which in
# ``reason``; the address is as unusable as if it had bounced or complained here.
PROVIDER_LISTS = {
    "bounced address": BOUNCED,
    "spam reporting address": SPAM_REPORT,
    "unsubscribed address": UNSUBSCRIBED,
}
# What of an unsubscribe event is kept as the ledger row's evidence.
EVIDENCE_FIELDS = ("event", "event_id", "asm_group_id", "ip", "useragent")
IDENTITY_OF_CHANNEL = {"email": "email", "sms": "phone", "whatsapp": "whatsapp", "x": "x_handle"}


@dataclass
class EngagementReport:
    recorded: int = 0
    duplicates: int = 0
    unmatched: list[str] = field(default_factory=list)  # provider event ids without a touch


def record_provider_events(
    session: Session,
    events: Sequence[ProviderEvent],
    received_at: datetime,
    settings: Settings | None = None,
) -> EngagementReport:
    report = EngagementReport()
    if not events:
        return report
    claimed_touches = {e.touch_id for e in events if e.touch_id}
    touches: dict[str, tuple[str, str | None]] = {}  # touch id -> (customer, channel)
    if claimed_touches:
        for tid, customer, channel in session.execute(
            select(Touch.id, Touch.customer_id, Touch.channel).where(Touch.id.in_(claimed_touches))
        ):
            touches[tid] = (customer, channel)
    # Events that carry no (known) touch id: match the provider's message id to our send.
    by_message: dict[str, str] = {}
    orphan_ids = {
        e.provider_message_id
        for e in events
        if e.provider_message_id and (e.touch_id is None or e.touch_id not in touches)
    }
    if orphan_ids:
        for message_id, tid, customer, channel in session.execute(sends_by_message_id(orphan_ids)):
            by_message[message_id] = tid
            touches[tid] = (customer, channel)

    rows = []
    for event in events:
        tid = (
            event.touch_id
            if event.touch_id in touches
            else by_message.get(event.provider_message_id or "")
        )
        if tid is None:
            report.unmatched.append(event.event_id)
            continue
        customer, channel = touches[tid]
        rows.append(
            {
                "id": interaction_id("provider", event.provider, event.event_id),
                "touch_id": tid,
                "customer_id": customer,
                "kind": event.kind,
                "channel": channel,
                "provider": event.provider,
                "provider_message_id": event.provider_message_id,
                "occurred_at": event.occurred_at or received_at,
                "recorded_at": received_at,
                "detail": {**event.detail, "event_id": event.event_id},
            }
        )
    # The same event twice in one delivery is a duplicate too.
    unique = list({row["id"]: row for row in rows}.values())
    inserted = insert_ignoring_duplicates(
        session, Interaction, unique, conflict_columns=["id"], returning="id"
    )
    report.recorded = len(inserted)
    report.duplicates = len(rows) - len(inserted)
    # Only what is new: a repeated event changes neither suppressions nor the ledger again.
    fresh = [r for r in unique if r["id"] in set(inserted)]
    _suppress(session, [r for r in fresh if _suppression_reason(r)], received_at)
    _record_consent(
        session,
        [r for r in fresh if r["kind"] in (UNSUBSCRIBED, RESUBSCRIBED)],
        received_at,
        settings or get_settings(),
    )
    return report


def sends_by_message_id(message_ids: set[str]) -> Any:
    """Our sends with these provider message ids, with their touch's customer and channel
    (an index lookup on ix_interaction_provider_message_id: ``bench.plans`` shows it)."""
    return (
        select(
            Interaction.provider_message_id,
            Interaction.touch_id,
            Touch.customer_id,
            Touch.channel,
        )
        .join(Touch, Touch.id == Interaction.touch_id)
        .where(Interaction.kind == SENT, Interaction.provider_message_id.in_(sorted(message_ids)))
    )


def _suppression_reason(row: dict[str, Any]) -> str | None:
    if row["kind"] in SUPPRESSING:
        return str(row["kind"])
    if row["kind"] == DROPPED:
        reason = str(row["detail"].get("reason") or "").strip().lower()
        return PROVIDER_LISTS.get(reason)
    return None


def _suppress(session: Session, rows: list[dict], at: datetime) -> None:
    """A hard bounce or a spam complaint suppresses the address the touch went to: another
    send would hurt every later message's deliverability, whoever the address belongs to."""
    if not rows:
        return
    addresses = dict(
        session.execute(
            select(Touch.id, Touch.address).where(Touch.id.in_({r["touch_id"] for r in rows}))
        ).all()
    )
    entries = []
    for row in rows:
        kind = IDENTITY_OF_CHANNEL.get(row["channel"] or "")
        address = addresses.get(row["touch_id"])
        if kind and address:
            evidence = {
                "touch_id": row["touch_id"],
                "event_id": row["detail"].get("event_id"),
                **({"dropped": row["detail"]["reason"]} if row["kind"] == DROPPED else {}),
            }
            entries.append(
                SuppressionIn(kind, address, _suppression_reason(row) or row["kind"],
                              row["provider"] or "provider", evidence)
            )  # fmt: skip
    suppress_addresses(session, entries, at)


def _record_consent(
    session: Session, rows: list[dict[str, Any]], received_at: datetime, settings: Settings
) -> None:
    """An unsubscribe the provider took (its own unsubscribe page, the mailbox's button on
    a message without our header) is the customer's word as much as one taken here."""
    consents = []
    for row in rows:
        if row["channel"] != "email":
            continue
        detail = row["detail"]
        group = detail.get("asm_group_id")
        topic = None
        if detail.get("event") in ("group_unsubscribe", "group_resubscribe"):
            topic = _topic_of_group(group, settings)
            if topic in settings.required_topics:
                # Account notices cannot be left (SendGrid's group settings should not offer
                # it): record nothing rather than a state the preference center refuses.
                log.warning("ignored a %s from required topic %s", detail["event"], topic)
                continue
            if topic is None and row["kind"] == RESUBSCRIBED:
                continue  # rejoining a group we cannot name grants nothing
        evidence = {
            "provider": row["provider"],
            "touch_id": row["touch_id"],
            "provider_message_id": row["provider_message_id"],
            "occurred_at": row["occurred_at"].isoformat(),
            **{k: v for k, v in detail.items() if k in EVIDENCE_FIELDS},
        }
        if group is not None and topic is None:
            evidence["unmapped_group"] = True  # see settings.sendgrid_asm_groups
        consents.append(
            LedgerChange(
                row["customer_id"], "email", "marketing",
                "revoked" if row["kind"] == UNSUBSCRIBED else "granted", "provider", evidence,
                # When it happened (evidence), unless the provider's clock is ahead.
                min(row["occurred_at"], received_at), topic,
            )
        )  # fmt: skip
    append_changes(session, consents, received_at=received_at, settings=settings)


def _topic_of_group(group: object, settings: Settings) -> str | None:
    try:
        return settings.sendgrid_asm_groups.get(int(group))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
