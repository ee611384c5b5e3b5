"""Addresses we must not send to, whoever they belong to: hard bounces, spam complaints.

A suppression is about the address, not the person: consent is theirs to give, but a
mailbox that bounces or reports us as spam harms every later send to it (sender
reputation). Lifting one (an operator who fixed a typo'd domain) keeps the row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from touchline.record.types import JSONType, UTCDateTime


class Suppression(SQLModel, table=True):
    __table_args__ = (Index("ix_suppression_kind_value", "kind", "value"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # email | phone | whatsapp | x_handle
    value: str = Field(max_length=320)
    reason: str = Field(max_length=32)  # bounce | spamreport | invalid | admin
    source: str = Field(max_length=64)
    evidence: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    lifted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
