"""What the interaction record says about a customer's recent messages, loaded per batch.

Only what must be live lives here (the frequency cap counts messages sent minutes ago);
engagement — which channel and which hour work — is learned by the refresh
(``preference_center.learning``) and read back with ``preference_center.learned``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from touchline.db import chunked
from touchline.record import Interaction, Touch
from touchline.record.touches import DISPATCHING, SENT


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


def marketing_in_flight(
    session: Session,
    customer_ids: Iterable[str],
    since: datetime,
    exclude_touches: Collection[str] = (),
) -> dict[str, int]:
    """Marketing touches of each customer sent *or being sent* (a ``dispatching`` marker)
    since ``since``, counted once per touch, leaving out ``exclude_touches`` (the touches
    being gated now). The final gate counts this way: another worker's message on its way
    counts against the cap as much as one already delivered."""
    counts: dict[str, int] = {}
    excluded = set(exclude_touches)
    for chunk in chunked(sorted(set(customer_ids))):
        rows = session.execute(
            select(Touch.customer_id, Touch.id)
            .join(Interaction, Interaction.touch_id == Touch.id)
            .where(
                Touch.customer_id.in_(chunk),
                Touch.purpose == "marketing",
                Interaction.kind.in_((SENT, DISPATCHING)),
                Interaction.occurred_at > since,
            )
            .distinct()
        ).all()
        for customer, touch in rows:
            if touch not in excluded:
                counts[customer] = counts.get(customer, 0) + 1
    return counts


def reached(session: Session, enrollment_ids: Iterable[str]) -> set[str]:
    """The enrollments that sent their customer something (a message sent, or on its way)."""
    found: set[str] = set()
    for chunk in chunked(sorted(set(enrollment_ids))):
        found.update(
            session.execute(
                select(Touch.enrollment_id)
                .join(Interaction, Interaction.touch_id == Touch.id)
                .where(Touch.enrollment_id.in_(chunk), Interaction.kind.in_((SENT, DISPATCHING)))
                .distinct()
            ).scalars()
        )
    return found
