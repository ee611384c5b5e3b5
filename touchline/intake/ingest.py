"""Events in: validate each, store each once, update profiles, enroll, exit, convert.

Batches of events go through in one transaction each. An invalid event is reported with
its line and field and the rest of the batch goes on. Re-sending an event (same id) stores
nothing and enrolls nobody: everything that follows from an event happens only the first
time it is stored.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from preference_center.consent import ConsentState, fold_ledger
from preference_center.ledger import (
    CONFIRMATION_REQUESTED,
    LedgerChange,
    append_changes,
    needs_confirmation,
)
from preference_center.linking import follow_merges
from touchline.config import Settings, get_settings
from touchline.db import Database, chunked, insert_ignoring_duplicates
from touchline.engine.enroll import LiveJourney, StoredEvent, process_events
from touchline.errors import Problem
from touchline.intake.admission import admit
from touchline.intake.attributes import oversized_attributes
from touchline.intake.schema import EventIn, parse_event
from touchline.intake.tracking_plan import load_plan
from touchline.journeys.store import DefinitionCache
from touchline.privacy.returning import revoke_for_erased
from touchline.record import Consent, Customer, Event, Identity, Journey, Preference

Item = tuple[int | None, str | bytes | dict[str, Any]]  # (line number, raw event)


@dataclass
class IngestReport:
    accepted: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    rejected: list[Problem] = field(default_factory=list)
    rejected_events: int = 0
    enrolled: int = 0
    exited: int = 0
    converted: int = 0
    identity_conflicts: list[str] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)  # accepted, but worth a look

    def merge(self, other: IngestReport) -> IngestReport:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.rejected_events += other.rejected_events
        self.enrolled += other.enrolled
        self.exited += other.exited
        self.converted += other.converted
        self.identity_conflicts += other.identity_conflicts
        self.warnings += other.warnings
        return self

    @property
    def seen(self) -> int:
        return len(self.accepted) + len(self.duplicates) + self.rejected_events


def read_json_lines(stream: IO[str]) -> Iterator[Item]:
    for number, line in enumerate(stream, start=1):
        if line.strip():
            yield number, line


def ingest(
    db: Database,
    items: Iterable[Item],
    *,
    now: datetime,
    source: str,
    batch_size: int = 1000,
    on_progress: Callable[[int], None] | None = None,
    settings: Settings | None = None,
) -> IngestReport:
    settings = settings or get_settings()
    report = IngestReport()
    definitions = DefinitionCache()
    plan = load_plan(settings.tracking_plan_file)
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, batch_size)):
        valid: list[EventIn] = []
        lines: dict[str, int | None] = {}  # event id -> its line, for later refusals
        seen_in_chunk: set[str] = set()
        for line, raw in chunk:
            event, problems = parse_event(raw, source=source, line=line)
            if event is not None:
                # Dated in the future, undeclared in the tracking plan, a payload that
                # breaks its schema: this event alone is rejected, with its line.
                admission = admit(event, now=now, settings=settings, plan=plan,
                                  source=source, line=line)  # fmt: skip
                report.warnings.extend(admission.warnings)
                if not admission.admitted:
                    event, problems = None, admission.problems
            if event is None:
                report.rejected.extend(problems)
                report.rejected_events += 1
            elif event.id in seen_in_chunk:
                report.duplicates.append(event.id)
            else:
                seen_in_chunk.add(event.id)
                lines[event.id] = line
                valid.append(event)
        if valid:
            with db.session() as session:
                valid = _within_attribute_limit(session, valid, lines, source, report, settings)
                if valid:
                    _store(session, valid, now, source, definitions, report, settings)
        if on_progress:
            on_progress(len(chunk))
    return report


def _within_attribute_limit(
    session: Session,
    events: list[EventIn],
    lines: dict[str, int | None],
    source: str,
    report: IngestReport,
    settings: Settings,
) -> list[EventIn]:
    """The events whose attributes keep their customer within the limit; the others are
    rejected, naming the field and their line (the API's index in a batch)."""
    changes = [(e.customer_id, e.profile.attributes if e.profile else {}) for e in events]
    oversized = oversized_attributes(session, changes, settings.customer_attributes_max_bytes)
    for index, problem in oversized.items():
        message = f"event {events[index].id}: {problem}"
        line = lines.get(events[index].id)
        report.rejected.append(Problem("profile.attributes", message, source, line))
        report.rejected_events += 1
    return [e for i, e in enumerate(events) if i not in oversized]


def _store(
    session: Session,
    events: list[EventIn],
    now: datetime,
    source: str,
    definitions: DefinitionCache,
    report: IngestReport,
    settings: Settings,
) -> None:
    events = _follow_merges(session, events)
    insert_ignoring_duplicates(
        session,
        Customer,
        [
            {"id": cid, "attributes": {}, "created_at": now, "updated_at": now}
            for cid in {e.customer_id for e in events}
        ],
        conflict_columns=["id"],
    )
    new_ids = set(
        insert_ignoring_duplicates(
            session,
            Event,
            [
                {
                    "id": e.id,
                    "type": e.type,
                    "customer_id": e.customer_id,
                    "occurred_at": e.occurred_at,
                    "received_at": now,
                    "source": e.source or source,
                    "payload": e.payload,
                }
                for e in events
            ],
            conflict_columns=["id"],
            returning="id",
        )
    )
    new = sorted((e for e in events if e.id in new_ids), key=lambda e: e.occurred_at)
    report.accepted.extend(e.id for e in new)
    report.duplicates.extend(e.id for e in events if e.id not in new_ids)
    if not new:
        return
    _apply_profiles(session, new, now, report, settings)
    _apply_preferences(session, new, now)
    follow_ups = _apply_consents(session, new, source, now, settings)
    stored = [StoredEvent(e.id, e.type, e.customer_id, e.occurred_at, e.payload) for e in new]
    if follow_ups:
        # Follow-up events are events like any other: stored once (their ids derive from
        # the event that caused them), and any journey may start on them.
        created = set(
            insert_ignoring_duplicates(
                session,
                Event,
                [
                    {"id": f.id, "type": f.type, "customer_id": f.customer_id,
                     "occurred_at": f.occurred_at, "received_at": now, "source": "touchline",
                     "payload": f.payload}
                    for f in follow_ups
                ],
                conflict_columns=["id"],
                returning="id",
            )
        )  # fmt: skip
        stored += [f for f in follow_ups if f.id in created]
    result = process_events(session, stored, _journeys(session, definitions), now)
    report.enrolled += result.enrolled
    report.exited += result.exited
    report.converted += result.converted


def _follow_merges(session: Session, events: list[EventIn]) -> list[EventIn]:
    """Events naming a customer who was merged into another go to that other: a producer
    that still knows the old id must not bring the merged profile back to life."""
    merged: dict[str, str] = {}
    for chunk in chunked(sorted({e.customer_id for e in events})):
        merged.update(
            session.execute(
                select(Customer.id, Customer.merged_into).where(
                    Customer.id.in_(chunk), Customer.merged_into.is_not(None)
                )
            ).all()
        )
    if not merged:
        return events
    return [
        e.model_copy(update={"customer_id": follow_merges(session, e.customer_id)})
        if e.customer_id in merged
        else e
        for e in events
    ]


def _journeys(session: Session, definitions: DefinitionCache) -> list[LiveJourney]:
    rows = session.execute(select(Journey.id, Journey.key, Journey.version)).all()
    newest: dict[str, int] = {}
    for _, key, version in rows:
        newest[key] = max(version, newest.get(key, 0))
    return [
        LiveJourney(jid, version, definitions.get(session, jid), newest=newest[key] == version)
        for jid, key, version in rows
    ]


def _apply_profiles(
    session: Session,
    events: list[EventIn],
    now: datetime,
    report: IngestReport,
    settings: Settings | None = None,
) -> None:
    with_profile = [e for e in events if e.profile is not None]
    if not with_profile:
        return
    # Attributes: merged, later events winning.
    changes: dict[str, dict[str, Any]] = {}
    for event in with_profile:
        if event.profile and event.profile.attributes:
            changes.setdefault(event.customer_id, {}).update(event.profile.attributes)
    if changes:
        current = dict(
            session.execute(
                select(Customer.id, Customer.attributes).where(Customer.id.in_(changes))
            ).all()
        )
        table = Customer.__table__
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(attributes=bindparam("b_attributes"), updated_at=now),  # type: ignore[attr-defined]
            [
                {"b_id": cid, "b_attributes": {**(current.get(cid) or {}), **attrs}}
                for cid, attrs in changes.items()
            ],
        )

    # Identities: an address already linked to another customer is not linked again.
    wanted: dict[tuple[str, str], tuple[str, str]] = {}  # (kind, value) -> (customer, event)
    for event in with_profile:
        assert event.profile is not None
        for kind, value in event.profile.identities():
            wanted[(kind, value)] = (event.customer_id, event.id)
    owners: dict[tuple[str, str], str] = {}
    for kind in {k for k, _ in wanted}:
        for chunk in chunked([v for (k, v) in wanted if k == kind]):
            for value, owner in session.execute(
                select(Identity.value, Identity.customer_id).where(
                    Identity.kind == kind, Identity.value.in_(chunk)
                )
            ):
                owners[(kind, value)] = owner
    rows = []
    for (kind, value), (customer, event_id) in wanted.items():
        owner = owners.get((kind, value))
        if owner is not None and owner != customer:
            report.identity_conflicts.append(
                f"event {event_id}: the {kind} given for {customer} already belongs to {owner}; not linked"
            )
            continue
        if owner is None:
            rows.append(
                {
                    "customer_id": customer,
                    "kind": kind,
                    "value": value,
                    "verified": False,
                    "source": f"event:{event_id}",
                    # The evidence a link needs: the producer said so, in this event.
                    "evidence": {"event_id": event_id},
                    "created_at": now,
                }
            )
    insert_ignoring_duplicates(session, Identity, rows, conflict_columns=["kind", "value"])
    # An address erased before (touchline.privacy) comes back without its old consents.
    links = [(r["customer_id"], r["kind"], r["value"]) for r in rows]
    revoke_for_erased(session, links, now, settings)


def _apply_preferences(session: Session, events: list[EventIn], now: datetime) -> None:
    merged: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.preferences is None:
            continue
        given = event.preferences.model_dump(exclude_unset=True)
        entry = merged.setdefault(event.customer_id, {})
        if "quiet_hours" in given:
            quiet = event.preferences.quiet_hours
            entry["quiet_hours_start"] = quiet.start if quiet else None
            entry["quiet_hours_end"] = quiet.end if quiet else None
        for name in ("channel_order", "timezone", "locale", "max_per_week"):
            if name in given:
                entry[name] = given[name] if name != "channel_order" else (given[name] or [])
    if not merged:
        return
    existing = {
        p.customer_id: p
        for p in session.execute(
            select(Preference).where(Preference.customer_id.in_(merged))
        ).scalars()
    }
    columns = (
        "channel_order", "timezone", "locale", "quiet_hours_start", "quiet_hours_end",
        "max_per_week",
    )  # fmt: skip
    rows = []
    for customer, values in merged.items():
        row = {name: getattr(existing.get(customer), name, None) for name in columns}
        row["channel_order"] = row["channel_order"] or []
        row.update(values, customer_id=customer, updated_at=now)
        rows.append(row)
    dialect = session.get_bind().dialect.name
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(
        Preference.__table__
    )  # type: ignore[arg-type]
    statement = statement.on_conflict_do_update(
        index_elements=["customer_id"],
        set_={name: statement.excluded[name] for name in (*columns, "updated_at")},
    )
    session.execute(statement, rows)


def _apply_consents(
    session: Session, events: list[EventIn], source: str, now: datetime, settings: Settings
) -> list[StoredEvent]:
    """The events' consent changes into the ledger, received now; returns the follow-up
    events (an SMS marketing grant that must be confirmed asks for its confirmation)."""
    changes = [(event, consent) for event in events for consent in event.consents]
    if not changes:
        return []
    current = _current_sms_marketing(
        session,
        {e.customer_id for e, c in changes if (c.channel, c.purpose, c.topic) == ("sms", "marketing", None)},
    )  # fmt: skip
    rows, follow_ups = [], []
    for event, consent in changes:
        row_source = event.source or source
        evidence = {"event_id": event.id, **consent.evidence}
        status = consent.status
        state = current.setdefault(event.customer_id, {})
        if needs_confirmation(consent, state, row_source, evidence, settings):
            status = "pending"
            follow_ups.append(
                StoredEvent(
                    f"{event.id}:sms-confirmation",
                    CONFIRMATION_REQUESTED,
                    event.customer_id,
                    event.occurred_at,
                    {"requested_by_event": event.id},
                )
            )
        if consent.topic is None:
            state[(consent.channel, consent.purpose)] = ConsentState(
                status, row_source, event.occurred_at
            )
        rows.append(
            LedgerChange(event.customer_id, consent.channel, consent.purpose, status,
                         row_source, evidence, event.occurred_at, consent.topic)
        )  # fmt: skip
    append_changes(session, rows, received_at=now, settings=settings)
    return follow_ups


def _current_sms_marketing(
    session: Session, customers: set[str]
) -> dict[str, dict[tuple[str, str], Any]]:
    """The customers' current SMS marketing consent, in the ledger's order of receipt."""
    current: dict[str, dict[tuple[str, str], Any]] = {}
    for chunk in chunked(sorted(customers)):
        rows: dict[str, list[tuple]] = {}
        for cid, *rest in session.execute(
            select(Consent.customer_id, Consent.channel, Consent.purpose, Consent.status,
                   Consent.source, Consent.recorded_at)
            .where(Consent.customer_id.in_(chunk), Consent.channel == "sms",
                   Consent.purpose == "marketing", Consent.topic.is_(None))
            .order_by(Consent.received_at, Consent.id)
        ):  # fmt: skip
            rows.setdefault(cid, []).append(tuple(rest))
        current.update({cid: fold_ledger(history) for cid, history in rows.items()})
    return current
