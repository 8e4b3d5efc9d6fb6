"""run keys

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 13:30:00

Two run columns that let lists and undo work in SQL: `control_set` (the run's control-set key,
e.g. `depth+edge`, indexed so `runs list --controls` filters in the database) and `origin_index`
(the run's index in the job it was created in, so undoing a batch restores the original order).
Indexes for the list queries: runs newest first, runs by control set or origin job, job history
newest first, and the foreign keys a prune deletes through (a retried job, an upscaled run); and
the queue-order index rebuilt in the claim's exact order (priority descending,
then position, age and id), so picking the next job reads one index entry instead of sorting
every queued job.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_FILL_CHUNK = 5_000
QUEUE_ORDER: list[str | sa.TextClause] = [
    "status",
    sa.text("priority DESC"),
    "position",
    "created_at",
    "id",
]


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(
            sa.Column("control_set", sa.String(length=64), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("origin_index", sa.Integer(), nullable=True))
    _fill_control_sets()
    # A run still in the job it was created in keeps its first batch index; a run that was
    # moved (merged, split) cannot tell its first index any more and stays NULL.
    op.execute("UPDATE runs SET origin_index = batch_index WHERE job_id = origin_job_id")
    # Lists read runs newest first (created_at DESC, id) and job history by updated_at DESC, id:
    # each index below holds its rows in exactly that order after its filter column, so a page
    # is read from the index without sorting what matched.
    newest: list[str | sa.TextClause] = [sa.text("created_at DESC"), "id"]
    op.create_index("ix_runs_created", "runs", newest)
    op.create_index("ix_runs_control_set", "runs", ["control_set", *newest])
    op.drop_index("ix_runs_status", table_name="runs")
    op.create_index("ix_runs_status_created", "runs", ["status", *newest])
    op.create_index("ix_runs_origin", "runs", ["origin_job_id", "origin_index"])
    op.create_index("ix_jobs_history", "jobs", [sa.text("updated_at DESC"), "id"])
    op.create_index("ix_jobs_retry_of", "jobs", ["retry_of_job_id"])
    op.create_index("ix_runs_parent", "runs", ["parent_run_id"])
    op.drop_index("ix_jobs_queue_order", table_name="jobs")
    op.create_index("ix_jobs_queue_order", "jobs", QUEUE_ORDER)


def _fill_control_sets() -> None:
    """The key is the sorted control names of the run's weights (the same rule as
    domain.controls.control_set_key), computed here so the migration needs no app import."""
    conn = op.get_bind()
    runs = sa.table(
        "runs",
        sa.column("id", sa.String()),
        sa.column("weights", sa.JSON()),
        sa.column("control_set", sa.String()),
    )
    last = ""
    while True:
        rows = conn.execute(
            sa.select(runs.c.id, runs.c.weights)
            .where(runs.c.id > last)
            .order_by(runs.c.id)
            .limit(_FILL_CHUNK)
        ).all()
        if not rows:
            return
        updates = [{"run_id": row.id, "key": _key(row.weights)} for row in rows]
        conn.execute(
            runs.update()
            .where(runs.c.id == sa.bindparam("run_id"))
            .values(control_set=sa.bindparam("key")),
            updates,
        )
        last = rows[-1].id


def _key(weights: Any) -> str:
    if isinstance(weights, str):
        weights = json.loads(weights)
    return "+".join(sorted(str(name) for name in (weights or {})))


def downgrade() -> None:
    op.drop_index("ix_jobs_queue_order", table_name="jobs")
    op.create_index("ix_jobs_queue_order", "jobs", ["status", "priority", "position", "created_at"])
    op.drop_index("ix_runs_parent", table_name="runs")
    op.drop_index("ix_jobs_retry_of", table_name="jobs")
    op.drop_index("ix_jobs_history", table_name="jobs")
    op.drop_index("ix_runs_origin", table_name="runs")
    op.drop_index("ix_runs_status_created", table_name="runs")
    op.create_index("ix_runs_status", "runs", ["status"])
    op.drop_index("ix_runs_control_set", table_name="runs")
    op.drop_index("ix_runs_created", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("origin_index")
        batch.drop_column("control_set")
