"""sweeps and picks

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 02:00:00

A sweep is the cartesian product of prompts, control-weight axes and seeds queued as one named
unit (domain.sweeps); each run it made names it (`runs.sweep_id`, kept when batching moves the
run to another job, NULL for runs queued one by one). `runs.picked` is the reviewer's pick of a
run in the review grid, beside its rating.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", sa.String(length=40), primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False, unique=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
    )
    with op.batch_alter_table("runs") as batch:
        batch.add_column(
            sa.Column(
                "sweep_id",
                sa.String(length=40),
                sa.ForeignKey("sweeps.id", name="fk_runs_sweep", ondelete="SET NULL"),
                nullable=True,
            )
        )
        batch.add_column(
            sa.Column("picked", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_index("ix_runs_sweep", "runs", ["sweep_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_sweep", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("picked")
        batch.drop_column("sweep_id")
    op.drop_table("sweeps")
