"""What the interaction record says about a customer's engagement, loaded per batch.

Channel effectiveness and timing are learned from these: how many messages each channel
carried to the customer and how many of them were engaged with (opened, clicked, replied),
and at which local hours the customer engaged.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from touchline.db import chunked
from touchline.record import Interaction, Touch
from touchline.record.touches import CLICKED, OPENED, REPLIED, SENT

ENGAGED = (OPENED, CLICKED, REPLIED)


@dataclass(frozen=True)
class ChannelStats:
    sent: int = 0
    engaged: int = 0


@dataclass(frozen=True)
class History:
    by_channel: Mapping[str, ChannelStats] = field(default_factory=dict)
    # UTC moments of engagement; the decision reads them in the customer's own zone.
    engaged_at: tuple[datetime, ...] = ()

    @property
    def messages(self) -> int:
        return sum(s.sent for s in self.by_channel.values())

    @property
    def channels_used(self) -> int:
        return sum(1 for s in self.by_channel.values() if s.sent)


def load_history(
    session: Session, customer_ids: Iterable[str], since: datetime
) -> dict[str, History]:
    sent: dict[str, Counter[str]] = defaultdict(Counter)
    engaged_touches: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    engaged_at: dict[str, list[datetime]] = defaultdict(list)
    for chunk in chunked(sorted(set(customer_ids))):
        rows = session.execute(
            select(
                Touch.customer_id,
                Touch.channel,
                Touch.id,
                Interaction.kind,
                Interaction.occurred_at,
            )
            .join(Interaction, Interaction.touch_id == Touch.id)
            .where(
                Touch.customer_id.in_(chunk),
                Interaction.kind.in_((SENT, *ENGAGED)),
                Interaction.occurred_at >= since,
            )
        )
        for customer, channel, touch_id, kind, at in rows:
            if kind == SENT:
                sent[customer][channel] += 1
            else:
                engaged_touches[customer][channel].add(touch_id)
                engaged_at[customer].append(at)
    result = {}
    for customer in set(sent) | set(engaged_touches):
        channels = set(sent[customer]) | set(engaged_touches[customer])
        result[customer] = History(
            by_channel={
                c: ChannelStats(sent[customer][c], len(engaged_touches[customer][c]))
                for c in channels
            },
            engaged_at=tuple(sorted(engaged_at[customer])),
        )
    return result


def recent_marketing(
    session: Session, customer_ids: Iterable[str], since: datetime
) -> dict[str, int]:
    """Marketing messages sent to each customer since ``since``, across journeys and channels."""
    counts: dict[str, int] = {}
    for chunk in chunked(sorted(set(customer_ids))):
        counts.update(
            session.execute(
                select(Touch.customer_id, func.count())
                .join(Interaction, Interaction.touch_id == Touch.id)
                .where(
                    Touch.customer_id.in_(chunk),
                    Touch.purpose == "marketing",
                    Interaction.kind == SENT,
                    Interaction.occurred_at > since,
                )
                .group_by(Touch.customer_id)
            ).all()
        )
    return counts
