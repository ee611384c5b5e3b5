"""One batch of enrollments standing on a send step, carried through every phase.

Each phase of the send step (``touchline.engine.steps.send``) is a small function over a
``SendBatch``: it reads what earlier phases left (the touches, who is ready), and adds
outcomes and transitions. Outcome rows wait in ``outcomes`` until a phase writes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from preference_center import CustomerProfile
from touchline import ids
from touchline.db import insert_ignoring_duplicates
from touchline.engine.context import Engine
from touchline.engine.report import BatchReport
from touchline.engine.transitions import Continue, Transition
from touchline.engine.visits import current_touch_id
from touchline.journeys.model import JourneyDefinition, SendStep
from touchline.record import Enrollment, Interaction, Touch
from touchline.record.touches import SKIPPED, TERMINAL_OUTCOMES


@dataclass(frozen=True)
class Planned:
    """A touch as decided: its channel (None: skipped), address and time."""

    channel: str | None
    address: str | None
    scheduled_for: datetime


@dataclass
class SendBatch:
    engine: Engine
    session: Session
    journey: JourneyDefinition
    step: SendStep
    now: datetime
    report: BatchReport
    enrollments: list[Enrollment]
    touch_ids: dict[str, str]  # enrollment id -> the touch of this visit
    touches: dict[str, Planned] = field(default_factory=dict)  # touch id -> decided
    finished: dict[str, str] = field(default_factory=dict)  # touch id -> terminal outcome
    transitions: dict[str, Transition] = field(default_factory=dict)  # enrollment id ->
    outcomes: list[dict[str, Any]] = field(default_factory=list)  # rows not yet written
    ready: list[Enrollment] = field(default_factory=list)  # due and still to be sent
    # Set by the final gate, from the record as it is at dispatch:
    customers: dict[str, str] = field(default_factory=dict)  # touch id -> customer now
    profiles: dict[str, CustomerProfile] = field(default_factory=dict)  # customer -> profile
    addresses: dict[str, str] = field(default_factory=dict)  # touch id -> address to use
    redirected: dict[str, str | None] = field(default_factory=dict)  # touch id -> decided

    @property
    def next_step(self) -> str | None:
        return self.journey.next_step_id(self.step.id)

    def tid(self, enrollment: Enrollment) -> str:
        return self.touch_ids[enrollment.id]

    def customer(self, enrollment: Enrollment) -> str:
        return self.customers.get(self.tid(enrollment), enrollment.customer_id)

    def profile(self, enrollment: Enrollment) -> CustomerProfile:
        customer = self.customer(enrollment)
        return self.profiles.get(customer) or CustomerProfile(customer)

    def count(self, channel: str | None, outcome: str, reason: str | None = None) -> None:
        self.report.touch(self.journey.key, self.step.id, channel, outcome, reason)

    def record(
        self, enrollment: Enrollment, kind: str, channel: str | None, detail: dict[str, Any],
        **provider: str | None,
    ) -> None:  # fmt: skip
        self.outcomes.append(
            outcome_row(self.tid(enrollment), self.customer(enrollment), kind, channel,
                        self.now, detail, **provider)
        )  # fmt: skip

    def skip(self, enrollment: Enrollment, channel: str | None, reason: str) -> None:
        """The touch is not sent, for ``reason``; the enrollment moves on."""
        self.record(enrollment, SKIPPED, channel, {"reason": reason})
        self.count(channel, "skipped", reason)
        self.transitions[enrollment.id] = Continue(self.next_step)

    def write_outcomes(self) -> None:
        insert_ignoring_duplicates(
            self.session, Interaction, self.outcomes, conflict_columns=["id"]
        )
        self.outcomes = []


def open_batch(
    engine: Engine,
    session: Session,
    journey: JourneyDefinition,
    step: SendStep,
    enrollments: list[Enrollment],
    now: datetime,
    report: BatchReport,
) -> SendBatch:
    """The batch, with the touches earlier runs already decided and those already finished."""
    touch_ids = {e.id: current_touch_id(e.id, e.context, step.id) for e in enrollments}
    batch = SendBatch(engine, session, journey, step, now, report, enrollments, touch_ids)
    wanted = list(touch_ids.values())
    for touch in session.execute(select(Touch).where(Touch.id.in_(wanted))).scalars():
        batch.touches[touch.id] = Planned(touch.channel, touch.address, touch.scheduled_for)
    batch.finished = dict(
        session.execute(
            select(Interaction.touch_id, Interaction.kind).where(
                Interaction.touch_id.in_(wanted), Interaction.kind.in_(TERMINAL_OUTCOMES)
            )
        ).all()
    )
    return batch


def outcome_row(
    touch_id: str,
    customer_id: str,
    kind: str,
    channel: str | None,
    now: datetime,
    detail: dict[str, Any],
    *,
    provider: str | None = None,
    provider_message_id: str | None = None,
) -> dict[str, Any]:
    return {
        # One terminal outcome per touch: a replayed batch cannot record a second one.
        "id": ids.interaction_id(touch_id, "outcome"),
        "touch_id": touch_id,
        "customer_id": customer_id,
        "kind": kind,
        "channel": channel,
        "provider": provider,
        "provider_message_id": provider_message_id,
        "occurred_at": now,
        "recorded_at": now,
        "detail": detail,
    }
