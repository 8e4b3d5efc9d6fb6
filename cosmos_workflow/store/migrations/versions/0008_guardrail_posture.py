"""guardrail posture

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09 02:00:00

The guardrail posture of each run (domain.guardrails): what its host asked for
(`guardrails_asked`: on or off) and what the model applied (`guardrails_got`: on, off or "not
applied by the model"), written when an attempt starts. NULL for a run that never started, and
for runs that ran before this was recorded: their posture cannot be told any more.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("guardrails_asked", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("guardrails_got", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("guardrails_got")
        batch.drop_column("guardrails_asked")
