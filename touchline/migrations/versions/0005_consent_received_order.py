"""The consent ledger in the order Touchline received the changes.

``consent.received_at``: when the change reached Touchline. The current state is the row
received last; ``recorded_at`` (when it happened, as told) stays as evidence. Existing rows
take their ``recorded_at``, which was the order until now.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("consent") as batch:
        batch.add_column(sa.Column("received_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE consent SET received_at = recorded_at")
    # batch_alter_table: SQLite cannot alter a column in place.
    with op.batch_alter_table("consent") as batch:
        batch.alter_column("received_at", existing_type=sa.DateTime(timezone=True), nullable=False)
    op.create_index("ix_consent_received", "consent", ["customer_id", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_consent_received", table_name="consent")
    with op.batch_alter_table("consent") as batch:
        batch.drop_column("received_at")
