"""Journey lifecycle: each journey's state with its history, and proof sends.

``journey_state``: one row per journey key (live, paused, stopped, archived, draft); the
dispatcher reads it before every provider request. Journeys published before this revision
start live, as they were. ``journey_state_change``: who changed it, when and why.
``proof_send``: messages sent to the team's proof list, apart from touches.

Revision ID: 0007
Revises: 0006 (written against 0005; re-chained after privacy's 0006 reached main)
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "journey_state",
        sa.Column("journey_key", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("stop_mode", sa.String(8), nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("changed_by", sa.String(128), nullable=True),
        sa.Column("changed_at", TZ, nullable=False),
    )
    op.create_table(
        "journey_state_change",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("journey_key", sa.String(64), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=False),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("stop_mode", sa.String(8), nullable=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("changed_by", sa.String(128), nullable=False),
        sa.Column("changed_at", TZ, nullable=False),
        sa.Column("detail", JSON, nullable=False),
    )
    op.create_index(
        "ix_journey_state_change_journey_key", "journey_state_change", ["journey_key"]
    )
    op.create_table(
        "proof_send",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("journey_key", sa.String(64), nullable=False),
        sa.Column("journey_version", sa.Integer, nullable=False),
        sa.Column("step_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=True),
        sa.Column("provider", sa.String(32), nullable=True),
        sa.Column("provider_message_id", sa.String(128), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("sent_by", sa.String(128), nullable=False),
        sa.Column("sent_at", TZ, nullable=False),
        sa.Column("detail", JSON, nullable=False),
    )
    op.create_index("ix_proof_send_journey_key", "proof_send", ["journey_key"])
    # Journeys already published were live: they stay so.
    op.execute(
        "INSERT INTO journey_state (journey_key, state, reason, changed_by, changed_at) "
        "SELECT key, 'live', 'published before lifecycle states', 'migration 0007', "
        "MIN(published_at) FROM journey GROUP BY key"
    )


def downgrade() -> None:
    op.drop_index("ix_proof_send_journey_key", table_name="proof_send")
    op.drop_table("proof_send")
    op.drop_index("ix_journey_state_change_journey_key", table_name="journey_state_change")
    op.drop_table("journey_state_change")
    op.drop_table("journey_state")
