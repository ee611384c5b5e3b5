"""The preference center: topics in the consent ledger, the customer's own frequency limit,
identity evidence and merges, learned channel and timing effectiveness.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    # batch_alter_table: SQLite cannot add a foreign key or alter a column in place.
    with op.batch_alter_table("consent") as batch:
        batch.add_column(sa.Column("topic", sa.String(64), nullable=True))
    with op.batch_alter_table("touch") as batch:
        batch.add_column(sa.Column("topic", sa.String(64), nullable=True))
    with op.batch_alter_table("preference") as batch:
        batch.add_column(sa.Column("max_per_week", sa.Integer(), nullable=True))
    with op.batch_alter_table("identity") as batch:
        batch.add_column(sa.Column("evidence", JSON, nullable=True))
    with op.batch_alter_table("customer") as batch:
        batch.add_column(sa.Column("merged_into", sa.String(128), nullable=True))

    op.create_table(
        "customer_merge",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("source_customer_id", sa.String(128), nullable=False),
        sa.Column("target_customer_id", sa.String(128), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("evidence", JSON, nullable=False),
        sa.Column("moved", JSON, nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_customer_merge_source_customer_id", "customer_merge", ["source_customer_id"])
    op.create_index("ix_customer_merge_target_customer_id", "customer_merge", ["target_customer_id"])

    op.create_table(
        "suppression",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),  # email | phone | whatsapp | x_handle
        sa.Column("value", sa.String(320), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),  # bounce | spamreport | invalid | admin
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("evidence", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_suppression_kind_value", "suppression", ["kind", "value"])

    op.create_table(
        "channel_effectiveness",
        sa.Column("scope", sa.String(16), primary_key=True),  # customer | segment | global
        sa.Column("scope_key", sa.String(128), primary_key=True),
        sa.Column("kind", sa.String(64), primary_key=True),  # kind of message
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("engaged", sa.Integer(), nullable=False),
        sa.Column("rate", sa.Float(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "timing_effectiveness",
        sa.Column("scope", sa.String(16), primary_key=True),
        sa.Column("scope_key", sa.String(128), primary_key=True),
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("hour_of_week", sa.SmallInteger(), primary_key=True),  # 0 = Monday 00h local
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("engaged", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("timing_effectiveness")
    op.drop_table("channel_effectiveness")
    op.drop_index("ix_suppression_kind_value", table_name="suppression")
    op.drop_table("suppression")
    op.drop_index("ix_customer_merge_target_customer_id", table_name="customer_merge")
    op.drop_index("ix_customer_merge_source_customer_id", table_name="customer_merge")
    op.drop_table("customer_merge")
    with op.batch_alter_table("customer") as batch:
        batch.drop_column("merged_into")
    with op.batch_alter_table("identity") as batch:
        batch.drop_column("evidence")
    with op.batch_alter_table("preference") as batch:
        batch.drop_column("max_per_week")
    with op.batch_alter_table("touch") as batch:
        batch.drop_column("topic")
    with op.batch_alter_table("consent") as batch:
        batch.drop_column("topic")
