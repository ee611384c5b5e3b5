"""Admission: may this (well-formed) event come in? One event at a time, the same for every
path in (POST /events, ``touchline events send``, the ingest-event deployment, imports).

An event is refused when it is dated in the future beyond the clock-skew tolerance, when
its type is not in the tracking plan (strict mode), or when its payload breaks its type's
schema. In permissive mode an undeclared type is let in with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from touchline.config import Settings
from touchline.errors import Problem
from touchline.intake.schema import EventIn
from touchline.intake.timing import future_problem
from touchline.intake.tracking_plan import TrackingPlan, load_plan


@dataclass
class Admission:
    problems: list[Problem] = field(default_factory=list)  # refused when any
    warnings: list[Problem] = field(default_factory=list)

    @property
    def admitted(self) -> bool:
        return not self.problems


def admit(
    event: EventIn,
    *,
    now: datetime,
    settings: Settings,
    plan: TrackingPlan | None = None,
    source: str | None = None,
    line: int | None = None,
) -> Admission:
    plan = plan if plan is not None else load_plan(settings.tracking_plan_file)
    result = Admission()
    late = future_problem(event.occurred_at, now, settings.clock_skew_tolerance)
    if late is not None:
        result.problems.append(late)
    if event.type not in plan:
        unknown = Problem("type", plan.unknown_message(event.type))
        if settings.tracking_plan == "strict":
            result.problems.append(unknown)
        else:
            result.warnings.append(
                replace(
                    unknown,
                    message=f"{unknown.message} (accepted: the tracking plan is permissive)",
                )
            )
    else:
        result.problems += plan.payload_problems(event.type, event.payload)
    result.problems = [replace(p, source=source, line=line) for p in result.problems]
    result.warnings = [replace(p, source=source, line=line) for p in result.warnings]
    return result
