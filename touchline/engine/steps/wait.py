"""The wait step: park until the duration since entering the step has passed."""

from __future__ import annotations

from datetime import datetime

from touchline.engine.transitions import Continue, Park, Transition
from touchline.journeys.model import JourneyDefinition, WaitStep
from touchline.record import Enrollment


def run_wait(
    journey: JourneyDefinition, step: WaitStep, enrollments: list[Enrollment], now: datetime
) -> dict[str, Transition]:
    following = journey.next_step_id(step.id)
    transitions: dict[str, Transition] = {}
    for enrollment in enrollments:
        # Measured from entering the step, so a late worker does not lengthen the wait.
        due = (enrollment.step_entered_at or now) + step.duration
        transitions[enrollment.id] = (
            Continue(following) if now >= due else Park(due, f"waiting {step.id}")
        )
    return transitions
