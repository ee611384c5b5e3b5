"""Erasing a customer: their personal data out of every table, the proof the law lets us
keep turned into keyed hashes.

The person is the customer and every profile merged into them (a merge joined two profiles
of one person; erasing half of them would not be erasure). What happens, table by table:

- ``customer``: attributes emptied (the row stays, pseudonymous, so that history and
  reports still add up and old links resolve to nobody's data);
- ``identity`` and ``preference``: deleted; each address left behind as a suppression
  under its keyed hash (reason ``erased``: touchline.privacy.returning);
- ``event`` payloads, ``enrollment`` contexts, ``touch`` decisions and ``interaction``
  details (rendered messages, provider webhooks): personal data replaced with
  ``[erased]`` (touchline.privacy.scrub); touches lose their address; active enrollments
  end ("customer erased");
- ``consent`` evidence, ``suppression`` rows of their addresses, ``customer_merge`` audits:
  kept as proof, every personal value replaced by its keyed hash; and the ledger gets a
  revocation of marketing on every channel, so nothing resumes for this id;
- learned channel and timing effectiveness of the customer: deleted (profiling);
- any other table with a ``customer_id`` column: its JSON and text scrubbed, so that a
  table added later is erased too (the test over every table guards this).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, or_, select, update
from sqlalchemy.orm import Session

from preference_center.identities import CHANNEL_IDENTITY
from preference_center.ledger import customer_or_error, unsubscribe_all
from preference_center.linking import follow_merges
from touchline.config import Settings
from touchline.db import chunked, metadata
from touchline.privacy.keys import keyed_hash
from touchline.privacy.returning import ERASED, SOURCE
from touchline.privacy.scrub import Scrubber, is_personal_key, regions_of
from touchline.record import (
    ChannelEffectiveness,
    Consent,
    Customer,
    CustomerMerge,
    Enrollment,
    Event,
    Identity,
    Interaction,
    Preference,
    Suppression,
    TimingEffectiveness,
    Touch,
)
from touchline.record.enrollments import ACTIVE, EXITED

END_REASON = "customer erased"
# Tables handled one by one below; every other table with a customer_id is scrubbed whole.
HANDLED = frozenset(
    {
        "customer",
        "identity",
        "preference",
        "event",
        "enrollment",
        "touch",
        "interaction",
        "consent",
        "suppression",
        "customer_merge",
        "channel_effectiveness",
        "timing_effectiveness",
        "privacy_audit",
    }
)
KIND_OF_CHANNEL = dict(CHANNEL_IDENTITY)


@dataclass
class Erasure:
    customer_id: str  # the customer now (after merges)
    profiles: list[str]  # every id of the person: the customer and profiles merged into it
    counts: dict[str, int] = field(default_factory=dict)


def profiles_of(session: Session, customer_id: str) -> list[str]:
    """The customer (followed through merges) and every profile merged into them."""
    customer_or_error(session, customer_id)
    survivor = follow_merges(session, customer_id)
    group, frontier = [survivor], [survivor]
    while frontier:
        merged = list(
            session.scalars(select(Customer.id).where(Customer.merged_into.in_(frontier)))
        )
        frontier = [m for m in merged if m not in group]
        group += frontier
    return group


def erase_customer(
    session: Session, customer_id: str, *, settings: Settings, at: datetime
) -> Erasure:
    ids = profiles_of(session, customer_id)
    erasure = Erasure(ids[0], ids)
    counts = erasure.counts
    addresses = _addresses(session, ids)
    known = [*addresses, *_profile_values(session, ids)]
    regions = regions_of(v for k, v in addresses if k in ("phone", "whatsapp"))
    erased = scrubbed(Scrubber(known, regions=regions).value)
    proof = scrubbed(
        Scrubber(known, replace=lambda k, v: keyed_hash(settings, k, v), regions=regions).value
    )

    # Proof kept, readable no more: the ledger's evidence, suppressions, merge audits.
    unsubscribe_all(
        session,
        erasure.customer_id,
        source=SOURCE,
        at=at,
        evidence={"reason": "the customer's data was erased at their request"},
    )
    counts["consent"] = _rewrite(
        session,
        Consent.__table__,
        Consent.customer_id.in_(ids),
        {"evidence": proof},
    )
    plain = sorted({value for _, value in addresses})
    counts["suppression"] = (
        _rewrite(
            session,
            Suppression.__table__,
            Suppression.value.in_(plain),
            {"value": lambda v, row: keyed_hash(settings, row["kind"], v), "evidence": proof},
        )
        if plain
        else 0
    )
    counts["customer_merge"] = _rewrite(
        session,
        CustomerMerge.__table__,
        or_(CustomerMerge.source_customer_id.in_(ids), CustomerMerge.target_customer_id.in_(ids)),
        {"evidence": proof, "moved": proof, "reason": proof},
    )
    counts["suppression_added"] = _suppress(session, settings, ids, addresses, at)

    # Gone: addresses, stated preferences, what was learned about them.
    counts["identity"] = _delete(session, delete(Identity).where(Identity.customer_id.in_(ids)))
    counts["preference"] = _delete(
        session, delete(Preference).where(Preference.customer_id.in_(ids))
    )
    for model in (ChannelEffectiveness, TimingEffectiveness):
        counts[model.__tablename__] = _delete(
            session,
            delete(model).where(model.scope == "customer", model.scope_key.in_(ids)),  # type: ignore[attr-defined]
        )
    counts["customer"] = _rewrite(
        session,
        Customer.__table__,
        Customer.id.in_(ids),
        {"attributes": lambda _v, _row: {}, "updated_at": lambda _v, _row: at},
    )

    # History kept for the record's sums, its personal data replaced.
    counts["event"] = _rewrite(
        session, Event.__table__, Event.customer_id.in_(ids), {"payload": erased}
    )
    counts["enrollment_ended"] = _end_enrollments(session, ids, at)
    counts["enrollment"] = _rewrite(
        session,
        Enrollment.__table__,
        Enrollment.customer_id.in_(ids),
        {"context": erased, "end_reason": erased},
    )
    counts["touch"] = _rewrite(
        session,
        Touch.__table__,
        Touch.customer_id.in_(ids),
        {"address": lambda _v, _row: None, "decision": erased},
    )
    counts["interaction"] = _rewrite(
        session,
        Interaction.__table__,
        Interaction.customer_id.in_(ids),
        {"detail": erased},
    )
    for table in _other_tables():
        counts[table.name] = _rewrite(
            session,
            table,
            table.c.customer_id.in_(ids),
            {c.name: erased for c in _free_form_columns(table)},
        )
    session.flush()
    return erasure


def _addresses(session: Session, ids: list[str]) -> list[tuple[str, str]]:
    """Every address of theirs: linked now, or written to by a touch (an old number)."""
    found = set(
        session.execute(select(Identity.kind, Identity.value).where(Identity.customer_id.in_(ids)))
        .tuples()
        .all()
    )
    for channel, address in session.execute(
        select(Touch.channel, Touch.address)
        .where(Touch.customer_id.in_(ids), Touch.address.is_not(None))
        .distinct()
    ):
        if channel in KIND_OF_CHANNEL and address:
            found.add((KIND_OF_CHANNEL[channel], address))
    return sorted(found)


def _profile_values(session: Session, ids: list[str]) -> list[tuple[str, str]]:
    """Personal values of their profiles (names, a street…), found in free text later."""
    values: list[tuple[str, str]] = []
    for attributes in session.scalars(select(Customer.attributes).where(Customer.id.in_(ids))):
        values += _personal_leaves(attributes or {}, personal=False)
    return values


def _personal_leaves(data: Any, *, personal: bool) -> list[tuple[str, str]]:
    if isinstance(data, Mapping):
        return [
            leaf
            for key, value in data.items()
            for leaf in _personal_leaves(value, personal=personal or is_personal_key(str(key)))
        ]
    if isinstance(data, list | tuple):
        return [leaf for item in data for leaf in _personal_leaves(item, personal=personal)]
    if personal and isinstance(data, str) and data.strip():
        # A full name also appears as its parts ("Dear Ada").
        parts = [p for p in data.split() if len(p) >= 2]
        return [("text", data.strip()), *(("text", p) for p in parts if len(parts) > 1)]
    return []


def _suppress(
    session: Session,
    settings: Settings,
    ids: list[str],
    addresses: list[tuple[str, str]],
    at: datetime,
) -> int:
    """A suppression of each address under its keyed hash: a re-import is recognised."""
    owners = {}
    for chunk in chunked(sorted({value for _, value in addresses})):
        for kind, value, owner in session.execute(
            select(Identity.kind, Identity.value, Identity.customer_id).where(
                Identity.value.in_(chunk)
            )
        ).tuples():
            owners[(kind, value)] = owner
    rows = [
        Suppression(
            kind=kind,
            value=keyed_hash(settings, kind, value),
            reason=ERASED,
            source=SOURCE,
            evidence={},
            created_at=at,
        )
        for kind, value in addresses
        # An old number of theirs that now belongs to someone else is that person's.
        if owners.get((kind, value), ids[0]) in ids
    ]
    session.add_all(rows)
    session.flush()
    return len(rows)


def _end_enrollments(session: Session, ids: list[str], at: datetime) -> int:
    result = session.execute(
        update(Enrollment)
        .where(Enrollment.customer_id.in_(ids), Enrollment.status == ACTIVE)
        .values(
            status=EXITED,
            ended_at=at,
            end_reason=END_REASON,
            next_action_at=None,
            waiting_for=None,
            lease_owner=None,
            lease_expires_at=None,
            updated_at=at,
            revision=Enrollment.revision + 1,
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _delete(session: Session, statement: Any) -> int:
    return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]


Rewrite = Callable[[Any, Mapping[str, Any]], Any]


def scrubbed(scrub: Callable[[Any], Any]) -> Rewrite:
    return lambda value, _row: None if value is None else scrub(value)


def _rewrite(
    session: Session,
    table: Table,
    where: ColumnElement[bool],
    columns: Mapping[str, Rewrite],
) -> int:
    """Rewrite the given columns of the matching rows (each rewrite takes the value and the
    whole row); returns the rows changed."""
    if not columns:
        return 0
    keys = [c for c in table.primary_key.columns]
    changed = 0
    rows = session.execute(select(table).where(where)).mappings().all()
    for row in rows:
        values = {}
        for name, rewrite in columns.items():
            new = rewrite(row[name], row)
            if new != row[name]:
                values[name] = new
        if values:
            session.execute(update(table).where(*(k == row[k.name] for k in keys)).values(**values))
            changed += 1
    return changed


def _free_form_columns(table: Table) -> list[Any]:
    """The columns personal data can hide in: text and JSON, bar keys and the owner."""
    return [
        column
        for column in table.columns
        if not column.primary_key
        and not column.foreign_keys
        and _python_type(column) in (str, dict, list)
    ]


def _python_type(column: Any) -> type | None:
    try:
        return column.type.python_type
    except NotImplementedError:
        return None


def _other_tables() -> list[Table]:
    return [
        table
        for table in metadata().sorted_tables
        if table.name not in HANDLED and "customer_id" in table.c
    ]
