"""What the refresh learned from the interaction record: which channel and which hour of
the week work, per customer, per segment and overall.

Rows are recomputed wholesale by the refresh flow (preference_center.learning); the
decision only reads them. ``scope`` is customer | segment | global, ``scope_key`` the
customer id, the segment name, or "*".
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from touchline.record.types import UTCDateTime


class ChannelEffectiveness(SQLModel, table=True):
    __tablename__ = "channel_effectiveness"

    scope: str = Field(primary_key=True, max_length=16)
    scope_key: str = Field(primary_key=True, max_length=128)
    kind: str = Field(primary_key=True, max_length=64)  # kind of message: topic or purpose
    channel: str = Field(primary_key=True, max_length=16)
    sent: int
    engaged: int
    rate: float  # smoothed toward the enclosing scope's rate
    computed_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class TimingEffectiveness(SQLModel, table=True):
    __tablename__ = "timing_effectiveness"

    scope: str = Field(primary_key=True, max_length=16)
    scope_key: str = Field(primary_key=True, max_length=128)
    channel: str = Field(primary_key=True, max_length=16)
    hour_of_week: int = Field(primary_key=True)  # 0 = Monday 00:00–00:59, local time
    sent: int
    engaged: int
    score: float  # smoothed engagement rate of messages sent in that hour
    computed_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
