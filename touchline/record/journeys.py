"""Published journey definitions, one row per version."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from touchline.record.types import JSONType, UTCDateTime


class Journey(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("key", "version", name="uq_journey_key_version"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(index=True, max_length=64)
    version: int
    name: str = Field(max_length=200)
    # The validated definition, as the engine reads it; the digest detects real changes.
    definition: dict[str, Any] = Field(sa_type=JSONType)
    digest: str = Field(max_length=64)
    source_path: str | None = Field(default=None, max_length=500)
    published_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
