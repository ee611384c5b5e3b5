"""The initial interaction record.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Plain SQLAlchemy types on purpose: a migration must keep meaning the same thing after the
application's models change.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "customer",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("attributes", JSON, nullable=False),
        ts("created_at"),
        ts("updated_at"),
    )
    op.create_table(
        "identity",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("customer_id", sa.String(128), sa.ForeignKey("customer.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(320), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        ts("created_at"),
        sa.UniqueConstraint("kind", "value", name="uq_identity_kind_value"),
    )
    op.create_index("ix_identity_customer_id", "identity", ["customer_id"])
    op.create_table(
        "preference",
        sa.Column("customer_id", sa.String(128), sa.ForeignKey("customer.id"), primary_key=True),
        sa.Column("channel_order", JSON, nullable=False),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("locale", sa.String(16), nullable=True),
        sa.Column("quiet_hours_start", sa.Time(), nullable=True),
        sa.Column("quiet_hours_end", sa.Time(), nullable=True),
        ts("updated_at"),
    )
    op.create_table(
        "consent",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("customer_id", sa.String(128), sa.ForeignKey("customer.id"), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("evidence", JSON, nullable=False),
        ts("recorded_at"),
    )
    op.create_index(
        "ix_consent_current", "consent", ["customer_id", "channel", "purpose", "recorded_at"]
    )
    op.create_table(
        "event",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("customer_id", sa.String(128), sa.ForeignKey("customer.id"), nullable=False),
        ts("occurred_at"),
        ts("received_at"),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("payload", JSON, nullable=False),
    )
    op.create_index("ix_event_type", "event", ["type"])
    op.create_index("ix_event_customer_time", "event", ["customer_id", "occurred_at"])
    op.create_table(
        "journey",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("definition", JSON, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("source_path", sa.String(500), nullable=True),
        ts("published_at"),
        sa.UniqueConstraint("key", "version", name="uq_journey_key_version"),
    )
    op.create_index("ix_journey_key", "journey", ["key"])
    op.create_table(
        "enrollment",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("journey_id", sa.Integer(), sa.ForeignKey("journey.id"), nullable=False),
        sa.Column("journey_key", sa.String(64), nullable=False),
        sa.Column("journey_version", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(128), sa.ForeignKey("customer.id"), nullable=False),
        sa.Column("trigger_event_id", sa.String(128), nullable=True),
        ts("trigger_at"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("current_step", sa.String(64), nullable=True),
        ts("step_entered_at", nullable=True),
        ts("next_action_at", nullable=True),
        sa.Column("context", JSON, nullable=False),
        ts("entered_at"),
        ts("ended_at", nullable=True),
        sa.Column("end_reason", sa.String(500), nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        ts("lease_expires_at", nullable=True),
        ts("updated_at"),
    )
    op.create_index("ix_enrollment_due", "enrollment", ["status", "next_action_at"])
    op.create_index("ix_enrollment_customer_journey", "enrollment", ["customer_id", "journey_key"])
    op.create_table(
        "touch",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("enrollment_id", sa.String(36), sa.ForeignKey("enrollment.id"), nullable=False),
        sa.Column("customer_id", sa.String(128), sa.ForeignKey("customer.id"), nullable=False),
        sa.Column("journey_key", sa.String(64), nullable=False),
        sa.Column("journey_version", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("template", sa.String(200), nullable=True),
        sa.Column("channel", sa.String(16), nullable=True),
        sa.Column("address", sa.String(320), nullable=True),
        sa.Column("decision", JSON, nullable=False),
        ts("scheduled_for"),
        ts("created_at"),
    )
    op.create_index("ix_touch_enrollment_id", "touch", ["enrollment_id"])
    op.create_index("ix_touch_customer_id", "touch", ["customer_id"])
    op.create_index("ix_touch_journey_step", "touch", ["journey_key", "step_id"])
    op.create_table(
        "interaction",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("touch_id", sa.String(36), sa.ForeignKey("touch.id"), nullable=True),
        sa.Column("customer_id", sa.String(128), sa.ForeignKey("customer.id"), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("channel", sa.String(16), nullable=True),
        sa.Column("provider", sa.String(32), nullable=True),
        sa.Column("provider_message_id", sa.String(128), nullable=True),
        ts("occurred_at"),
        ts("recorded_at"),
        sa.Column("detail", JSON, nullable=False),
    )
    op.create_index("ix_interaction_touch_id", "interaction", ["touch_id"])
    op.create_index("ix_interaction_provider_message_id", "interaction", ["provider_message_id"])
    op.create_index("ix_interaction_customer_time", "interaction", ["customer_id", "occurred_at"])


def downgrade() -> None:
    for table in (
        "interaction",
        "touch",
        "enrollment",
        "journey",
        "event",
        "consent",
        "preference",
        "identity",
        "customer",
    ):
        op.drop_table(table)
