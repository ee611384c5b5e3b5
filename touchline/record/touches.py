"""Touches and interactions: the append-only heart of the interaction record.

A ``Touch`` is what Touchline decided to do for one enrollment at one step: which channel
(or none), to which address, why, and when. It is written before any provider call, with
an id derived from enrollment and step, and never changed afterwards.

An ``Interaction`` is something that happened to a touch or a customer: skipped, failed,
sent, delivered, opened, clicked, bounced, replied… Rows are only ever added; their ids are
derived from what they record, so a duplicated webhook or a retried write lands once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from touchline.record.types import JSONType, UTCDateTime

# Outcomes of Touchline's own work on a touch.
SKIPPED = "skipped"
FAILED = "failed"
SENT = "sent"
# Engagement reported by providers.
DELIVERED = "delivered"
OPENED = "opened"
CLICKED = "clicked"
REPLIED = "replied"
BOUNCED = "bounced"
UNDELIVERED = "undelivered"
SPAM_REPORT = "spam_report"
RECEIVED = "received"  # an inbound message that answers no touch of ours
UNSUBSCRIBED = "unsubscribed"
PROCESSED = "processed"
DEFERRED = "deferred"

# A send attempt started (see engine/reconcile.py); the outcome follows, unless it crashed.
DISPATCHING = "dispatching"
TERMINAL_OUTCOMES = frozenset({SKIPPED, FAILED, SENT})


class Touch(SQLModel, table=True):
    __table_args__ = (Index("ix_touch_journey_step", "journey_key", "step_id"),)

    id: str = Field(primary_key=True, max_length=36)
    enrollment_id: str = Field(foreign_key="enrollment.id", index=True, max_length=36)
    customer_id: str = Field(foreign_key="customer.id", index=True, max_length=128)
    journey_key: str = Field(max_length=64)
    journey_version: int
    step_id: str = Field(max_length=64)
    purpose: str = Field(max_length=16)
    # The subscription group the journey belongs to (newsletter, promotions…); with the
    # purpose it is the "kind of message" channel effectiveness is learned for.
    topic: str | None = Field(default=None, max_length=64)
    template: str | None = Field(default=None, max_length=200)
    channel: str | None = Field(default=None, max_length=16)
    address: str | None = Field(default=None, max_length=320)
    # The preference center's decision: the chosen channel's reasons and every rejected one.
    decision: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    scheduled_for: datetime = Field(sa_type=UTCDateTime, nullable=False)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class Interaction(SQLModel, table=True):
    __table_args__ = (Index("ix_interaction_customer_time", "customer_id", "occurred_at"),)

    id: str = Field(primary_key=True, max_length=36)
    touch_id: str | None = Field(default=None, foreign_key="touch.id", index=True, max_length=36)
    customer_id: str = Field(foreign_key="customer.id", max_length=128)
    kind: str = Field(max_length=24)
    channel: str | None = Field(default=None, max_length=16)
    provider: str | None = Field(default=None, max_length=32)
    provider_message_id: str | None = Field(default=None, index=True, max_length=128)
    occurred_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    recorded_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
