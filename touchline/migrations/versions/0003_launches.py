"""Campaign launches: one row per launch of a journey to a segment file.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Migrations spell out their columns rather than import the models: a migration must
    # keep meaning what it meant when it was written.
    op.create_table(
        "launch",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("journey_key", sa.String(64), nullable=False),
        sa.Column("journey_version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("segment_path", sa.String(500), nullable=False),
        sa.Column("segment_sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("enrolled", sa.Integer(), nullable=False),
        sa.Column("already_enrolled", sa.Integer(), nullable=False),
        sa.Column("filtered_out", sa.Integer(), nullable=False),
        sa.Column("unknown_customers", sa.Integer(), nullable=False),
        sa.Column("rejected_rows", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
    )
    op.create_index("ix_launch_journey_key", "launch", ["journey_key"])


def downgrade() -> None:
    op.drop_index("ix_launch_journey_key", table_name="launch")
    op.drop_table("launch")
