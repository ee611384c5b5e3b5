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
from touchline.record import Interaction, Touch
from touchline.record.touches import SENT


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
    return report
