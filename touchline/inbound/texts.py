"""Messages customers send us: keywords to the preference center, replies to the record,
and every message from a known customer as an event journeys can start on.

Twilio posts SMS and WhatsApp messages to the same inbound webhook; a WhatsApp sender's
address is ``whatsapp:+E.164``. An inbound message from an address we know becomes:
  - a REPLIED interaction on the last message we sent that address on the same channel
    within REPLY_WINDOW (it counts as engagement for channel effectiveness), or a RECEIVED
    one otherwise. On WhatsApp this is also what opens the customer's 24-hour session
    window (preference_center.profile reads it back);
  - a consent change for that channel if the message is a keyword (STOP, START, YES…,
    however written) or asks to stop in plain words (preference_center.opt_out_text; the
    rule that matched is in the ledger's evidence);
  - the genesis event ``sms.received`` or ``whatsapp.received`` (text, keyword and rule in
    the payload).
An address we do not know that asks to stop is suppressed, so that if it is ever linked to
a customer later, it is still not messaged. Each opt-out is confirmed once: a retry of the
same webhook, or a second STOP while already opted out, gets no second answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from channels.webhooks.twilio_inbound import InboundMessage
from preference_center.identities import InvalidAddress, normalise_phone
from preference_center.keywords import Keyword, OptOutMatch, apply_keyword, read_message
from preference_center.linking import resolve_customer
from preference_center.suppression import SuppressionIn, suppress_addresses
from touchline.config import Settings
from touchline.db import Database, insert_ignoring_duplicates
from touchline.ids import interaction_id
from touchline.intake.ingest import ingest
from touchline.record import Interaction, Touch
from touchline.record.touches import RECEIVED, REPLIED, SENT

REPLY_WINDOW = timedelta(days=7)
WHATSAPP_PREFIX = "whatsapp:"


@dataclass(frozen=True)
class InboundChannel:
    name: str  # the channel: sms | whatsapp
    identity: str  # the identity kind its addresses are linked by
    event_type: str  # the genesis event of every message from a known customer
    stop_reason: str  # the suppression of a stranger who sends STOP


SMS = InboundChannel("sms", "phone", "sms.received", "sms_stop")
WHATSAPP = InboundChannel("whatsapp", "whatsapp", "whatsapp.received", "whatsapp_stop")


@dataclass(frozen=True)
class InboundResult:
    customer_id: str | None
    keyword: str | None
    reply: str | None
    duplicate: bool
    channel: str = "sms"
    rule: str = "none"  # how the message was read (preference_center.opt_out_text)


def handle_inbound_sms(
    db: Database, message: InboundMessage, now: datetime, settings: Settings
) -> InboundResult:
    """An inbound SMS, or a WhatsApp message (its sender is ``whatsapp:+…``)."""
    channel = WHATSAPP if message.from_.startswith(WHATSAPP_PREFIX) else SMS
    raw = message.from_.removeprefix(WHATSAPP_PREFIX)
    try:
        sender = normalise_phone(raw)
    except InvalidAddress:
        sender = raw
    match = read_message(message.body)
    keyword: Keyword | None = None if match.kind == "none" else match.kind
    word = message.body.strip()
    with db.session() as session:
        customer = resolve_customer(session, channel.identity, sender)
        evidence = {"message_sid": message.message_sid, "from": sender, "to": message.to}
        if channel is WHATSAPP:
            evidence["channel"] = "whatsapp"
        if customer is None:
            reply = None
            if keyword == "opt_out":
                written = suppress_addresses(session, [SuppressionIn(
                    kind=channel.identity, value=sender, reason=channel.stop_reason,
                    source="twilio_inbound", evidence={**evidence, **match.evidence},
                )], now)  # fmt: skip
                # Already suppressed (a retry, a second STOP): confirmed once already.
                if written:
                    reply = _keyword(session, channel, None, keyword, word, evidence, now,
                                     settings, match)  # fmt: skip
            elif keyword:
                reply = _keyword(session, channel, None, keyword, word, evidence, now, settings,
                                 match)  # fmt: skip
            return InboundResult(None, keyword, reply, False, channel.name, match.rule)

        replied_to = session.execute(
            select(Touch.id)
            .join(Interaction, Interaction.touch_id == Touch.id)
            .where(
                Touch.customer_id == customer,
                Touch.channel == channel.name,
                Interaction.kind == SENT,
                Interaction.occurred_at >= now - REPLY_WINDOW,
            )
            .order_by(Interaction.occurred_at.desc())
            .limit(1)
        ).scalar_one_or_none()
        # Twilio retries a webhook that timed out: the message sid makes the row unique.
        stored = insert_ignoring_duplicates(
            session,
            Interaction,
            [
                {
                    "id": interaction_id("inbound", "twilio", message.message_sid),
                    "touch_id": replied_to,
                    "customer_id": customer,
                    "kind": REPLIED if replied_to else RECEIVED,
                    "channel": channel.name,
                    "provider": "twilio",
                    "provider_message_id": message.message_sid,
                    "occurred_at": now,
                    "recorded_at": now,
                    "detail": {"text": message.body, "keyword": keyword, "rule": match.rule},
                }
            ],
            conflict_columns=["id"],
            returning="id",
        )
        duplicate = not stored
        # The keyword's ledger rows commit with the interaction: a retry finds both done.
        reply = (
            _keyword(session, channel, customer, keyword, word, evidence, now, settings, match)
            if keyword and not duplicate else None
        )  # fmt: skip
    # Even for a retry: if the first delivery died between its commit and this, the event
    # was never stored. Intake stores an event id once, so this is safe to repeat.
    ingest(
        db,
        [(None, {
            "id": f"{channel.name}-{message.message_sid}",
            "type": channel.event_type,
            "customer_id": customer,
            "occurred_at": now.isoformat(),
            "source": "twilio",
            "payload": {"text": message.body, "keyword": keyword, "rule": match.rule,
                        "from": sender, "replied_to_touch": replied_to},
        })],
        now=now,
        source="twilio",
        settings=settings,
    )  # fmt: skip
    return InboundResult(customer, keyword, reply, duplicate, channel.name, match.rule)


def _keyword(
    session: Session,
    channel: InboundChannel,
    customer_id: str | None,
    keyword: Keyword,
    word: str,
    evidence: dict[str, Any],
    at: datetime,
    settings: Settings,
    match: OptOutMatch,
) -> str | None:
    """The keyword's effect on the ledger of the channel it came by, and the answer."""
    outcome = apply_keyword(session, customer_id, keyword, word=word, evidence=evidence, at=at,
                            settings=settings, channel=channel.name, match=match)  # fmt: skip
    return outcome.reply
