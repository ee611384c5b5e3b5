"""A customer's passage through one version of one journey: where they are, when next."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from touchline import ids
from touchline.record.types import JSONType, UTCDateTime

ACTIVE = "active"
COMPLETED = "completed"
EXITED = "exited"
FAILED = "failed"


class Enrollment(SQLModel, table=True):
    __table_args__ = (
        # The advance flow's claim query: active and due, oldest first.
        Index("ix_enrollment_due", "status", "next_action_at"),
        Index("ix_enrollment_customer_journey", "customer_id", "journey_key"),
        # Intake wakes enrollments waiting for an event of this customer's.
        Index("ix_enrollment_waiting", "customer_id", "waiting_for"),
    )

    # Deterministic from (journey, customer, entry key): re-sending a trigger cannot enroll
    # anybody twice.
    id: str = Field(primary_key=True, max_length=36)
    journey_id: int = Field(foreign_key="journey.id")
    journey_key: str = Field(max_length=64)
    journey_version: int
    customer_id: str = Field(foreign_key="customer.id", max_length=128)
    trigger_event_id: str | None = Field(default=None, max_length=128)
    trigger_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    status: str = Field(default=ACTIVE, max_length=16)
    # The control group: goes through the journey's time, is sent nothing.
    holdout: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # Bumped by every write. The engine saves an enrollment only if nobody changed it since
    # the claim (an event woke it, say); otherwise the step runs again, which is safe
    # because every step is idempotent.
    revision: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # The event type a "wait for_event" step is waiting for.
    waiting_for: str | None = Field(default=None, max_length=128)
    current_step: str | None = Field(default=None, max_length=64)
    step_entered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_action_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    context: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    entered_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    end_reason: str | None = Field(default=None, max_length=500)
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


def once_order(
    journey_key: str, customer_id: str, enrollment_id: str, entered_at: datetime, reached: bool
) -> tuple[bool, datetime, bool, str]:
    """Sort key of one person's enrollments in a ``reentry: once`` journey: the first is
    theirs, any other (brought by a merge) is a second entry. One that already reached the
    person (a message sent or on its way: ``reached``) comes first — whatever goes on must
    not repeat what they got; then the one that entered first; on a tie, the customer's
    own (its id derives from them), then the id. Merges (preference_center.merge) and the
    final gate both rank by it, so they agree."""
    own = ids.enrollment_id(journey_key, customer_id, "once")
    return (not reached, entered_at, enrollment_id != own, enrollment_id)
