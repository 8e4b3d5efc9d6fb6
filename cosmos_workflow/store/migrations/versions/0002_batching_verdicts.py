"""batching verdicts

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 20:10:00

Results of `cosmos verify-batching`: which kinds of batching keep outputs on which GPU profile.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batching_verdicts",
        sa.Column("backend", sa.String(length=16), nullable=False),
        sa.Column("variant", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("controls", sa.String(length=64), nullable=False),
        sa.Column("gpu_profile", sa.String(length=64), nullable=False),
        sa.Column("identical", sa.Boolean(), nullable=False),
        sa.Column("bit_identical", sa.Boolean(), nullable=False),
        sa.Column("min_psnr_db", sa.Float(), nullable=True),
        sa.Column("runs_compared", sa.Integer(), nullable=False),
        sa.Column("simulated", sa.Boolean(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("verified_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "backend", "variant", "kind", "controls", "gpu_profile", "simulated"
        ),
    )


def downgrade() -> None:
    op.drop_table("batching_verdicts")
