"""Events as received: genesis events, exit and goal events, behaviour."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from touchline.record.types import JSONType, UTCDateTime


class Event(SQLModel, table=True):
    __table_args__ = (Index("ix_event_customer_time", "customer_id", "occurred_at"),)

    # The producer's id: sending the same event twice stores it once.
    id: str = Field(primary_key=True, max_length=128)
    type: str = Field(index=True, max_length=128)
    customer_id: str = Field(foreign_key="customer.id", max_length=128)
    occurred_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    received_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    source: str = Field(max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
