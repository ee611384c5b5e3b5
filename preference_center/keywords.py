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


def apply_keyword(
    session: Session,
    customer_id: str | None,
    keyword: Keyword,
    *,
    word: str,
    evidence: dict[str, Any],
    at: datetime,
    settings: Settings,
) -> KeywordOutcome:
    """The keyword's effect on the customer's ledger (None: a number we do not know — the
    caller suppresses the number instead) and the reply the carrier rules ask for."""
    company = settings.company_name
    if keyword == "help":
        return KeywordOutcome(
            keyword,
            f"{company}: help at {settings.public_url.rstrip('/')}/help. Msg&data rates may "
            "apply. Reply STOP to opt out.",
            (),
        )
    evidence = {**evidence, "keyword": word}
    if keyword == "opt_out":
        if customer_id is not None:
            record_consent(
                session, customer_id,
                [ConsentIn(channel="sms", purpose=p, status=REVOKED)
                 for p in (MARKETING, TRANSACTIONAL)],
                source="sms_keyword", evidence=evidence, at=at, settings=settings,
            )  # fmt: skip
        return KeywordOutcome(
            keyword,
            f"{company}: you are unsubscribed and will receive no more texts. "
            "Reply START to resubscribe.",
            ("sms revoked (marketing, transactional)",),
        )
    # opt_in
    if customer_id is None:
        return KeywordOutcome(keyword, None, ())
    state = current_consents(session, customer_id)
    if (
        state.get(("sms", MARKETING))
        and state[("sms", MARKETING)].status == PENDING
        and confirm_sms(session, customer_id, source="sms_keyword", evidence=evidence, at=at)
    ):
        changed: list[str] = ["sms marketing confirmed"]
    else:
        # START after a STOP: the customer asks for texts again, by their own message —
        # which is itself the confirmation a double opt-in asks for.
        wanted = [
            ConsentIn(channel="sms", purpose=p, status=GRANTED)
            for p in (MARKETING, TRANSACTIONAL)
            if (s := state.get(("sms", p))) is not None and s.status == REVOKED
        ]
        if wanted:
            record_consent(session, customer_id, wanted, source="sms_keyword",
                           evidence=evidence, at=at, settings=settings)  # fmt: skip
        changed = [f"sms {c.purpose} granted again" for c in wanted]
    return KeywordOutcome(
        keyword,
        f"{company}: you are subscribed to texts. Reply HELP for help, STOP to opt out."
        if changed
        else None,
        tuple(changed),
    )
