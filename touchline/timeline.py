"""One customer's story across channels, in order: events, consent changes, decisions,
sends, engagement, conversions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from touchline.record import Consent, Enrollment, Event, Interaction, Touch
from touchline.record.touches import DISPATCHING, TERMINAL_OUTCOMES


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str  # event | consent | enrolled | decision | <interaction kind> | ended
    channel: str | None
    summary: str
    detail: dict[str, Any]


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
        entries.append(
            Entry(
                consent.recorded_at,
                "consent",
                consent.channel,
                f"{consent.purpose} {consent.status} via {consent.source}",
                consent.evidence,
            )
        )
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
            )
        )
    # At the same instant, causes before effects: the event, then what it changed, the
    # decision, its outcome, and the enrollment's end last.
    order = {"event": 0, "consent": 1, "enrolled": 2, "decision": 3, "ended": 9}
    return sorted(entries, key=lambda e: (e.at, order.get(e.kind, 4)))


def str_reason(reason: dict[str, Any]) -> str:
    channel = reason.get("channel")
    return f"{channel}: {reason['message']}" if channel else reason["message"]
