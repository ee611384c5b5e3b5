"""Provider events (delivered, opened, clicked, bounced…) into the interaction record.

Each event is stored once, whatever the provider repeats: the row id derives from the
provider's event id. An event finds its touch by the touch id we sent along (SendGrid
custom_args, the Twilio callback URL) or, failing that, by the provider's message id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from channels.webhooks import ProviderEvent
from touchline.db import insert_ignoring_duplicates
from touchline.ids import interaction_id
from touchline.record import Interaction, Suppression, Touch
from touchline.record.touches import BOUNCED, SENT, SPAM_REPORT

SUPPRESSING = frozenset({BOUNCED, SPAM_REPORT})
IDENTITY_OF_CHANNEL = {"email": "email", "sms": "phone"}


@dataclass
class EngagementReport:
    recorded: int = 0
    duplicates: int = 0
    unmatched: list[str] = field(default_factory=list)  # provider event ids without a touch


def record_provider_events(
    session: Session, events: Sequence[ProviderEvent], received_at: datetime
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
        for message_id, tid, customer, channel in session.execute(
            select(
                Interaction.provider_message_id,
                Interaction.touch_id,
                Touch.customer_id,
                Touch.channel,
            )
            .join(Touch, Touch.id == Interaction.touch_id)
            .where(Interaction.kind == SENT, Interaction.provider_message_id.in_(orphan_ids))
        ):
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
    new = set(inserted)
    _suppress(
        session, [r for r in unique if r["id"] in new and r["kind"] in SUPPRESSING], received_at
    )
    return report


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
    wanted: dict[tuple[str, str], dict] = {}
    for row in rows:
        kind = IDENTITY_OF_CHANNEL.get(row["channel"] or "")
        address = addresses.get(row["touch_id"])
        if kind and address:
            wanted[(kind, address)] = row
    active = {
        (kind, value)
        for kind, value in session.execute(
            select(Suppression.kind, Suppression.value).where(
                Suppression.value.in_({v for _, v in wanted}), Suppression.lifted_at.is_(None)
            )
        )
    }
    session.add_all(
        Suppression(
            kind=kind,
            value=value,
            reason=row["kind"],
            source=row["provider"] or "provider",
            evidence={"touch_id": row["touch_id"], "event_id": row["detail"].get("event_id")},
            created_at=at,
        )
        for (kind, value), row in wanted.items()
        if (kind, value) not in active
    )
