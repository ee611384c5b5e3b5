"""Messages customers send us: keywords to the preference center, replies to the record,
and every message from a known customer as an event journeys can start on.

An inbound SMS from a number we know becomes:
  - a REPLIED interaction on the last SMS we sent that number within REPLY_WINDOW (it
    counts as engagement for channel effectiveness), or a RECEIVED one otherwise;
  - a consent change if the whole message is a carrier keyword (STOP, START, YES…);
  - the genesis event ``sms.received`` (text and keyword in the payload).
A number we do not know that texts STOP is suppressed, so that if it is ever linked to a
customer later, it is still not texted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from channels.webhooks.twilio_inbound import InboundMessage
from preference_center.identities import InvalidAddress, normalise_phone
from preference_center.keywords import apply_keyword, classify
from preference_center.linking import resolve_customer
from touchline.config import Settings
from touchline.db import Database, insert_ignoring_duplicates
from touchline.ids import interaction_id
from touchline.intake.ingest import ingest
from touchline.record import Interaction, Suppression, Touch
from touchline.record.touches import RECEIVED, REPLIED, SENT

REPLY_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class InboundResult:
    customer_id: str | None
    keyword: str | None
    reply: str | None
    duplicate: bool


def handle_inbound_sms(
    db: Database, message: InboundMessage, now: datetime, settings: Settings
) -> InboundResult:
    try:
        sender = normalise_phone(message.from_)
    except InvalidAddress:
        sender = message.from_
    keyword = classify(message.body)
    with db.session() as session:
        customer = resolve_customer(session, "phone", sender)
        evidence = {"message_sid": message.message_sid, "from": sender, "to": message.to}
        if customer is None:
            if keyword == "opt_out":
                session.add(
                    Suppression(kind="phone", value=sender, reason="sms_stop",
                                source="twilio_inbound", evidence=evidence, created_at=now)
                )  # fmt: skip
            outcome = (
                apply_keyword(session, None, keyword, word=message.body.strip(),
                              evidence=evidence, at=now, settings=settings)
                if keyword else None
            )  # fmt: skip
            return InboundResult(None, keyword, outcome.reply if outcome else None, False)

        replied_to = session.execute(
            select(Touch.id)
            .join(Interaction, Interaction.touch_id == Touch.id)
            .where(
                Touch.customer_id == customer,
                Touch.channel == "sms",
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
                    "channel": "sms",
                    "provider": "twilio",
                    "provider_message_id": message.message_sid,
                    "occurred_at": now,
                    "recorded_at": now,
                    "detail": {"text": message.body, "keyword": keyword},
                }
            ],
            conflict_columns=["id"],
            returning="id",
        )
        if not stored:
            return InboundResult(customer, keyword, None, True)
        outcome = (
            apply_keyword(session, customer, keyword, word=message.body.strip(),
                          evidence=evidence, at=now, settings=settings)
            if keyword else None
        )  # fmt: skip
    ingest(
        db,
        [(None, {
            "id": f"sms-{message.message_sid}",
            "type": "sms.received",
            "customer_id": customer,
            "occurred_at": now.isoformat(),
            "source": "twilio",
            "payload": {"text": message.body, "keyword": keyword, "from": sender,
                        "replied_to_touch": replied_to},
        })],
        now=now,
        source="twilio",
        settings=settings,
    )  # fmt: skip
    return InboundResult(customer, keyword, outcome.reply if outcome else None, False)
