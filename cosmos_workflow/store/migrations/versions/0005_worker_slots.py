"""worker slots

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 23:00:00

The GPU slot each worker registration drives (`host/index`, domain.fleet): one `cosmos worker`
now runs one job per slot of its hosts at once and registers each slot, so the fleet view can
say what runs on which slot and draw each slot's past attempts. NULL for registrations made
before slots existed (one per host).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("slot", sa.String(length=80), nullable=True))
    op.create_index("ix_workers_slot", "workers", ["slot", "heartbeat_at"])


def downgrade() -> None:
    op.drop_index("ix_workers_slot", table_name="workers")
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("slot")
