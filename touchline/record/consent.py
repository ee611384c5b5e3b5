"""The consent ledger: every grant and revocation as its own row, never updated.

The current state for a (customer, channel, purpose) is the latest row; the history is
the evidence a regulator or an angry customer may ask for.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from touchline.record.types import JSONType, UTCDateTime


class Consent(SQLModel, table=True):
    __table_args__ = (
        Index("ix_consent_current", "customer_id", "channel", "purpose", "recorded_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(foreign_key="customer.id", max_length=128)
    channel: str = Field(max_length=16)  # email | sms | whatsapp | x | all (topics only)
    purpose: str = Field(max_length=16)  # marketing | transactional
    # A subscription group (newsletter, promotions…). Set: the row subscribes to or
    # unsubscribes from that topic (on ``channel``, or on every channel with "all");
    # None: the row grants or revokes the channel itself for the purpose.
    topic: str | None = Field(default=None, max_length=64)
    status: str = Field(max_length=16)  # granted | revoked | pending
    source: str = Field(
        max_length=32
    )  # signup_form | api | sms_keyword | unsubscribe_link | preference_page | confirmation_link | admin | import | provider | merge
    evidence: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    recorded_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
