"""SMS keywords as carriers define them (CTIA; Twilio's defaults): the whole message, case
and surrounding blanks ignored. "Stop texting me about shoes" is a message, not a STOP.

A STOP from a number ends every message from our number to it, transactional included —
that is what the carrier enforces, and what the customer expects. START / UNSTOP / YES
bring the number back; YES also confirms a pending SMS double opt-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.orm import Session

from preference_center.consent import GRANTED, MARKETING, PENDING, REVOKED, TRANSACTIONAL
from preference_center.ledger import confirm_sms, current_consents, record_consent
from preference_center.schemas import ConsentIn
from touchline.config import Settings

OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN = frozenset({"START", "YES", "UNSTOP"})
HELP = frozenset({"HELP", "INFO"})

Keyword = Literal["opt_out", "opt_in", "help"]


def classify(body: str) -> Keyword | None:
    word = body.strip().upper()
    if word in OPT_OUT:
        return "opt_out"
    if word in OPT_IN:
        return "opt_in"
    if word in HELP:
        return "help"
    return None


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
    evidence = {**evidence, "keyword": word}
    if keyword == "opt_out":
        if customer_id is not None:
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
