"""Changing consent: every change a new ledger row with its source and evidence.

This module is the only writer of consent rows (and, through
``preference_center.suppression``, of suppressions): the API, the preference page, SMS
keywords, event intake, provider webhooks and the send step's provider opt-outs all come
here. Nothing here updates or deletes a ledger row. Each row carries when it happened, as
told (``recorded_at``, evidence) and when Touchline received it (``received_at``, the
order): the current state is the row received last (preference_center.consent). A change
dated further ahead of its receipt than ``settings.clock_skew_tolerance`` is refused.

SMS marketing needs a double opt-in (when ``sms_double_opt_in`` is on): a grant from a
form, the API or an event is recorded as *pending* until the customer confirms by
replying YES or opening the confirmation link. A grant that carries proof of an earlier
confirmation (``evidence.confirmed_at``, e.g. imported from another system) counts as
confirmed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from preference_center.consent import (
    ALL_CHANNELS,
    GRANTED,
    MARKETING,
    PENDING,
    PURPOSES,
    REVOKED,
    STATUSES,
    TRANSACTIONAL,
    ConsentState,
    fold_ledger,
)
from preference_center.schemas import ConsentIn
from preference_center.suppression import SuppressionIn, suppress_addresses
from touchline.config import Settings, get_settings
from touchline.errors import PreferenceError, Problem, UnknownCustomerError
from touchline.journeys.model import KNOWN_CHANNELS
from touchline.record import Consent, Customer

SOURCES = (
    "signup_form", "api", "sms_keyword", "whatsapp_keyword", "unsubscribe_link", "preference_page",
    "confirmation_link", "admin", "import", "provider", "merge", "event",
)  # fmt: skip
SOURCES = (*SOURCES, "x_dm")  # an X DM asking us to stop (touchline.inbound.social)
# The event a pending SMS marketing grant emits: the shipped sms_double_opt_in journey turns
# it into one text asking the customer to confirm.
CONFIRMATION_REQUESTED = "consent.sms_confirmation_requested"
# Sources that are the customer confirming with their own phone or inbox.
CONFIRMING_SOURCES = frozenset({"sms_keyword", "whatsapp_keyword", "confirmation_link"})

__all__ = [
    "LedgerChange", "SuppressionIn", "append_changes", "confirm_sms", "record_consent",
    "record_provider_opt_outs", "suppress_addresses", "unsubscribe_all",
]  # fmt: skip


@dataclass(frozen=True)
class LedgerChange:
    """One consent change to append, for any customer (event intake, provider webhooks)."""

    customer_id: str
    channel: str
    purpose: str
    status: str
    source: str
    evidence: Mapping[str, Any]
    at: datetime  # when it happened, as told
    topic: str | None = None


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
        .order_by(Consent.received_at, Consent.id)
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
    received_at: datetime | None = None,
) -> LedgerResult:
    """Append the changes to the ledger; refuse the whole set if one change is invalid.
    ``at``: when they happened; ``received_at``: when Touchline got them (default ``at``)."""
    customer_or_error(session, customer_id)
    received = received_at or at
    problems = _problems(changes, source, settings) + _timing_problems(
        [at], received, settings.clock_skew_tolerance
    )
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
            **_values(
                LedgerChange(customer_id, change.channel, change.purpose, status, source,
                             merged_evidence, at, change.topic),
                received,
            )
        )  # fmt: skip
        session.add(row)
        result.rows.append(row)
        if change.topic is None:
            current[(change.channel, change.purpose)] = ConsentState(
                status, source, row.recorded_at
            )
    session.flush()
    return result


def confirm_sms(
    session: Session, customer_id: str, *, source: str, evidence: Mapping[str, Any],
    at: datetime, received_at: datetime | None = None,
) -> bool:  # fmt: skip
    """Turn a pending SMS marketing grant into a grant. False if nothing was pending."""
    state = current_consents(session, customer_id).get(("sms", MARKETING))
    if state is None or state.status != PENDING:
        return False
    change = LedgerChange(customer_id, "sms", MARKETING, GRANTED, source, evidence, at)
    session.add(Consent(**_values(change, received_at or at)))
    session.flush()
    return True


def unsubscribe_all(
    session: Session, customer_id: str, *, source: str, evidence: Mapping[str, Any],
    at: datetime, channels: Iterable[str] = KNOWN_CHANNELS, received_at: datetime | None = None,
) -> list[Consent]:  # fmt: skip
    """Revoke marketing on every channel. Transactional messages (a receipt, a password
    reset) still reach the customer: they asked to stop marketing, not their account."""
    customer_or_error(session, customer_id)
    rows = [
        Consent(**_values(
            LedgerChange(customer_id, channel, MARKETING, REVOKED, source, evidence, at),
            received_at or at,
        ))
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
            .order_by(Consent.received_at, Consent.id)
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


def append_changes(
    session: Session,
    changes: Sequence[LedgerChange],
    *,
    received_at: datetime,
    settings: Settings | None = None,
) -> int:
    """Append changes of many customers in one statement (intake, webhooks, the send step);
    refuse them all, naming each problem, if one is invalid. Confirmation rules (SMS double
    opt-in) are the caller's: the status given is the status written."""
    if not changes:
        return 0
    settings = settings or get_settings()
    problems = _timing_problems([c.at for c in changes], received_at, settings.clock_skew_tolerance)
    for index, change in enumerate(changes):
        if not change.source.strip():
            problems.append(Problem(f"consents.{index}.source", "is required"))
        if change.status not in STATUSES or change.purpose not in PURPOSES:
            problems.append(
                Problem(f"consents.{index}", f"unknown status or purpose: {change.status}, {change.purpose}")
            )  # fmt: skip
    if problems:
        raise PreferenceError(problems)
    session.execute(
        Consent.__table__.insert(),  # type: ignore[attr-defined]
        [_values(change, received_at) for change in changes],
    )
    return len(changes)


def record_provider_opt_outs(
    session: Session,
    opt_outs: Sequence[tuple[str, str, Any, str]],
    at: datetime,
    settings: Settings | None = None,
) -> int:
    """(customer, channel, provider error, touch id): the provider says the recipient opted
    out with them (e.g. texted STOP to our number) — every purpose on that channel ends."""
    changes = [
        LedgerChange(
            customer, channel, purpose, REVOKED, "provider",
            {"provider": error.provider, "code": error.code, "message": error.message,
             "touch_id": touch_id},
            at,
        )
        for customer, channel, error, touch_id in opt_outs
        for purpose in (MARKETING, TRANSACTIONAL)
    ]  # fmt: skip
    return append_changes(session, changes, received_at=at, settings=settings)


def future_problem(at: datetime, received_at: datetime, tolerance: timedelta) -> Problem | None:
    """Why a change dated ``at`` cannot be received at ``received_at``, or None."""
    if at <= received_at + tolerance:
        return None
    return Problem(
        "occurred_at",
        f"{at.isoformat()} is in the future: a consent change cannot be dated after it "
        f"reached Touchline ({received_at.isoformat()}, tolerance {tolerance})",
    )


def _timing_problems(
    times: Iterable[datetime], received_at: datetime, tolerance: timedelta
) -> list[Problem]:
    return [p for at in sorted(set(times)) if (p := future_problem(at, received_at, tolerance))]


def _values(change: LedgerChange, received_at: datetime) -> dict[str, Any]:
    """The row for a change. A change dated a little ahead of its receipt (clock skew,
    within tolerance) is recorded at its receipt: no state is dated in the future."""
    return {
        "customer_id": change.customer_id,
        "channel": change.channel,
        "purpose": change.purpose,
        "topic": change.topic,
        "status": change.status,
        "source": change.source[:32],
        "evidence": dict(change.evidence),
        "recorded_at": min(change.at, received_at),
        "received_at": received_at,
    }
