"""One customer's story across channels, in order: events, consent changes (with their
source and topic), addresses linked, suppressions of those addresses, merges, enrollments,
decisions, sends, engagement, conversions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from touchline.record import (
    Consent,
    CustomerMerge,
    Enrollment,
    Event,
    Identity,
    Interaction,
    Suppression,
    Touch,
)
from touchline.record.touches import DISPATCHING, TERMINAL_OUTCOMES


@dataclass(frozen=True)
class Entry:
    at: datetime
    # event | consent | identity | suppressed | unsuppressed | merge | enrolled | decision |
    # <interaction kind> | ended
    kind: str
    channel: str | None
    summary: str
    detail: dict[str, Any]
    # The earliest place this entry may sort: a provider's report on a touch never goes
    # before the decision that made the touch, whatever the provider's clock said.
    not_before: datetime | None = field(default=None, compare=False, repr=False)


def customer_timeline(session: Session, customer_id: str) -> list[Entry]:
    entries: list[Entry] = []
    for event in session.execute(select(Event).where(Event.customer_id == customer_id)).scalars():
        entries.append(
            Entry(
                event.occurred_at,
                "event",
                None,
                event.type,
                {"id": event.id, "payload": event.payload},
            )
        )
    for consent in session.execute(
        select(Consent).where(Consent.customer_id == customer_id)
    ).scalars():
        what = (
            f"topic {consent.topic} ({consent.purpose}) {consent.status}"
            if consent.topic
            else f"{consent.purpose} {consent.status}"
        )
        entries.append(
            Entry(
                consent.recorded_at,
                "consent",
                consent.channel,
                f"{what} via {consent.source}",
                {
                    "purpose": consent.purpose,
                    "status": consent.status,
                    "topic": consent.topic,
                    "source": consent.source,
                    "evidence": consent.evidence,
                },
            )
        )
    entries += _identities_and_suppressions(session, customer_id)
    entries += _merges(session, customer_id)
    for enrollment in session.execute(
        select(Enrollment).where(Enrollment.customer_id == customer_id)
    ).scalars():
        entries.append(
            Entry(
                enrollment.entered_at,
                "enrolled",
                None,
                f"{enrollment.journey_key} v{enrollment.journey_version}",
                {"enrollment_id": enrollment.id},
            )
        )
        if enrollment.ended_at:
            entries.append(
                Entry(
                    enrollment.ended_at,
                    "ended",
                    None,
                    f"{enrollment.journey_key}: {enrollment.status} — {enrollment.end_reason}",
                    {"enrollment_id": enrollment.id},
                )
            )
    touches = {
        t.id: t
        for t in session.execute(select(Touch).where(Touch.customer_id == customer_id)).scalars()
    }
    for touch in touches.values():
        chosen = touch.channel or "no channel"
        reasons = "; ".join(str_reason(r) for r in touch.decision.get("reasons", []))
        entries.append(
            Entry(
                touch.created_at,
                "decision",
                touch.channel,
                f"{touch.journey_key}/{touch.step_id}: {chosen} — {reasons}",
                touch.decision,
            )
        )
    interactions = list(
        session.execute(select(Interaction).where(Interaction.customer_id == customer_id)).scalars()
    )
    # A send attempt's marker matters only while its outcome is unknown (in doubt).
    settled = {i.touch_id for i in interactions if i.kind in TERMINAL_OUTCOMES}
    for interaction in interactions:
        if interaction.kind == DISPATCHING and interaction.touch_id in settled:
            continue
        touch = touches.get(interaction.touch_id or "")
        where = (
            f"{touch.journey_key}/{touch.step_id}"
            if touch
            else (interaction.detail.get("journey") or "")
        )
        note = (
            interaction.detail.get("reason")
            or interaction.detail.get("subject")
            or interaction.detail.get("body")
            or interaction.detail.get("url")
            or ""
        )
        entries.append(
            Entry(
                interaction.occurred_at,
                interaction.kind,
                interaction.channel,
                f"{where} {note}".strip(),
                interaction.detail,
                not_before=touch.created_at if touch else None,
            )
        )
    return sorted(entries, key=_causal_order)


# Within one second, causes before effects. Providers stamp their reports in whole seconds
# (SendGrid's and X's timestamps, Twilio's dates), so a "processed" at 12:00:05 would
# otherwise sort before the decision taken at 12:00:05.300 that caused it.
CAUSAL_RANK = {
    "event": 0, "merge": 1, "identity": 1, "consent": 1, "suppressed": 1, "unsuppressed": 1,
    "enrolled": 2, "decision": 3, "skipped": 4, "dispatching": 4, "failed": 5, "sent": 5,
    "queued": 6, "processed": 6, "deferred": 7, "delivered": 8, "undelivered": 8,
    "bounced": 8, "dropped": 8, "opened": 9, "clicked": 10, "replied": 10,
    "spam_report": 11, "unsubscribed": 11, "resubscribed": 11, "converted": 12, "ended": 20,
}  # fmt: skip
UNRANKED = 10


def _causal_order(entry: Entry) -> tuple[datetime, int, datetime]:
    at = max(entry.at, entry.not_before) if entry.not_before else entry.at
    return at.replace(microsecond=0), CAUSAL_RANK.get(entry.kind, UNRANKED), at


def str_reason(reason: dict[str, Any]) -> str:
    channel = reason.get("channel")
    return f"{channel}: {reason['message']}" if channel else reason["message"]


# Where a suppressed address would have been used.
IDENTITY_CHANNEL = {"email": "email", "phone": "sms", "whatsapp": "whatsapp", "x_handle": "x"}


def _identities_and_suppressions(session: Session, customer_id: str) -> list[Entry]:
    """The customer's addresses as they were linked, and every suppression of one of them
    (a suppression is about the address, so it shows whoever the address belongs to now)."""
    entries: list[Entry] = []
    linked = list(
        session.execute(select(Identity).where(Identity.customer_id == customer_id)).scalars()
    )
    for identity in linked:
        entries.append(
            Entry(
                identity.created_at,
                "identity",
                IDENTITY_CHANNEL.get(identity.kind),
                f"{identity.kind} {identity.value} linked via {identity.source}"
                + (" (verified)" if identity.verified else ""),
                {"kind": identity.kind, "value": identity.value, "source": identity.source,
                 "verified": identity.verified, "evidence": identity.evidence or {}},
            )
        )  # fmt: skip
    suppressions = session.execute(
        select(Suppression)
        .join(
            Identity,
            (Identity.kind == Suppression.kind) & (Identity.value == Suppression.value),
        )
        .where(Identity.customer_id == customer_id)
    ).scalars()
    for row in suppressions:
        detail = {"kind": row.kind, "value": row.value, "reason": row.reason,
                  "source": row.source, "evidence": row.evidence}  # fmt: skip
        channel = IDENTITY_CHANNEL.get(row.kind)
        entries.append(
            Entry(
                row.created_at,
                "suppressed",
                channel,
                f"{row.kind} {row.value} suppressed: {row.reason} ({row.source})",
                detail,
            )
        )
        if row.lifted_at:
            entries.append(
                Entry(row.lifted_at, "unsuppressed", channel,
                      f"{row.kind} {row.value}: suppression lifted", detail)
            )  # fmt: skip
    return entries


def _merges(session: Session, customer_id: str) -> list[Entry]:
    rows = session.execute(
        select(CustomerMerge).where(
            (CustomerMerge.source_customer_id == customer_id)
            | (CustomerMerge.target_customer_id == customer_id)
        )
    ).scalars()
    return [
        Entry(
            merge.merged_at,
            "merge",
            None,
            f"{merge.source_customer_id} merged into {merge.target_customer_id} "
            f"by {merge.actor}: {merge.reason}",
            {
                "source_customer_id": merge.source_customer_id,
                "target_customer_id": merge.target_customer_id,
                "actor": merge.actor,
                "reason": merge.reason,
                "evidence": merge.evidence,
                "moved": merge.moved,
            },
        )
        for merge in rows
    ]
