"""The split step: each enrollment to one variant, by weight, the same way every time."""

from __future__ import annotations

from touchline import ids
from touchline.engine.transitions import Continue, Transition
from touchline.journeys.model import JourneyDefinition, SplitStep, Variant
from touchline.record import Enrollment


def run_split(
    journey: JourneyDefinition, step: SplitStep, enrollments: list[Enrollment]
) -> dict[str, Transition]:
    following = journey.next_step_id(step.id)
    transitions: dict[str, Transition] = {}
    for enrollment in enrollments:
        variant = assign(journey.key, step, enrollment.customer_id)
        variants = {**enrollment.context.get("variants", {}), step.id: variant.name}
        enrollment.context = {**enrollment.context, "variants": variants}
        target = variant.next if variant.next is not None else following
        transitions[enrollment.id] = Continue(target, f"{step.id}: variant {variant.name}")
    return transitions


def assign(journey_key: str, step: SplitStep, customer_id: str) -> Variant:
    """Deterministic by journey, step and customer: a re-entry lands in the same variant."""
    point = ids.fraction("split", journey_key, step.id, customer_id) * sum(
        v.weight for v in step.variants
    )
    for variant in step.variants:
        point -= variant.weight
        if point < 0:
            return variant
    return step.variants[-1]
