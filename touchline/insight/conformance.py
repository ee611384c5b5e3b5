"""Did enrollments follow their journey's designed path? Where did the others leave it?

What the record shows of a path is its touches: one per visit of a send step. Waits,
branches and splits leave no row of their own. So the design is reduced to what can be
seen: for the start and for each send step, the **designed successors** — the send steps
(or the journey's end) reachable from it through waits, branches and splits only. A loop
back through a wait makes a step its own successor.

Each enrollment is replayed against the design of the version it ran on: its touches in
time order, each one must be a designed successor of the one before. Then:
- **ended** at the end of the journey (an exit step, a branch to exit, the last step): the
  end must be a designed successor of the last touch;
- **exited** on an exit event, or converted: allowed at any point (the design says so);
- **failed**: a deviation;
- **still active**: its current step must be reachable from its last touch.
The first deviation is recorded as (after, expected, saw), and counted per journey version.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import select

from touchline.db import Database
from touchline.insight.record_chunks import RecordPage, iter_record_pages
from touchline.journeys.model import (
    EXIT,
    BranchStep,
    ExitStep,
    JourneyDefinition,
    SendStep,
    SplitStep,
    WaitStep,
)
from touchline.record import Journey
from touchline.record.enrollments import ACTIVE, COMPLETED, FAILED

START = "(start)"
END = "(end)"


def _targets(definition: JourneyDefinition, step_id: str) -> list[str]:
    """Where a step can go in one move; the journey's end and ``exit`` are both END."""
    step = definition.step(step_id)
    following = definition.next_step_id(step_id)
    if isinstance(step, ExitStep):
        raw: list[str | None] = [EXIT]
    elif isinstance(step, BranchStep):
        raw = [step.then, step.else_]
    elif isinstance(step, WaitStep) and step.for_event:
        raw = [step.on_event, step.on_timeout]
    elif isinstance(step, SplitStep):
        raw = [v.next for v in step.variants]
    else:
        raw = [None]
    if not isinstance(step, ExitStep):
        raw = [following if t is None else t for t in raw]
    return list(dict.fromkeys(END if t is None or t == EXIT else t for t in raw))


@dataclass(frozen=True)
class DesignedPath:
    """For START and each send step: the send steps or END that may come next (``next``),
    and every step passed through on the way (``through``)."""

    order: dict[str, int]  # step id -> position in the definition (ties in time)
    next: dict[str, frozenset[str]]
    through: dict[str, frozenset[str]]

    @classmethod
    def of(cls, definition: JourneyDefinition) -> DesignedPath:
        sends = [s.id for s in definition.steps if isinstance(s, SendStep)]
        next_: dict[str, frozenset[str]] = {}
        through: dict[str, frozenset[str]] = {}
        for origin in (START, *sends):
            frontier = (
                [definition.first_step_id] if origin == START else _targets(definition, origin)
            )
            seen: set[str] = set()
            found: set[str] = set()
            while frontier:
                node = frontier.pop()
                if node in seen:
                    continue
                seen.add(node)
                if node == END or node in sends:
                    found.add(node)
                    continue
                frontier.extend(_targets(definition, node))
            next_[origin] = frozenset(found)
            through[origin] = frozenset(seen - {END})
        order = {s.id: i for i, s in enumerate(definition.steps)}
        return cls(order, next_, through)


@dataclass(frozen=True)
class Deviation:
    after: str
    expected: tuple[str, ...]
    saw: str

    def __str__(self) -> str:
        return f"after {self.after}: expected {' or '.join(self.expected)}, saw {self.saw}"


def replay(
    path: DesignedPath,
    steps: list[str],
    status: str,
    current_step: str | None,
    end_reason: str | None = None,
) -> Deviation | None:
    """The first deviation of one enrollment from the design, or None."""
    state = START
    for step in steps:
        if step not in path.next[state]:
            return Deviation(state, tuple(sorted(path.next[state])), step)
        state = step
    if status == COMPLETED and END not in path.next[state]:
        return Deviation(state, tuple(sorted(path.next[state])), END)
    if status == FAILED:
        return Deviation(state, tuple(sorted(path.next[state])), f"failed ({end_reason})")
    unreachable = current_step != state and current_step not in path.through[state]
    if status == ACTIVE and current_step is not None and unreachable:
        return Deviation(state, tuple(sorted(path.next[state])), current_step)
    return None


@dataclass
class ConformanceReport:
    # (journey, version) -> counts
    enrollments: Counter[tuple[str, int]] = field(default_factory=Counter)
    followed: Counter[tuple[str, int]] = field(default_factory=Counter)
    in_progress: Counter[tuple[str, int]] = field(default_factory=Counter)
    deviated: Counter[tuple[str, int]] = field(default_factory=Counter)
    deviations: Counter[tuple[str, int, Deviation]] = field(default_factory=Counter)
    examples: dict[tuple[str, int, Deviation], str] = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        rows = [
            {"journey": key, "version": version, "enrollments": total,
             "followed": self.followed[(key, version)],
             "in_progress": self.in_progress[(key, version)],
             "deviated": self.deviated[(key, version)],
             "conformance": round(1 - self.deviated[(key, version)] / total, 4)}
            for (key, version), total in sorted(self.enrollments.items())
        ]  # fmt: skip
        columns = ["journey", "version", "enrollments", "followed", "in_progress", "deviated",
                   "conformance"]  # fmt: skip
        return pd.DataFrame(rows, columns=columns)

    def deviation_table(self) -> pd.DataFrame:
        rows = [
            {"journey": key, "version": version, "after": d.after,
             "expected": " or ".join(d.expected), "saw": d.saw, "enrollments": n,
             "example": self.examples[(key, version, d)]}
            for (key, version, d), n in sorted(
                self.deviations.items(), key=lambda item: (item[0][0], item[0][1], -item[1])
            )
        ]  # fmt: skip
        columns = ["journey", "version", "after", "expected", "saw", "enrollments", "example"]
        return pd.DataFrame(rows, columns=columns)


class _Designs:
    def __init__(self, db: Database):
        self.db = db
        self._paths: dict[tuple[str, int], DesignedPath] = {}

    def get(self, key: str, version: int) -> DesignedPath:
        if (key, version) not in self._paths:
            with self.db.session() as session:
                stored = session.execute(
                    select(Journey.definition).where(Journey.key == key, Journey.version == version)
                ).scalar_one()
            self._paths[(key, version)] = DesignedPath.of(JourneyDefinition.model_validate(stored))
        return self._paths[(key, version)]


def check_page(page: RecordPage, designs: _Designs, report: ConformanceReport) -> None:
    touches = page.touches
    by_enrollment: dict[str, list[tuple[object, str]]] = {}
    for enrollment_id, step, created in zip(
        touches["enrollment_id"], touches["step"], touches["created_at"], strict=True
    ):
        by_enrollment.setdefault(enrollment_id, []).append((created, step))
    for row in page.enrollments.itertuples(index=False):
        key = (row.journey, int(row.journey_version))
        path = designs.get(*key)
        seen = sorted(
            by_enrollment.get(row.enrollment_id, []),
            key=lambda item: (item[0], path.order.get(item[1], 0)),
        )
        deviation = replay(
            path, [step for _, step in seen], row.status, row.current_step, row.end_reason
        )
        report.enrollments[key] += 1
        if deviation is not None:
            report.deviated[key] += 1
            report.deviations[(*key, deviation)] += 1
            report.examples.setdefault((*key, deviation), row.enrollment_id)
        elif row.status == ACTIVE:
            report.in_progress[key] += 1
        else:
            report.followed[key] += 1


def check_conformance(db: Database, journey: str | None = None) -> ConformanceReport:
    report = ConformanceReport()
    designs = _Designs(db)
    with db.engine.connect() as connection:
        for page in iter_record_pages(connection, case="enrollment", journey=journey):
            check_page(page, designs, report)
    return report
