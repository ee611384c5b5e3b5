"""Who the customer is: the profile, the addresses that reach them, what they stated."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from sqlalchemy import Column, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from touchline.record.types import JSONType, UTCDateTime


class Customer(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=128)
    attributes: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    # Set when this profile was merged into another: the row stays, so that old links and
    # events naming this id still resolve to the person.
    merged_into: str | None = Field(default=None, max_length=128)


class Identity(SQLModel, table=True):
    """An address or handle of a customer, normalised (E.164 phone, lower-case email).

    A value belongs to one customer only: the unique constraint is what keeps a wrong
    match from silently joining two people.
    """

    __table_args__ = (UniqueConstraint("kind", "value", name="uq_identity_kind_value"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(foreign_key="customer.id", index=True, max_length=128)
    kind: str = Field(max_length=16)  # email | phone | whatsapp | x_handle
    value: str = Field(max_length=320)
    verified: bool = False
    source: str = Field(max_length=64)
    # Why we believe the address is this customer's (the event, the reply, the login).
    evidence: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class Preference(SQLModel, table=True):
    """What the customer stated. Absent values fall back to company defaults."""

    customer_id: str = Field(primary_key=True, foreign_key="customer.id", max_length=128)
    channel_order: list[str] = Field(default_factory=list, sa_type=JSONType)
    timezone: str | None = Field(default=None, sa_column=Column(String(64)))
    locale: str | None = Field(default=None, max_length=16)
    quiet_hours_start: time | None = None
    quiet_hours_end: time | None = None
    # The customer's own frequency limit: at most this many marketing messages a week.
    max_per_week: int | None = None
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class CustomerMerge(SQLModel, table=True):
    """The audit of a merge: who merged which profile into which, why, and what moved."""

    __tablename__ = "customer_merge"

    id: int | None = Field(default=None, primary_key=True)
    source_customer_id: str = Field(max_length=128, index=True)
    target_customer_id: str = Field(max_length=128, index=True)
    actor: str = Field(max_length=128)
    reason: str = Field(max_length=500)
    evidence: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    moved: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)  # table -> rows
    merged_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
