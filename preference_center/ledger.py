"""Changing consent: every change a new ledger row with its source and evidence.

Nothing here updates or deletes a ledger row. The current state is the newest row
(preference_center.consent); the history is every row, in order.

SMS marketing needs a double opt-in (when ``sms_double_opt_in`` is on): a grant from a
form, the API or an event is recorded as *pending* until the customer confirms by
replying YES or opening the confirmation link. A grant that carries proof of an earlier
confirmation (``evidence.confirmed_at``, e.g. imported from another system) counts as
confirmed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from preference_center.consent import (
    ALL_CHANNELS,
    GRANTED,
    MARKETING,
    PENDING,
    REVOKED,
    TRANSACTIONAL,
    ConsentState,
    fold_ledger,
)
from preference_center.schemas import ConsentIn
from touchline.config import Settings
from touchline.errors import PreferenceError, Problem, UnknownCustomerError
from touchline.journeys.model import KNOWN_CHANNELS
from touchline.record import Consent, Customer

SOURCES = (
    "signup_form", "api", "sms_keyword", "whatsapp_keyword", "unsubscribe_link", "preference_page",
    "confirmation_link", "admin", "import", "provider", "merge", "event",
)  # fmt: skip
# The event a pending SMS marketing grant emits: the shipped sms_double_opt_in journey turns
# it into one text asking the customer to confirm.
CONFIRMATION_REQUESTED = "consent.sms_confirmation_requested"
# Sources that are the customer confirming with their own phone or inbox.
CONFIRMING_SOURCES = frozenset({"sms_keyword", "whatsapp_keyword", "confirmation_link"})


@dataclass
class LedgerResult:
    rows: list[Consent] = field(default_factory=list)
    # Channels whose marketing grant now waits for the customer's confirmation.
    awaiting_confirmation: list[str] = field(default_factory=list)


def customer_or_error(session: Session, customer_id: str) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise UnknownCustomerError(customer_id)
    return customer


def current_consents(session: Session, customer_id: str) -> dict[tuple[str, str], ConsentState]:
    rows = session.execute(
        select(Consent.channel, Consent.purpose, Consent.status, Consent.source,
               Consent.recorded_at)
        .where(Consent.customer_id == customer_id, Consent.topic.is_(None))
        .order_by(Consent.recorded_at, Consent.id)
    ).all()  # fmt: skip
    return fold_ledger(tuple(r) for r in rows)


def record_consent(
    session: Session,
    customer_id: str,
    changes: Sequence[ConsentIn],
    *,
    source: str,
    evidence: Mapping[str, Any],
    at: datetime,
    settings: Settings,
) -> LedgerResult:
    """Append the changes to the ledger; refuse the whole set if one change is invalid."""
    customer_or_error(session, customer_id)
    problems = _problems(changes, source, settings)
    if problems:
        raise PreferenceError(problems)
    current = current_consents(session, customer_id)
    result = LedgerResult()
    for change in changes:
        status = change.status
        merged_evidence = {**evidence, **change.evidence}
        if needs_confirmation(change, current, source, merged_evidence, settings):
            status = PENDING
            result.awaiting_confirmation.append(change.channel)
        row = Consent(
            customer_id=customer_id,
            channel=change.channel,
            purpose=change.purpose,
            topic=change.topic,
            status=status,
            source=source,
            evidence=merged_evidence,
            recorded_at=at,
        )
        session.add(row)
        result.rows.append(row)
        if change.topic is None:
            current[(change.channel, change.purpose)] = ConsentState(status, source, at)
    session.flush()
    return result


def confirm_sms(
    session: Session, customer_id: str, *, source: str, evidence: Mapping[str, Any],
    at: datetime,
) -> bool:  # fmt: skip
    """Turn a pending SMS marketing grant into a grant. False if nothing was pending."""
    state = current_consents(session, customer_id).get(("sms", MARKETING))
    if state is None or state.status != PENDING:
        return False
    session.add(
        Consent(
            customer_id=customer_id, channel="sms", purpose=MARKETING, status=GRANTED,
            source=source, evidence=dict(evidence), recorded_at=at,
        )
    )  # fmt: skip
    session.flush()
    return True


def unsubscribe_all(
    session: Session, customer_id: str, *, source: str, evidence: Mapping[str, Any],
    at: datetime, channels: Iterable[str] = KNOWN_CHANNELS,
) -> list[Consent]:  # fmt: skip
    """Revoke marketing on every channel. Transactional messages (a receipt, a password
    reset) still reach the customer: they asked to stop marketing, not their account."""
    customer_or_error(session, customer_id)
    rows = [
        Consent(
            customer_id=customer_id, channel=channel, purpose=MARKETING, status=REVOKED,
            source=source, evidence=dict(evidence), recorded_at=at,
        )
        for channel in channels
    ]  # fmt: skip
    session.add_all(rows)
    session.flush()
    return rows


def history(session: Session, customer_id: str) -> list[Consent]:
    """Every ledger row of the customer, oldest first."""
    customer_or_error(session, customer_id)
    return list(
        session.execute(
            select(Consent)
            .where(Consent.customer_id == customer_id)
            .order_by(Consent.recorded_at, Consent.id)
        ).scalars()
    )


def needs_confirmation(
    change: ConsentIn,
    current: Mapping[tuple[str, str], ConsentState],
    source: str,
    evidence: Mapping[str, Any],
    settings: Settings,
) -> bool:
    if not settings.sms_double_opt_in:
        return False
    if (change.channel, change.purpose, change.topic, change.status) != (
        "sms", MARKETING, None, GRANTED,
    ):  # fmt: skip
        return False
    if source in CONFIRMING_SOURCES or evidence.get("confirmed_at"):
        return False
    state = current.get(("sms", MARKETING))
    # Already confirmed: a repeated grant (the form submitted twice) asks nothing again.
    return not (state is not None and state.status == GRANTED)


def _problems(changes: Sequence[ConsentIn], source: str, settings: Settings) -> list[Problem]:
    problems = []
    if source not in SOURCES:
        problems.append(Problem("source", f"unknown source '{source}'"))
    for index, change in enumerate(changes):
        where = f"consents.{index}"
        if change.topic is not None:
            if change.topic not in settings.topics:
                problems.append(Problem(f"{where}.topic", f"unknown topic '{change.topic}'"))
            elif change.topic in settings.required_topics and change.status == REVOKED:
                problems.append(
                    Problem(f"{where}.topic", f"'{change.topic}' cannot be left: it carries "
                            "notices about the customer's own account")
                )  # fmt: skip
        elif change.channel == ALL_CHANNELS:
            problems.append(Problem(f"{where}.channel", 'channel "all" is for topics'))
        if change.purpose == TRANSACTIONAL and change.status == PENDING:
            problems.append(
                Problem(f"{where}.status", "transactional messages need no confirmation")
            )
    return problems
