"""The consent ledger: every grant and revocation as its own row, never updated.

The current state for a (customer, channel, purpose) is the row Touchline *received* last
(``received_at``, then ``id``); ``recorded_at`` is when the change happened, as told — the
evidence, never the order (preference_center.consent). The history is the evidence a
regulator or an angry customer may ask for.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from touchline.record.types import JSONType, UTCDateTime


def _received_default(context: Any) -> datetime:
    return context.get_current_parameters()["recorded_at"]


class Consent(SQLModel, table=True):
    __table_args__ = (
        Index("ix_consent_current", "customer_id", "channel", "purpose", "recorded_at"),
        Index("ix_consent_received", "customer_id", "received_at"),
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
    # When Touchline received the change: the ledger's order. Written by the ledger API
    # (preference_center.ledger); a row inserted without it takes ``recorded_at``.
    received_at: datetime = Field(
        sa_type=UTCDateTime,
        nullable=False,
        sa_column_kwargs={"default": _received_default},
    )
