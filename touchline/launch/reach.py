"""The reach of a launch, before anyone is enrolled: ``touchline launch … --dry-run``.

Reads the segment file as a launch would and counts what would happen to each row: rejected
(with its line), an unknown customer, listed twice, already enrolled (by this launch or, for
``reentry: once``, ever), filtered out by the trigger's ``where`` or a re-entry window, held
out as the control group — and for those who would enter, what the journey's first send
step would do *now*, per channel: sent, or skipped for consent, suppression, topic, a
missing address, or the frequency cap. The same decision code as the engine
(``preference_center.decision``), so the preview and the real send agree; nothing is
written.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from preference_center import load_profiles
from preference_center.decision import DecisionPolicy, decide
from touchline import ids
from touchline.config import Settings
from touchline.content import TemplateCatalog
from touchline.db import Database, chunked
from touchline.engine.conditions import holds
from touchline.engine.enroll import last_entries
from touchline.engine.steps.branch import customer_attributes
from touchline.engine.steps.send import send_request
from touchline.journeys.model import JourneyDefinition, SendStep
from touchline.launch.launcher import KEEP_REJECTED, default_name, published_definition
from touchline.launch.segment_file import RejectedRow, SegmentReader, file_sha256
from touchline.record import Enrollment

BATCH = 2000
# Reason checks that skip a channel, in the order the report lists them.
SKIP_CHECKS = ("consent", "suppression", "topic", "address", "template")


@dataclass
class Reach:
    journey_key: str
    journey_version: int
    launch_name: str
    rows: int = 0
    rejected_count: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)
    unknown_customers: int = 0
    unknown_sample: list[tuple[int, str]] = field(default_factory=list)
    listed_twice: int = 0
    already_enrolled: int = 0
    filtered_out: int = 0
    held_out: int = 0
    would_enter: int = 0
    first_step: str | None = None
    sent_now: Counter[str] = field(default_factory=Counter)  # channel -> customers
    deferred: Counter[str] = field(default_factory=Counter)  # chosen, but later (quiet hours …)
    skipped: dict[str, Counter[str]] = field(default_factory=dict)  # channel -> check -> n
    capped: int = 0
    nothing_sendable: int = 0

    def skip(self, channel: str, check: str) -> None:
        self.skipped.setdefault(channel, Counter())[check] += 1


def reach(
    db: Database,
    journey_key: str,
    segment: Path,
    *,
    now: datetime,
    settings: Settings,
    name: str | None = None,
) -> Reach:
    name = name or default_name(segment, file_sha256(segment))
    with db.session() as session:
        stored_version, definition = published_definition(session, journey_key)
    report = Reach(journey_key, stored_version, name)
    sends = [s for s in definition.steps if isinstance(s, SendStep)]
    report.first_step = sends[0].id if sends else None
    entry_key = (
        "once"
        if definition.reentry.mode == "once"
        else f"launch:{ids.launch_id(journey_key, name)}"
    )
    seen: set[str] = set()
    batch: list[tuple[int, str]] = []
    for row in SegmentReader(segment):
        report.rows += 1
        if isinstance(row, RejectedRow):
            report.rejected_count += 1
            if len(report.rejected) < KEEP_REJECTED:
                report.rejected.append(row)
            continue
        if row.customer_id in seen:
            report.listed_twice += 1
            continue
        seen.add(row.customer_id)
        batch.append((row.line, row.customer_id))
        if len(batch) >= BATCH:
            _count(db, definition, entry_key, batch, now, settings, report)
            batch = []
    if batch:
        _count(db, definition, entry_key, batch, now, settings, report)
    return report


def _count(
    db: Database,
    definition: JourneyDefinition,
    entry_key: str,
    batch: list[tuple[int, str]],
    now: datetime,
    settings: Settings,
    report: Reach,
) -> None:
    customers = [c for _, c in batch]
    with db.session() as session:
        attributes = customer_attributes(session, set(customers))
        for line, customer in batch:
            if customer not in attributes:
                report.unknown_customers += 1
                if len(report.unknown_sample) < KEEP_REJECTED:
                    report.unknown_sample.append((line, customer))
        known = [c for c in customers if c in attributes]
        enrolled = _enrolled(session, definition.key, known, entry_key)
        report.already_enrolled += len(enrolled)
        candidates = [c for c in known if c not in enrolled]
        where = definition.trigger.where
        if where is not None:
            passing = [c for c in candidates if holds(where, attributes=attributes[c], payload={})]
            report.filtered_out += len(candidates) - len(passing)
            candidates = passing
        if definition.reentry.mode == "window":
            window = definition.reentry.window
            assert window is not None
            last = last_entries(session, definition, set(candidates))
            recent = {c for c, at in last.items() if now < at + window}
            report.filtered_out += len(recent)
            candidates = [c for c in candidates if c not in recent]
        holdout = definition.holdout
        held = [c for c in candidates if ids.fraction("holdout", definition.key, c) * 100 < holdout]
        report.held_out += len(held)
        entering = [c for c in candidates if c not in set(held)]
        report.would_enter += len(entering)
        sends = [s for s in definition.steps if isinstance(s, SendStep)]
        if not sends or not entering:
            return
        policy = DecisionPolicy.from_settings(settings)
        request = send_request(TemplateCatalog(settings.templates_dir), definition, sends[0])
        profiles = load_profiles(
            session, entering, learned=True,
            marketing_since=now - policy.cap_window, week_since=now - timedelta(days=7),
        )  # fmt: skip
    for customer in entering:
        decision = decide(profiles[customer], request, now, policy)
        for reason in decision.reasons:
            if reason.outcome == "fail" and reason.channel and reason.check in SKIP_CHECKS:
                report.skip(reason.channel, reason.check)
        if decision.channel is not None:
            (report.sent_now if decision.send_at <= now else report.deferred)[decision.channel] += 1
        elif any(r.check == "cap" for r in decision.reasons):
            report.capped += 1
        else:
            report.nothing_sendable += 1


def _enrolled(session: Session, journey_key: str, customers: list[str], entry_key: str) -> set[str]:
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
