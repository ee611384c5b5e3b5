"""Linking addresses and handles to customers — only on evidence, never on a guess.

A wrong link is worse than none: it sends one person's receipts to another and merges two
histories. So a link needs evidence (the event that carried it, a reply from the number, a
verified login), an address already linked to someone else is refused rather than moved,
and inbound messages resolve only through links made this way.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from preference_center.identities import InvalidAddress, normalise
from preference_center.ledger import customer_or_error
from touchline.errors import IdentityConflictError, PreferenceError, Problem
from touchline.privacy.returning import revoke_for_erased
from touchline.record import Customer, Identity

KINDS = ("email", "phone", "whatsapp", "x_handle")


def link_identity(
    session: Session,
    customer_id: str,
    kind: str,
    value: str,
    *,
    source: str,
    evidence: Mapping[str, Any],
    verified: bool = False,
    at: datetime,
    default_region: str | None = None,
) -> Identity:
    """Link an address to a customer (idempotent for the same pair)."""
    customer = customer_or_error(session, customer_id)
    if customer.merged_into:
        raise PreferenceError(
            [Problem("customer_id", f"{customer_id} was merged into {customer.merged_into}")]
        )
    normalised = normalised_or_error(kind, value, default_region)
    problems = []
    if not evidence:
        problems.append(
            Problem("evidence", "a link needs evidence: the event, message or login that "
                    "shows the address is this customer's")
        )  # fmt: skip
    if not source.strip():
        problems.append(Problem("source", "is required"))
    if problems:
        raise PreferenceError(problems)
    existing = session.execute(
        select(Identity).where(Identity.kind == kind, Identity.value == normalised)
    ).scalar_one_or_none()
    if existing is not None:
        if existing.customer_id != customer_id:
            raise IdentityConflictError(kind, normalised, existing.customer_id)
        if verified and not existing.verified:
            existing.verified = True
            existing.evidence = {**(existing.evidence or {}), "verified_by": dict(evidence)}
        return existing
    identity = Identity(
        customer_id=customer_id,
        kind=kind,
        value=normalised,
        verified=verified,
        source=source[:64],
        evidence=dict(evidence),
        created_at=at,
    )
    session.add(identity)
    session.flush()
    # An address erased before (touchline.privacy) comes back without its old consents.
    revoke_for_erased(session, [(customer_id, kind, normalised)], at)
    return identity


def unlink_identity(session: Session, customer_id: str, kind: str, value: str) -> None:
    customer_or_error(session, customer_id)
    normalised = normalised_or_error(kind, value)
    removed = session.execute(
        delete(Identity).where(
            Identity.customer_id == customer_id,
            Identity.kind == kind,
            Identity.value == normalised,
        )
    ).rowcount
    if not removed:
        raise PreferenceError([Problem("value", f"{customer_id} has no {kind} {normalised}")])


def identities(session: Session, customer_id: str) -> list[Identity]:
    customer_or_error(session, customer_id)
    return list(
        session.execute(
            select(Identity)
            .where(Identity.customer_id == customer_id)
            .order_by(Identity.kind, Identity.created_at, Identity.id)
        ).scalars()
    )


def resolve_customer(session: Session, kind: str, value: str) -> str | None:
    """The customer an address belongs to, following merges; None for a stranger."""
    try:
        normalised = normalise(kind, value)
    except InvalidAddress:
        return None
    owner = session.execute(
        select(Identity.customer_id).where(Identity.kind == kind, Identity.value == normalised)
    ).scalar_one_or_none()
    return follow_merges(session, owner) if owner else None


def follow_merges(session: Session, customer_id: str) -> str:
    seen = {customer_id}
    while True:
        merged_into = session.execute(
            select(Customer.merged_into).where(Customer.id == customer_id)
        ).scalar_one_or_none()
        if not merged_into or merged_into in seen:
            return customer_id
        seen.add(merged_into)
        customer_id = merged_into


def normalised_or_error(kind: str, value: str, default_region: str | None = None) -> str:
    if kind not in KINDS:
        raise PreferenceError(
            [Problem("kind", f"unknown identity kind '{kind}'; kinds are {', '.join(KINDS)}")]
        )
    try:
        return normalise(kind, value, default_region)
    except InvalidAddress as exc:
        raise PreferenceError([Problem("value", str(exc))]) from exc
