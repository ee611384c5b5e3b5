"""What customers tell us on X — DMs and mentions — into the record and the journeys.

A DM or mention from a handle linked to a customer becomes:
  - an inbound interaction on channel ``x``: REPLIED on the last DM we sent that customer
    within REPLY_WINDOW (it counts as engagement for channel effectiveness) when it is a
    DM, otherwise RECEIVED — a public mention answers no DM of ours;
  - the genesis event ``social.message_received`` (text, kind, handle, X's event id, and
    for a DM asking to stop, ``keyword`` and ``rule``), so a complaint on social media can start a service-recovery
    journey.
Both are keyed on X's event id: a webhook X delivers twice is recorded once.
A handle linked to nobody changes nothing: a link needs evidence, and a mention is none —
except a DM that asks us to stop, which suppresses the handle.

A DM that asks us to stop (the same rules as a text: preference_center.opt_out_text)
revokes the customer's X consent, marketing and transactional — they asked the channel they
wrote in to stop — through the ledger, with the matched rule as evidence. Once: a DM while
already revoked writes nothing. A public mention is not read this way: it is a post to
everyone, not a reply to our messages. A DM never grants: "yes" in a conversation is an
answer, not a subscription — X consent comes back through the preference page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from channels.webhooks.x_activity import DM, SocialMessage
from preference_center.consent import MARKETING, REVOKED, TRANSACTIONAL
from preference_center.identities import InvalidAddress, normalise
from preference_center.ledger import current_consents, record_consent
from preference_center.linking import resolve_customer
from preference_center.opt_out_text import OptOutMatch, classify
from preference_center.schemas import ConsentIn
from preference_center.suppression import SuppressionIn, suppress_addresses
from touchline.config import Settings
from touchline.db import Database, insert_ignoring_duplicates
from touchline.ids import interaction_id
from touchline.intake.ingest import ingest
from touchline.record import Interaction, Touch
from touchline.record.touches import RECEIVED, REPLIED, SENT

REPLY_WINDOW = timedelta(days=7)
EVENT_TYPE = "social.message_received"
PROVIDER = "x"
CHANNEL = "x"
OPT_OUT_SOURCE = "x_dm"


@dataclass
class SocialReport:
    recorded: int = 0
    duplicates: int = 0
    unmatched: int = 0  # from handles linked to no customer
    customers: list[str] = field(default_factory=list)
    opted_out: int = 0  # DMs that revoked consent or suppressed a handle


def handle_x_messages(
    db: Database, messages: Sequence[SocialMessage], now: datetime, settings: Settings
) -> SocialReport:
    report = SocialReport()
    events: list[tuple[None, dict[str, Any]]] = []
    with db.session() as session:
        for message in messages:
            handle = _handle(message.handle)
            customer = resolve_customer(session, "x_handle", handle) if handle else None
            match = classify(message.text) if message.kind == DM else None
            opt_out = match is not None and match.kind == "opt_out"
            evidence = {"x_event_id": message.event_id, "handle": handle,
                        "sender_id": message.sender_id, "text": message.text[:320]}  # fmt: skip
            if customer is None:
                report.unmatched += 1
                if opt_out and handle and _suppress(session, handle, evidence, match, now):
                    report.opted_out += 1
                continue
            replied_to = _last_dm_within(session, customer, now) if message.kind == DM else None
            detail = {"text": message.text, "kind": message.kind, "handle": handle,
                      "sender_id": message.sender_id}  # fmt: skip
            if message.occurred_at is not None:
                detail["x_created_at"] = message.occurred_at.isoformat()
            stored = insert_ignoring_duplicates(
                session,
                Interaction,
                [
                    {
                        "id": interaction_id("inbound", PROVIDER, message.event_id),
                        "touch_id": replied_to,
                        "customer_id": customer,
                        "kind": REPLIED if replied_to else RECEIVED,
                        "channel": "x",
                        "provider": PROVIDER,
                        "provider_message_id": message.event_id,
                        "occurred_at": now,
                        "recorded_at": now,
                        "detail": detail,
                    }
                ],
                conflict_columns=["id"],
                returning="id",
            )
            if stored:
                report.recorded += 1
                report.customers.append(customer)
                if opt_out and _revoke(session, customer, evidence, match, now, settings):
                    report.opted_out += 1
            else:
                report.duplicates += 1
            # A duplicate's event goes to intake again too: intake stores an event id once,
            # and this way a crash between this commit and the intake below is repaired by
            # X's retry instead of losing the event.
            events.append((None, {
                "id": f"x-{message.event_id}",
                "type": EVENT_TYPE,
                "customer_id": customer,
                "occurred_at": now.isoformat(),
                "source": PROVIDER,
                "payload": {"text": message.text, "kind": message.kind, "handle": handle,
                            "x_event_id": message.event_id, "replied_to_touch": replied_to,
                            # A journey may answer an opt-out DM; the rule says why it is one.
                            **({"keyword": "opt_out", "rule": match.rule} if opt_out and match
                               else {})},
            }))  # fmt: skip
    # After the interactions are committed (intake has its own transactions).
    if events:
        ingest(db, events, now=now, source=PROVIDER, settings=settings)
    return report


def _revoke(
    session: Session, customer: str, evidence: dict[str, Any], match: OptOutMatch | None,
    now: datetime, settings: Settings,
) -> bool:  # fmt: skip
    """Revoke the customer's X consent for a DM asking to stop; False if already revoked."""
    assert match is not None
    state = current_consents(session, customer)
    wanted = [
        ConsentIn(channel=CHANNEL, purpose=p, status=REVOKED)
        for p in (MARKETING, TRANSACTIONAL)
        if (s := state.get((CHANNEL, p))) is None or s.status != REVOKED
    ]
    if not wanted:
        return False
    record_consent(session, customer, wanted, source=OPT_OUT_SOURCE,
                   evidence={**evidence, **match.evidence}, at=now, settings=settings)  # fmt: skip
    return True


def _suppress(
    session: Session, handle: str, evidence: dict[str, Any], match: OptOutMatch | None,
    now: datetime,
) -> bool:  # fmt: skip
    """A handle linked to nobody asked us to stop: if it is ever linked, it stays unmessaged."""
    assert match is not None
    return bool(suppress_addresses(session, [SuppressionIn(
        kind="x_handle", value=handle, reason="x_stop", source=OPT_OUT_SOURCE,
        evidence={**evidence, **match.evidence},
    )], now))  # fmt: skip


def _handle(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return normalise("x_handle", value)
    except InvalidAddress:
        return None


def _last_dm_within(session: Session, customer: str, now: datetime) -> str | None:
    return session.execute(
        select(Touch.id)
        .join(Interaction, Interaction.touch_id == Touch.id)
        .where(
            Touch.customer_id == customer,
            Touch.channel == "x",
            Interaction.kind == SENT,
            Interaction.occurred_at >= now - REPLY_WINDOW,
        )
        .order_by(Interaction.occurred_at.desc())
        .limit(1)
    ).scalar_one_or_none()
