"""attempt processes

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 22:00:00

Where each attempt's process runs (machine, work directory, process group, container) and the
lease it ran under, so a reaper or the next worker can find and end an orphaned process.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = (
    sa.Column("lease_token", sa.String(length=40), nullable=True),
    sa.Column("machine", sa.String(length=200), nullable=True),
    sa.Column("workdir", sa.Text(), nullable=True),
    sa.Column("marker", sa.String(length=80), nullable=True),
    sa.Column("process_group", sa.Integer(), nullable=True),
    sa.Column("container_runtime", sa.String(length=16), nullable=True),
    sa.Column("container_name", sa.String(length=200), nullable=True),
)


def upgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        for column in COLUMNS:
            batch.add_column(column)
    op.create_index("ix_attempts_open", "attempts", ["host_name", "ended_at"])


def downgrade() -> None:
    op.drop_index("ix_attempts_open", table_name="attempts")
    with op.batch_alter_table("attempts") as batch:
        for column in reversed(COLUMNS):
            batch.drop_column(column.name)
