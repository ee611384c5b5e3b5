"""Enrollments: holdout flag, a revision for optimistic concurrency, waits for events.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("enrollment") as batch:
        batch.add_column(sa.Column("holdout", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("waiting_for", sa.String(128), nullable=True))
        batch.create_index("ix_enrollment_waiting", ["customer_id", "waiting_for"])


def downgrade() -> None:
    with op.batch_alter_table("enrollment") as batch:
        batch.drop_index("ix_enrollment_waiting")
        batch.drop_column("waiting_for")
        batch.drop_column("revision")
        batch.drop_column("holdout")
