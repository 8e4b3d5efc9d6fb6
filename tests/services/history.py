"""Retention tests' tools: make recorded history older, and list a folder's files."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import update

from cosmos_workflow.services.context import Context
from cosmos_workflow.store.models import AttemptRow, EventRow, JobRow, PlanRow, RunRow

# Every time column that says how old something is.
_TIMES = {
    JobRow: ("created_at", "updated_at", "started_at", "finished_at"),
    RunRow: ("created_at", "started_at", "finished_at"),
    AttemptRow: ("started_at", "ended_at"),
    EventRow: ("created_at",),
    PlanRow: ("created_at",),
}


def age_history(ctx: Context, days: float) -> None:
    """Move every recorded time back by `days`: the database as it will be that much later
    (for what runs on the real clock: the CLI and the worker)."""
    shift = days * 86_400
    with ctx.db.write() as session:
        for table, names in _TIMES.items():
            for name in names:
                column = getattr(table, name)
                session.execute(
                    update(table).where(column.is_not(None)).values({name: column - shift})
                )


def files_under(root: Path) -> dict[str, bytes]:
    """Every file under `root` with its bytes, and every folder (as b"/")."""
    return {
        path.relative_to(root).as_posix(): b"/" if path.is_dir() else path.read_bytes()
        for path in sorted(root.rglob("*"))
    }
