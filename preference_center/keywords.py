"""Keywords and opt-outs in customers' messages, and what they do to the consent ledger.

What a message asks for is read by preference_center.opt_out_text: carriers' keywords
(STOP, START, HELP… — the whole message, however it is punctuated, cased or decorated) and
requests to stop in plain words ("Stop texting me", "remove me from your list"), which
the FCC's 2024 rule counts as revocations. The rule that matched goes into the ledger's
evidence.

A STOP from a number ends every message from our number to it, transactional included —
that is what the carrier enforces, and what the customer expects. START / UNSTOP / YES
bring the number back; YES also confirms a pending SMS double opt-in.

One confirmation per opt-out: a STOP that changes the ledger is answered; a STOP while
the channel is already revoked changes nothing and is not answered again — the number is
opted out, and carriers allow one confirmation, not one per message (docs/opt-outs.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.orm import Session

from preference_center.consent import GRANTED, MARKETING, PENDING, REVOKED, TRANSACTIONAL
from preference_center.ledger import confirm_sms, current_consents, record_consent
from preference_center.opt_out_text import OptOutMatch
from preference_center.opt_out_text import classify as read_message
from preference_center.schemas import ConsentIn
from touchline.config import Settings

Keyword = Literal["opt_out", "opt_in", "help"]
# How much of the customer's own words the evidence keeps (Twilio allows 1,600 characters).
EVIDENCE_TEXT = 320

__all__ = ["Keyword", "KeywordOutcome", "OptOutMatch", "apply_keyword", "classify", "read_message"]


def classify(body: str) -> Keyword | None:
    """What the message asks for, if anything (read_message says by which rule)."""
    kind = read_message(body).kind
    return None if kind == "none" else kind


@dataclass(frozen=True)
class KeywordOutcome:
    keyword: Keyword
    reply: str | None  # what to answer by SMS (TwiML), if anything
    changed: tuple[str, ...]  # what happened, in words, for the record


# What the customer reads back, per channel: carriers' wording for texts; WhatsApp's own.
_REPLIES = {
    "sms": {
        "help": "{company}: help at {help_url}. Msg&data rates may apply. Reply STOP to opt out.",
        "opt_out": "{company}: you are unsubscribed and will receive no more texts. "
        "Reply START to resubscribe.",
        "opt_in": "{company}: you are subscribed to texts. Reply HELP for help, STOP to opt out.",
    },
    "whatsapp": {
        "help": "{company}: help at {help_url}. Reply STOP to stop WhatsApp messages from us.",
        "opt_out": "{company}: you will receive no more WhatsApp messages from us. "
        "Reply START to resubscribe.",
        "opt_in": "{company}: you are subscribed to WhatsApp messages again. "
        "Reply STOP to opt out.",
    },
}
KEYWORD_CHANNELS = tuple(_REPLIES)


def keyword_source(channel: str) -> str:
    return f"{channel}_keyword"


def apply_keyword(
    session: Session,
    customer_id: str | None,
    keyword: Keyword,
    *,
    word: str,
    evidence: dict[str, Any],
    at: datetime,
    settings: Settings,
    channel: str = "sms",
    match: OptOutMatch | None = None,
) -> KeywordOutcome:
    """The keyword's effect on the ledger of the channel it came by (None: a sender we do
    not know — the caller suppresses the address instead) and the reply the rules ask for.

    STOP on WhatsApp ends WhatsApp messages, not texts: the customer asked it of the app
    they wrote in. Only SMS has a double opt-in, so only there does YES confirm one.
    """
    if channel not in _REPLIES:
        raise ValueError(f"keywords are not handled on channel '{channel}'")
    replies = {
        name: text.format(company=settings.company_name,
                          help_url=f"{settings.public_url.rstrip('/')}/help")
        for name, text in _REPLIES[channel].items()
    }  # fmt: skip
    if keyword == "help":
        return KeywordOutcome(keyword, replies["help"], ())
    source = keyword_source(channel)
    evidence = {**evidence, "keyword": word[:EVIDENCE_TEXT]}
    if match is not None:
        evidence.update(match.evidence)
    if keyword == "opt_out":
        if customer_id is not None:
            state = current_consents(session, customer_id)
            if all(
                (s := state.get((channel, p))) is not None and s.status == REVOKED
                for p in (MARKETING, TRANSACTIONAL)
            ):
                return KeywordOutcome(keyword, None, ())
            record_consent(
                session, customer_id,
                [ConsentIn(channel=channel, purpose=p, status=REVOKED)
                 for p in (MARKETING, TRANSACTIONAL)],
                source=source, evidence=evidence, at=at, settings=settings,
            )  # fmt: skip
        return KeywordOutcome(
            keyword, replies["opt_out"], (f"{channel} revoked (marketing, transactional)",)
        )
    # opt_in
    if customer_id is None:
        return KeywordOutcome(keyword, None, ())
    state = current_consents(session, customer_id)
    pending = state.get((channel, MARKETING))
    if (
        channel == "sms"
        and pending is not None
        and pending.status == PENDING
        and confirm_sms(session, customer_id, source=source, evidence=evidence, at=at)
    ):
        changed: list[str] = ["sms marketing confirmed"]
    else:
        # START after a STOP: the customer asks for messages again, by their own message —
        # which is itself the confirmation a double opt-in asks for.
        wanted = [
            ConsentIn(channel=channel, purpose=p, status=GRANTED)
            for p in (MARKETING, TRANSACTIONAL)
            if (s := state.get((channel, p))) is not None and s.status == REVOKED
        ]
        if wanted:
            record_consent(session, customer_id, wanted, source=source, evidence=evidence,
                           at=at, settings=settings)  # fmt: skip
        changed = [f"{channel} {c.purpose} granted again" for c in wanted]
    return KeywordOutcome(keyword, replies["opt_in"] if changed else None, tuple(changed))
