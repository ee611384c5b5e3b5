"""Merging two profiles of one person: everything of the source moves to the target.

Nothing is lost or rewritten: ledger rows, events, touches and interactions keep their
times and evidence and only change owner, so the merged history reads as one. Consent
after a merge is again the newest row per channel and purpose across both histories — the
person's latest word, whichever profile they said it under. The source profile stays as an
empty shell pointing at the target (``merged_into``), so old links and ids still resolve,
and the merge itself is audited with who, why, on what evidence, and what moved.

Enrollments move too, and the journeys' re-entry rules then apply to the survivor: in a
``reentry: once`` journey both were in, only the enrollment that entered first goes on —
the source's or the target's — and any other active one ends ("merged into <id>: already
enrolled"); an active enrollment of the source within a re-entry window of one of the
target's ends too. So one person gets one welcome, one cart reminder, not two. The final gate
(preference_center.gate) skips whatever of it was already on its way.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from preference_center.history import reached
from preference_center.ledger import customer_or_error
from touchline.errors import InvalidMergeError, MergeConflictError
from touchline.journeys.store import DefinitionCache
from touchline.record import (
    ChannelEffectiveness,
    Consent,
    CustomerMerge,
    Enrollment,
    Event,
    Identity,
    Interaction,
    Preference,
    TimingEffectiveness,
    Touch,
)
from touchline.record.enrollments import ACTIVE, EXITED, once_order

# Tables whose rows belong to a customer by a customer_id column and move as they are.
MOVED = (Identity, Consent, Event, Enrollment, Touch, Interaction)
PREFERENCE_FIELDS = (
    "timezone", "locale", "quiet_hours_start", "quiet_hours_end", "max_per_week",
)  # fmt: skip


def merge_customers(
    session: Session,
    source_id: str,
    target_id: str,
    *,
    actor: str,
    reason: str,
    evidence: Mapping[str, Any],
    at: datetime,
) -> CustomerMerge:
    if source_id == target_id:
        raise InvalidMergeError(f"cannot merge customer {source_id} into itself")
    if not reason.strip():
        raise InvalidMergeError("a merge needs a reason (it is audited)")
    source = customer_or_error(session, source_id)
    target = customer_or_error(session, target_id)
    if source.merged_into:
        raise MergeConflictError(f"{source_id} was already merged into {source.merged_into}")
    if target.merged_into:
        raise MergeConflictError(
            f"{target_id} was merged into {target.merged_into}; merge into that customer"
        )

    moved: dict[str, int] = {"enrollments_ended": _end_reentries(session, source_id, target_id, at)}
    for table in MOVED:
        result = session.execute(
            update(table).where(table.customer_id == source_id).values(customer_id=target_id)
        )
        moved[table.__tablename__] = result.rowcount
    moved["preference"] = _merge_preferences(session, source_id, target_id, at)
    # Learned effectiveness is per customer; the next refresh learns the merged history.
    for table in (ChannelEffectiveness, TimingEffectiveness):
        session.execute(
            delete(table).where(table.scope == "customer", table.scope_key == source_id)
        )

    # The target's own attributes win: they are the profile the person is kept under.
    target.attributes = {**(source.attributes or {}), **(target.attributes or {})}
    target.updated_at = at
    source.merged_into = target_id
    source.attributes = {}
    source.updated_at = at
    audit = CustomerMerge(
        source_customer_id=source_id,
        target_customer_id=target_id,
        actor=actor[:128],
        reason=reason[:500],
        evidence=dict(evidence),
        moved=moved,
        merged_at=at,
    )
    session.add(audit)
    session.flush()
    return audit


def _end_reentries(session: Session, source_id: str, target_id: str, at: datetime) -> int:
    """End the active enrollments the survivor's re-entry rules refuse once the two
    profiles are one person: in a ``reentry: once`` journey, every enrollment of either
    profile but the first (once_order: the one that already sent the person something, else
    the one that entered first) — the target's own if the source's came first; in a ``reentry: {window: …}``
    journey, the source's active ones within the window of one of the target's entries."""
    rows = session.execute(
        select(Enrollment.id, Enrollment.journey_id, Enrollment.journey_key,
               Enrollment.customer_id, Enrollment.status, Enrollment.trigger_at,
               Enrollment.entered_at)
        .where(Enrollment.customer_id.in_([source_id, target_id]))
    ).all()  # fmt: skip
    by_key: dict[str, list[Any]] = {}
    for row in rows:
        by_key.setdefault(row.journey_key, []).append(row)
    sent = reached(session, [row.id for row in rows])
    definitions = DefinitionCache()
    ending = []
    for key, group in by_key.items():
        if {row.customer_id for row in group} != {source_id, target_id}:
            continue  # only one of them was ever in this journey
        first = min(
            group,
            key=lambda r: once_order(key, target_id, r.id, r.entered_at, r.id in sent),
        )
        theirs = [r.trigger_at for r in group if r.customer_id == target_id]
        for row in group:
            if row.status != ACTIVE:
                continue
            rule = definitions.get(session, row.journey_id).reentry
            if (rule.mode == "once" and row.id != first.id) or (
                rule.mode == "window"
                and row.customer_id == source_id
                and rule.window is not None
                and any(abs(row.trigger_at - other) < rule.window for other in theirs)
            ):
                ending.append(row.id)
    if ending:
        # The revision bump tells a worker holding one of them that its copy is stale.
        session.execute(
            update(Enrollment)
            .where(Enrollment.id.in_(ending), Enrollment.status == ACTIVE)
            .values(status=EXITED, ended_at=at, next_action_at=None, waiting_for=None,
                    end_reason=f"merged into {target_id}: already enrolled",
                    revision=Enrollment.revision + 1, updated_at=at)
        )  # fmt: skip
    return len(ending)


def _merge_preferences(session: Session, source_id: str, target_id: str, at: datetime) -> int:
    source = session.get(Preference, source_id)
    if source is None:
        return 0
    target = session.get(Preference, target_id)
    if target is None:
        target = Preference(customer_id=target_id, channel_order=list(source.channel_order or []),
                            updated_at=at)  # fmt: skip
        session.add(target)
    elif not target.channel_order:
        target.channel_order = list(source.channel_order or [])
    for name in PREFERENCE_FIELDS:
        if getattr(target, name) is None:
            setattr(target, name, getattr(source, name))
    target.updated_at = at
    session.delete(source)
    return 1
