"""Launching a journey to a segment: enroll every listed customer, a batch at a time.

Each batch is one transaction that inserts its enrollments and moves the launch's
bookmark (rows read) forward, so an interrupted launch resumes after the last committed
batch. Enrollment ids come from the journey, the customer and the launch's id: even a
launch restarted from the top (the file changed, say) enrolls nobody twice. Sending is the
advance flow's job — a launch only enrolls, which keeps it fast and the sends coordinated
with every other journey (frequency cap, quiet hours).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import String, any_, bindparam, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from touchline import ids
from touchline.config import get_settings
from touchline.db import Database, chunked, insert_ignoring_duplicates
from touchline.engine.conditions import holds
from touchline.engine.enroll import LiveJourney, enrollment_row, last_entries
from touchline.engine.steps.branch import customer_attributes
from touchline.errors import JourneyNotFoundError, LaunchError
from touchline.journeys.loader import journey_files
from touchline.journeys.model import JourneyDefinition
from touchline.journeys.store import find_version
from touchline.launch.segment_file import RejectedRow, SegmentReader, SegmentRow, file_sha256
from touchline.lifecycle.states import PAUSED, standing
from touchline.record import Customer, Enrollment, Journey, Launch
from touchline.record.launches import FINISHED, RUNNING

KEEP_REJECTED = 1000  # rows kept for the report; all are counted


@dataclass
class LaunchReport:
    launch_id: str
    journey_key: str
    journey_version: int
    name: str
    resumed: bool = False
    already_finished: bool = False
    file_changed: bool = False
    skipped_rows: int = 0  # committed by an earlier run, not read again
    rows_read: int = 0  # by this run
    enrolled: int = 0  # by this run
    total_enrolled: int = 0  # by every run of this launch
    already_enrolled: int = 0
    filtered_out: int = 0
    unknown_customers: int = 0
    rejected_count: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)
    unknown_sample: list[tuple[int, str]] = field(default_factory=list)

    def reject(self, row: RejectedRow) -> None:
        self.rejected_count += 1
        if len(self.rejected) < KEEP_REJECTED:
            self.rejected.append(row)


Progress = Callable[[LaunchReport, int, int], None]  # report, bytes read, file size


def default_name(path: Path, sha256: str) -> str:
    """The same file launched again is the same launch; an edited file is a new one."""
    return f"{path.stem}-{sha256[:12]}"


def launch(
    db: Database,
    journey_key: str,
    segment: Path,
    *,
    now: datetime,
    name: str | None = None,
    batch_size: int = 2000,
    on_progress: Progress | None = None,
) -> LaunchReport:
    sha256 = file_sha256(segment)
    name = name or default_name(segment, sha256)
    with db.session() as session:
        journey, row = _open(session, journey_key, segment, name, sha256, now)
        report = LaunchReport(
            row.id, journey_key, row.journey_version, name,
            resumed=row.runs > 1, already_finished=row.status == FINISHED,
            file_changed=row.segment_sha256 != sha256,
        )  # fmt: skip
        if report.already_finished and not report.file_changed:
            report.total_enrolled = row.enrolled
            report.skipped_rows = row.rows_read
            return report
        # A resumed launch of an unchanged file skips the rows its earlier runs committed.
        skip = row.rows_read if report.resumed and not report.file_changed else 0
        if skip == 0:  # read from the top: the totals start again too
            for counter in _counts(report):
                setattr(row, counter, 0)
        row.segment_sha256 = sha256
        session.commit()

    reader = SegmentReader(segment)
    saved = _counts(report)
    for batch in _batches(reader, batch_size, skip, report):
        with db.session() as session:
            _enroll_batch(session, journey, report, batch, now)
            saved = _save_progress(session, report, saved, now, done=False)
            session.commit()
        if on_progress:
            on_progress(report, reader.bytes_read, reader.size)
    with db.session() as session:
        _save_progress(session, report, saved, now, done=True)
        session.commit()
    if on_progress:
        on_progress(report, reader.size, reader.size)
    return report


def _open(
    session: Session, key: str, segment: Path, name: str, sha256: str, now: datetime
) -> tuple[LiveJourney, Launch]:
    launch_id = ids.launch_id(key, name)
    row = session.get(Launch, launch_id)
    if row is None:
        stored = _newest(session, key)
        row = Launch(
            id=launch_id, journey_key=key, journey_version=stored.version, name=name,
            segment_path=str(segment)[-500:], segment_sha256=sha256, status=RUNNING,
            started_at=now, updated_at=now,
        )  # fmt: skip
        session.add(row)
    else:
        # A resumed launch keeps the version it started with, whatever was published since.
        stored = find_version(session, key, row.journey_version)
        row.runs += 1
        if row.segment_sha256 != sha256:
            row.status = RUNNING
    definition = JourneyDefinition.model_validate(stored.definition)
    if not definition.trigger.segment:
        raise LaunchError(
            f"journey '{key}' starts on {definition.trigger.describe()}; only journeys with "
            "`trigger: segment` are launched to a segment"
        )
    _refuse_unless_live(session, key)
    session.flush()
    return LiveJourney(stored.id, stored.version, definition), row  # type: ignore[arg-type]


def _newest(session: Session, key: str) -> Journey:
    """The journey's newest published version; an unpublished one names the command that
    publishes it (a launch is the moment a marketer most needs that hint)."""
    try:
        return find_version(session, key)
    except JourneyNotFoundError:
        settings = get_settings()
        files = [p for p in journey_files(settings.journeys_dir) if p.stem == key]
        target = f" {files[0]}" if files else ""
        raise LaunchError(
            f"journey '{key}' is not published: publish it first with "
            f"`touchline journeys publish{target}`"
        ) from None


def published_definition(session: Session, key: str) -> tuple[int, JourneyDefinition]:
    """The newest published version of a journey that can be launched to a segment."""
    stored = _newest(session, key)
    definition = JourneyDefinition.model_validate(stored.definition)
    if not definition.trigger.segment:
        raise LaunchError(
            f"journey '{key}' starts on {definition.trigger.describe()}; only journeys with "
            "`trigger: segment` are launched to a segment"
        )
    _refuse_unless_live(session, key)
    return stored.version, definition


def _refuse_unless_live(session: Session, key: str) -> None:
    """A paused, stopped or archived journey takes nobody new: a launch would otherwise
    enroll a whole segment behind the marketer's pause."""
    found = standing(session, key)
    if found.entry_refusal:
        hint = (
            f"; resume it first with `touchline journeys resume {key} --reason TEXT`"
            if found.state == PAUSED
            else ""
        )
        raise LaunchError(f"journey '{key}' is {found.state}: a launch enrolls nobody{hint}")


def _batches(
    rows: Iterable[SegmentRow | RejectedRow], size: int, skip: int, report: LaunchReport
) -> Iterator[list[SegmentRow]]:
    batch: list[SegmentRow] = []
    for index, row in enumerate(rows):
        if index < skip:
            report.skipped_rows += 1
            continue
        report.rows_read += 1
        if isinstance(row, RejectedRow):
            report.reject(row)
        else:
            batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _enroll_batch(
    session: Session,
    journey: LiveJourney,
    report: LaunchReport,
    batch: list[SegmentRow],
    now: datetime,
) -> None:
    definition = journey.definition
    by_customer: dict[str, SegmentRow] = {}
    for row in batch:
        if row.customer_id in by_customer:
            report.already_enrolled += 1  # listed twice: enters once
        else:
            by_customer[row.customer_id] = row
    where = definition.trigger.where
    if where is not None:
        attributes = customer_attributes(session, set(by_customer))
        known = set(attributes)
    else:
        attributes, known = {}, _existing(session, list(by_customer))
    for customer, row in by_customer.items():
        if customer not in known:
            report.unknown_customers += 1
            if len(report.unknown_sample) < KEEP_REJECTED:
                report.unknown_sample.append((row.line, customer))
    candidates = [c for c in by_customer if c in known]
    if where is not None:
        passing = [c for c in candidates if holds(where, attributes=attributes[c], payload={})]
        report.filtered_out += len(candidates) - len(passing)
        candidates = passing
    entry_key = "once" if definition.reentry.mode == "once" else f"launch:{report.launch_id}"
    if definition.reentry.mode == "window":
        window = definition.reentry.window
        assert window is not None
        last = last_entries(session, definition, set(candidates))
        # This launch's own earlier enrollments are not "earlier entries": they dedupe.
        own = _enrolled_here(session, definition.key, candidates, entry_key)
        recent = {c for c, at in last.items() if now < at + window and c not in own}
        report.filtered_out += len(recent)
        candidates = [c for c in candidates if c not in recent]
    context: dict[str, Any] = {"launch": {"id": report.launch_id, "name": report.name}}
    rows = [
        enrollment_row(
            journey,
            customer,
            entry_key,
            now,
            trigger_at=now,
            trigger_event_id=None,
            context={**context, "segment": by_customer[customer].columns},
        )
        for customer in candidates
    ]
    inserted = insert_ignoring_duplicates(
        session, Enrollment, rows, conflict_columns=["id"], returning="id"
    )
    report.enrolled += len(inserted)
    report.already_enrolled += len(rows) - len(inserted)


def _existing(session: Session, customers: list[str]) -> set[str]:
    if session.get_bind().dialect.name == "postgresql":
        # One statement per batch: the ids as one array, not IN lists of 900 placeholders
        # that psycopg parses in Python for every statement.
        ids = bindparam("ids", sorted(customers), type_=postgresql.ARRAY(String))
        return set(session.execute(select(Customer.id).where(Customer.id == any_(ids))).scalars())
    found: set[str] = set()
    for chunk in chunked(sorted(customers)):
        found.update(session.execute(select(Customer.id).where(Customer.id.in_(chunk))).scalars())
    return found


def _enrolled_here(
    session: Session, journey_key: str, customers: list[str], entry_key: str
) -> set[str]:
    wanted = {ids.enrollment_id(journey_key, c, entry_key): c for c in customers}
    found: set[str] = set()
    for chunk in chunked(sorted(wanted)):
        found.update(
            wanted[i]
            for i in session.execute(
                select(Enrollment.id).where(Enrollment.id.in_(chunk))
            ).scalars()
        )
    return found


def _save_progress(
    session: Session, report: LaunchReport, before: dict[str, int], now: datetime, *, done: bool
) -> dict[str, int]:
    """Add what this batch did to the launch's totals, in the batch's own transaction, so
    the totals and the bookmark always match the enrollments that were committed."""
    after = _counts(report)
    row = session.get(Launch, report.launch_id)
    assert row is not None
    for name, value in after.items():
        setattr(row, name, getattr(row, name) + value - before[name])
    row.updated_at = now
    report.total_enrolled = row.enrolled
    if done:
        row.status = FINISHED
        row.finished_at = now
    return after


def _counts(report: LaunchReport) -> dict[str, int]:
    return {
        "rows_read": report.rows_read,
        "enrolled": report.enrolled,
        "already_enrolled": report.already_enrolled,
        "filtered_out": report.filtered_out,
        "unknown_customers": report.unknown_customers,
        "rejected_rows": report.rejected_count,
    }
