"""notifications

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 02:00:00

One row per notification a worker claimed before sending it (`[[notify]]` in cosmos.toml): the
key (event, subject, target) is the primary key, so when several workers see the same event only
the one whose insert lands sends it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("key", sa.String(length=200), primary_key=True),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_notifications_created_at", "notifications", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_notifications_created_at", table_name="notifications")
    op.drop_table("notifications")
