"""The audit of privacy requests: every erasure and every export, who asked and when.

The customer is named by a keyed hash of their id (touchline.privacy.keys), not the id:
the audit outlives the erasure and must not be the place that still says who was erased.
With the key, "was customer c-123 erased, and when?" can be answered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from touchline.record.types import JSONType, UTCDateTime

ERASE = "erase"
EXPORT = "export"


class PrivacyAudit(SQLModel, table=True):
    __tablename__ = "privacy_audit"

    id: int | None = Field(default=None, primary_key=True)
    action: str = Field(max_length=16)  # erase | export
    customer_key: str = Field(max_length=80, index=True)  # keyed hash of the customer id
    actor: str = Field(max_length=128)  # who asked: an operator, "cli:<user>", "api"
    via: str = Field(max_length=16)  # cli | api
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    # What was done, table by table (rows erased, rows exported): never personal data.
    counts: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
