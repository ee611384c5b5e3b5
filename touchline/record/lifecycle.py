"""Where each journey stands (live, paused, stopped…), every change with who, when and why,
and the proof messages sent to the team — kept apart from touches, so no report, cap,
learned effectiveness or attribution ever counts a proof."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from touchline.record.types import JSONType, UTCDateTime


class JourneyState(SQLModel, table=True):
    __tablename__ = "journey_state"

    # One row per journey key: every published version shares its state. The dispatcher's
    # fence reads (and on PostgreSQL share-locks) this row before each provider request.
    journey_key: str = Field(primary_key=True, max_length=64)
    state: str = Field(max_length=16)
    # How a stopped journey ends: "drain" (in-flight enrollments finish) or "exit".
    stop_mode: str | None = Field(default=None, max_length=8)
    reason: str | None = Field(default=None, max_length=500)
    changed_by: str | None = Field(default=None, max_length=128)
    changed_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class JourneyStateChange(SQLModel, table=True):
    __tablename__ = "journey_state_change"

    id: int | None = Field(default=None, primary_key=True)
    journey_key: str = Field(index=True, max_length=64)
    from_state: str = Field(max_length=16)
    to_state: str = Field(max_length=16)
    stop_mode: str | None = Field(default=None, max_length=8)
    reason: str = Field(max_length=500)
    changed_by: str = Field(max_length=128)
    changed_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    # What the change did at once: enrollments ended by stop --exit, say.
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)


class ProofSend(SQLModel, table=True):
    __tablename__ = "proof_send"

    id: str = Field(primary_key=True, max_length=36)
    journey_key: str = Field(index=True, max_length=64)
    journey_version: int
    step_id: str = Field(max_length=64)
    channel: str = Field(max_length=16)
    address: str = Field(max_length=320)
    # The customer whose data filled the template (None: the sample profile).
    customer_id: str | None = Field(default=None, max_length=128)
    provider: str | None = Field(default=None, max_length=32)
    provider_message_id: str | None = Field(default=None, max_length=128)
    status: str = Field(max_length=16)  # sent | failed
    error: str | None = Field(default=None, max_length=500)
    sent_by: str = Field(max_length=128)
    sent_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
