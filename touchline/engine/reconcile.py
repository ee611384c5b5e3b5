"""Crash safety for sends: a marker before every provider call, a lookup after a crash.

The touch row (decision) is committed before anything is sent, and the outcome after the
provider answers. A worker killed between those two leaves a touch whose message may or
may not have gone. So, just before the provider calls, each outgoing touch gets a
``dispatching`` marker naming the attempt (its id rides along as a custom arg where the
provider keeps one), the recipient and a digest of the content. When a later run finds a
touch due with a marker but no outcome, it asks the provider what that attempt delivered:
found means ``sent`` (recorded, not sent again); not found means the request never arrived
and the message goes now; a provider that cannot be asked means wait — never guess.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from channels import Channel, ChannelError, InDoubt, Receipt, content_digest
from channels.errors import LookupIncomplete
from touchline import ids
from touchline.db import chunked
from touchline.engine.dispatch import Outgoing
from touchline.record import Interaction
from touchline.record.touches import DISPATCHING, SENT


def new_dispatch_id() -> str:
    return uuid.uuid4().hex


def marker_rows(
    outgoing: Sequence[Outgoing],
    customers: Mapping[str, str],
    providers: Mapping[str, str],
    dispatch_id: str,
    now: datetime,
) -> list[dict[str, Any]]:
    """One marker per touch and attempt, to commit before the attempt starts."""
    return [
        {
            "id": ids.interaction_id(item.touch_id, DISPATCHING, dispatch_id),
            "touch_id": item.touch_id,
            "customer_id": customers[item.touch_id],
            "kind": DISPATCHING,
            "channel": item.channel,
            "provider": providers.get(item.channel),
            "provider_message_id": None,
            "occurred_at": now,
            "recorded_at": now,
            "detail": {
                "dispatch_id": dispatch_id,
                "to": item.message.to,
                "digest": content_digest(item.message),
            },
        }
        for item in outgoing
    ]


def in_doubt(session: Session, touch_ids: Sequence[str]) -> dict[str, list[InDoubt]]:
    """The earlier attempts of these touches (the caller passes touches with no outcome)."""
    found: dict[str, list[InDoubt]] = defaultdict(list)
    for chunk in chunked(list(touch_ids)):
        for touch_id, at, detail in session.execute(
            select(Interaction.touch_id, Interaction.occurred_at, Interaction.detail).where(
                Interaction.touch_id.in_(chunk), Interaction.kind == DISPATCHING
            )
        ):
            found[touch_id].append(
                InDoubt(touch_id, detail["to"], detail["digest"], detail["dispatch_id"], at)
            )
    return dict(found)


def ask_providers(
    session: Session,
    channels: Mapping[str, Channel],
    attempts: Mapping[str, list[InDoubt]],
    channel_of: Mapping[str, str],
    customer_of: Mapping[str, str],
) -> tuple[dict[str, Receipt], dict[str, ChannelError]]:
    """(receipts of messages the provider has, errors of touches it could not tell about)."""
    receipts: dict[str, Receipt] = {}
    errors: dict[str, ChannelError] = {}
    by_channel: dict[str, list[str]] = defaultdict(list)
    for touch_id in attempts:
        by_channel[channel_of[touch_id]].append(touch_id)
    for channel_name, touch_ids in by_channel.items():
        items = [a for t in touch_ids for a in attempts[t]]
        since = min(a.since for a in items) - timedelta(days=1)
        known = _recorded_ids(session, channel_name, {customer_of[t] for t in touch_ids}, since)
        try:
            answer = channels[channel_name].find_sent(items, known)
        except LookupIncomplete as exc:
            # What was found is certain; the rest stays unknown and waits.
            receipts.update(exc.found)  # type: ignore[arg-type]
            errors.update((t, exc) for t in touch_ids if t not in exc.found)
            continue
        except ChannelError as exc:
            errors.update((t, exc) for t in touch_ids)
            continue
        receipts.update(answer)
    return receipts, errors


def _recorded_ids(
    session: Session, channel: str, customers: set[str], since: datetime
) -> frozenset[str]:
    """Provider ids the record already gives to a touch: another touch's message."""
    found: set[str] = set()
    for chunk in chunked(sorted(customers)):
        found.update(
            session.execute(
                select(Interaction.provider_message_id).where(
                    Interaction.customer_id.in_(chunk),
                    Interaction.channel == channel,
                    Interaction.kind == SENT,
                    Interaction.occurred_at >= since,
                    Interaction.provider_message_id.is_not(None),
                )
            ).scalars()
        )
    return frozenset(found)
