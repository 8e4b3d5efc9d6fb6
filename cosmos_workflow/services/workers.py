"""Workers as users look at them: which host, simulated or not, alive, and what they run."""

from __future__ import annotations

from pydantic import BaseModel

from cosmos_workflow import defaults
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.db import now
from cosmos_workflow.store.models import WorkerRow
from cosmos_workflow.store.workers import workers_by_heartbeat


class WorkerView(BaseModel):
    id: str
    host_name: str
    slot: str | None  # `host/index`; None for a registration made before slots existed
    machine: str
    pid: int
    simulate: bool
    started_at: float
    heartbeat_at: float
    stopped_at: float | None
    current_job_id: str | None
    alive: bool  # heard from within one lease length and not stopped

    @classmethod
    def of(cls, row: WorkerRow, lease_seconds: float, stamp: float) -> WorkerView:
        return cls(
            id=row.id,
            host_name=row.host_name,
            slot=row.slot,
            machine=row.machine,
            pid=row.pid,
            simulate=row.simulate,
            started_at=row.started_at,
            heartbeat_at=row.heartbeat_at,
            stopped_at=row.stopped_at,
            current_job_id=row.current_job_id,
            alive=row.stopped_at is None and stamp - row.heartbeat_at <= lease_seconds,
        )


def list_workers(
    ctx: Context, *, include_stopped: bool = False, limit: int = 100
) -> list[WorkerView]:
    """Workers, most recently heard from first. A worker whose heartbeat is older than one lease
    is shown as not alive: its job's lease has lapsed too (defaults.LEASE_SECONDS)."""
    lease = ctx.settings.lease_seconds or defaults.LEASE_SECONDS
    stamp = now()
    with ctx.db.read() as session:
        rows = workers_by_heartbeat(session, include_stopped=include_stopped, limit=limit)
        return [WorkerView.of(row, lease, stamp) for row in rows]
