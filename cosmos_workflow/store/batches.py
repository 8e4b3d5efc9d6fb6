"""Plans and batches: the queued runs as the planner reads them, stored plans, batch jobs made by
moving queued runs, and their undo.

A batch only ever moves queued runs between jobs. A source job left with no unfinished run
becomes `merged` (pointing at its batch); each run keeps the job and the index it was created
with (`origin_job_id`, `origin_index`), so an undo puts every run back where it was queued, in
its original order.

Lock order (PostgreSQL), the one every transaction that touches jobs and runs follows so that
none can wait on another in a cycle: the plan row first (applying a plan), then job rows, several
in id order (`lock_jobs`), then runs. A claim locks its one job and then moves its runs in the
same statement; a finish, a split or a requeue locks its held job (`jobs.lease_held`) before it
writes runs or inserts a job. Batching locks only jobs that are queued (a running job is never
waited on here, so a reaper holding running jobs cannot close a cycle), re-reads what it planned
from after the locks, and moves a run only while it is still queued in a locked job
(compare-and-set), so two batchings of the same head cannot both win. A deadlock or
serialization failure that still happens rolls the whole transaction back, and the services run
it again (`Database.write_retrying`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Text, case, cast, delete, func, select, update
from sqlalchemy.orm import Session

from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.errors import Conflict
from cosmos_workflow.domain.params import ExecutionParams, JobKind, params_from_dict
from cosmos_workflow.domain.states import UNFINISHED_RUNS, JobStatus, RunStatus
from cosmos_workflow.domain.work import QueuedRun, VideoInfo
from cosmos_workflow.store.db import now, rowcount
from cosmos_workflow.store.events import record_event
from cosmos_workflow.store.jobs import QUEUE_ORDER, add_jobs, new_job_row, set_job_status
from cosmos_workflow.store.models import InputRow, JobRow, PlanRow, PromptRow, RunRow

# Runs per UPDATE when each needs its own batch index (a CASE over their ids): well inside the
# bound-parameter limits of SQLite and PostgreSQL.
_CHUNK = 500


def load_queued_runs(
    session: Session, limit: int | None = None, job_ids: Sequence[str] | None = None
) -> list[QueuedRun]:
    """Every queued run of a queued inference job (the first `limit` ones; only those of
    `job_ids` when given), in execution order, as the planner sees it."""
    query = (
        select(
            RunRow.id,
            RunRow.job_id,
            # Raw JSON text: a queue shares a few weight and parameter sets among many runs,
            # so each distinct text is decoded once (see below).
            cast(RunRow.weights, Text).label("weights"),
            cast(RunRow.params, Text).label("params"),
            JobRow.priority,
            JobRow.gpu_batch_size,
            PromptRow.negative,
            InputRow.frames,
            InputRow.fps,
            InputRow.width,
            InputRow.height,
        )
        .join(JobRow, RunRow.job_id == JobRow.id)
        .join(PromptRow, RunRow.prompt_id == PromptRow.id)
        .join(InputRow, PromptRow.input_id == InputRow.id)
        .where(
            JobRow.status == JobStatus.QUEUED.value,
            JobRow.kind == JobKind.INFERENCE.value,
            RunRow.status == RunStatus.QUEUED.value,
        )
        .order_by(*QUEUE_ORDER, RunRow.batch_index, RunRow.id)
    )
    if job_ids is not None:
        query = query.where(RunRow.job_id.in_(list(job_ids)))
    rows = session.execute(query if limit is None else query.limit(limit)).all()
    params_cache: dict[str, ExecutionParams] = {}
    weights_cache: dict[str, dict[Control, float]] = {}
    job_index: dict[str, int] = {}
    runs = []
    for row in rows:
        params = params_cache.get(row.params)
        if params is None:
            params = params_cache[row.params] = params_from_dict(json.loads(row.params))
        weights = weights_cache.get(row.weights)
        if weights is None:
            decoded = json.loads(row.weights)
            weights = weights_cache[row.weights] = {
                Control(k): float(v) for k, v in decoded.items()
            }
        runs.append(
            QueuedRun(
                run_id=row.id,
                job_id=row.job_id,
                priority=row.priority,
                queue_index=job_index.setdefault(row.job_id, len(job_index)),
                weights=weights,
                params=params,
                negative_prompt=row.negative,
                video=VideoInfo(frames=row.frames, fps=row.fps, width=row.width, height=row.height),
                job_gpu_batch_size=row.gpu_batch_size,
            )
        )
    return runs


# -- plans -------------------------------------------------------------------------------------


def add_plan(
    session: Session,
    plan_id: str,
    *,
    created_at: float,
    mode: str,
    fingerprint: str,
    body: dict[str, Any],
    speedup: float,
) -> None:
    session.add(
        PlanRow(id=plan_id, created_at=created_at, mode=mode, fingerprint=fingerprint, body=body)
    )
    record_event(session, "plan.created", plan_id=plan_id, mode=mode, speedup=speedup)


def find_plan(session: Session, plan_id: str | None, *, lock: bool = False) -> PlanRow | None:
    """A stored plan, or the newest one when `plan_id` is None (its row locked for the
    transaction when `lock`: the first lock of an apply, see the module's lock order)."""
    query = select(PlanRow)
    query = (
        query.where(PlanRow.id == plan_id)
        if plan_id
        else query.order_by(PlanRow.created_at.desc()).limit(1)
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalar(query)


def mark_plan_applied(
    session: Session,
    plan: PlanRow,
    created: Sequence[str],
    merged: Sequence[str],
    dropped: Sequence[str] = (),
) -> None:
    """`dropped`: the runs a rebase left out (claimed or finished since the analysis)."""
    plan.applied_at = now()
    extra: dict[str, Any] = {"dropped": list(dropped)} if dropped else {}
    record_event(
        session,
        "plan.applied",
        plan_id=plan.id,
        created=list(created),
        merged=list(merged),
        **extra,
    )


# -- batches -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewBatch:
    """One batch job to make: these queued runs, in this order, taken from these jobs."""

    run_ids: Sequence[str]
    source_job_ids: Sequence[str]
    backend: str
    priority: int
    gpu_batch_size: int
    predicted_seconds: float
    predicted_load_seconds: float


def lock_jobs(
    session: Session, job_ids: Sequence[str], statuses: Sequence[JobStatus] = (JobStatus.QUEUED,)
) -> dict[str, JobRow]:
    """Lock those of these jobs that are in one of `statuses`, in id order (PostgreSQL
    `FOR UPDATE`; SQLite's single writer needs none), and return them re-read from after the
    locks: a job another transaction changed meanwhile shows its committed state, never the
    session's stale copy. A job that left `statuses` is neither locked nor returned."""
    found: dict[str, JobRow] = {}
    wanted = sorted(set(job_ids))
    for start in range(0, len(wanted), _CHUNK):
        query = (
            select(JobRow)
            .where(
                JobRow.id.in_(wanted[start : start + _CHUNK]),
                JobRow.status.in_([status.value for status in statuses]),
            )
            .order_by(JobRow.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        found.update((job.id, job) for job in session.scalars(query))
    return found


@dataclass(frozen=True)
class RunState:
    """Where a run is now: its job and both statuses (what a rebase needs of a run that left
    the queue)."""

    job_id: str
    status: str
    job_status: str


def run_states(session: Session, run_ids: Sequence[str]) -> dict[str, RunState]:
    """These runs' jobs and statuses; a run that no longer exists is missing."""
    found: dict[str, RunState] = {}
    ids = list(run_ids)
    for start in range(0, len(ids), _CHUNK):
        rows = session.execute(
            select(RunRow.id, RunRow.job_id, RunRow.status, JobRow.status.label("job_status"))
            .join(JobRow, RunRow.job_id == JobRow.id)
            .where(RunRow.id.in_(ids[start : start + _CHUNK]))
        ).all()
        found.update((r.id, RunState(r.job_id, r.status, r.job_status)) for r in rows)
    return found


def apply_batches(
    session: Session, batches: Sequence[NewBatch], *, max_attempts: int, plan_id: str | None
) -> tuple[list[str], list[str]]:
    """Make the batch jobs and merge the source jobs they emptied, after locking every source
    job (the module's lock order). Conflict, with nothing kept, when a source job is no longer
    queued or a run is no longer queued in one of them. Returns (batch job ids, merged job
    ids)."""
    involved = sorted({job_id for batch in batches for job_id in batch.source_job_ids})
    locked = lock_jobs(session, involved)
    gone = [job_id for job_id in involved if job_id not in locked]
    if gone:
        raise Conflict(
            f"job(s) {_some(gone)} left the queue meanwhile (claimed, merged or cancelled); "
            "nothing was batched"
        )
    created: list[str] = []
    sources: dict[str, str] = {}
    for batch in batches:
        batch_id = create_batch_job(session, batch, max_attempts=max_attempts, plan_id=plan_id)
        created.append(batch_id)
        for job_id in batch.source_job_ids:
            sources.setdefault(job_id, batch_id)
    # A source job keeps the runs that already ended (after a crash, say) with their outputs;
    # it is merged when no run of it is left to do.
    busy = set(
        session.scalars(
            select(RunRow.job_id)
            .where(
                RunRow.job_id.in_(list(sources)),
                RunRow.status.in_(sorted(s.value for s in UNFINISHED_RUNS)),
            )
            .distinct()
        ).all()
    )
    emptied = [job_id for job_id in sources if job_id not in busy]
    for job_id in emptied:
        set_job_status(
            session,
            locked[job_id],
            JobStatus.MERGED,
            reason=f"batched into {sources[job_id]}",
            merged_into_job_id=sources[job_id],
        )
    return created, emptied


def create_batch_job(
    session: Session, batch: NewBatch, *, max_attempts: int, plan_id: str | None
) -> str:
    """A new queued job holding the batch's runs, in the queue place of its earliest member."""
    first = session.scalar(
        select(JobRow).where(JobRow.id.in_(list(batch.source_job_ids))).order_by(*QUEUE_ORDER)
    )
    assert first is not None
    row = new_job_row(
        kind=JobKind.INFERENCE.value,
        backend=batch.backend,
        priority=batch.priority,
        position=first.position,
        max_attempts=max_attempts,
        predicted_seconds=batch.predicted_seconds,
        gpu_batch_size=batch.gpu_batch_size,
        created_at=first.created_at,
        plan_id=plan_id,
    )
    add_jobs(session, [row], [])
    job_id: str = row["id"]
    # Each run's share of the batch's predicted compute, to set beside its measured compute.
    per_run = (batch.predicted_seconds - batch.predicted_load_seconds) / len(batch.run_ids)
    taken = (RunRow.status == RunStatus.QUEUED.value) & RunRow.job_id.in_(
        list(batch.source_job_ids)
    )
    moved = _move_runs(
        session, job_id, batch.run_ids, only=taken, predicted_seconds=round(per_run, 3)
    )
    if moved != len(batch.run_ids):
        raise Conflict(
            f"{len(batch.run_ids) - moved} of the batch's {len(batch.run_ids)} runs are no "
            "longer queued in the jobs they were planned from; nothing was batched"
        )
    record_event(
        session,
        "batch.created",
        job_id=job_id,
        runs=len(batch.run_ids),
        sources=list(batch.source_job_ids),
    )
    return job_id


def _move_runs(
    session: Session,
    job_id: str,
    run_ids: Sequence[str],
    only: ColumnElement[bool] | None = None,
    **values: Any,
) -> int:
    """Move runs into `job_id` at batch indexes 0, 1, ... in the given order: one UPDATE per
    chunk of runs, each run's index picked by a CASE over the chunk's ids. `only`: move a run
    only while it matches (the compare-and-set of a batch). Returns how many moved."""
    moved = 0
    for start in range(0, len(run_ids), _CHUNK):
        chunk = list(run_ids[start : start + _CHUNK])
        index = case({run_id: start + i for i, run_id in enumerate(chunk)}, value=RunRow.id)
        which = RunRow.id.in_(chunk) if only is None else RunRow.id.in_(chunk) & only
        moved += rowcount(
            session.execute(
                update(RunRow)
                .where(which)
                .values(job_id=job_id, batch_index=index, **values)
                .execution_options(synchronize_session=False)
            )
        )
    return moved


def _some(ids: Sequence[str], shown: int = 5) -> str:
    """A few ids for a message, and how many more there are."""
    text = ", ".join(ids[:shown])
    return text if len(ids) <= shown else f"{text} and {len(ids) - shown} more"


def batch_job(session: Session, job_id: str) -> JobRow | None:
    return session.get(JobRow, job_id)


def undo_batch_job(session: Session, batch: JobRow) -> list[str]:
    """Give a queued batch's runs back to the jobs they were created in, at the index they were
    created with, requeue those jobs if they were merged, and delete the batch. The batch and
    those jobs are locked first, in id order (the module's lock order), and re-read. Refused
    (nothing changed) when the batch left the queue meanwhile, or a run's job of origin could
    not take it back: only a queued or merged job can. Returns the restored job ids."""
    origins = _origins(session, batch.id)
    takers = (JobStatus.QUEUED, JobStatus.MERGED)
    jobs = lock_jobs(session, [batch.id, *origins], takers)
    if batch.id not in jobs or jobs[batch.id].status != JobStatus.QUEUED.value:
        raise Conflict(f"batch {batch.id} left the queue meanwhile; only a queued one is undone")
    if _origins(session, batch.id) != origins:
        raise Conflict(f"batch {batch.id} changed meanwhile; look at it again before an undo")
    stuck = [job_id for job_id in origins if job_id not in jobs]
    if stuck:
        states = job_statuses(session, stuck)
        stuck = [f"{job_id} ({states.get(job_id, 'deleted')})" for job_id in stuck]
        raise Conflict(
            f"batch {batch.id} holds runs first queued in job(s) {', '.join(stuck)}, which "
            "cannot take them back (only a queued or merged job can); the batch stays queued"
        )
    session.execute(
        update(RunRow)
        .where(RunRow.job_id == batch.id)
        .values(
            job_id=RunRow.origin_job_id,
            batch_index=func.coalesce(RunRow.origin_index, RunRow.batch_index),
        )
        .execution_options(synchronize_session=False)
    )
    _renumber_unindexed(session, origins)
    for job_id in origins:
        if jobs[job_id].status == JobStatus.MERGED.value:
            set_job_status(
                session,
                jobs[job_id],
                JobStatus.QUEUED,
                reason="batch undone",
                merged_into_job_id=None,
            )
    session.execute(
        update(JobRow)
        .where(JobRow.merged_into_job_id == batch.id)
        .values(merged_into_job_id=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(delete(JobRow).where(JobRow.id == batch.id))
    record_event(session, "batch.undone", job_id=batch.id, restored=origins)
    return origins


def _origins(session: Session, batch_id: str) -> list[str]:
    """The jobs a batch's runs were created in, sorted."""
    return sorted(
        set(session.scalars(select(RunRow.origin_job_id).where(RunRow.job_id == batch_id)).all())
    )


def job_statuses(session: Session, job_ids: Sequence[str]) -> dict[str, str]:
    """These jobs' statuses, read without a lock (for a refusal's message)."""
    rows = session.execute(select(JobRow.id, JobRow.status).where(JobRow.id.in_(list(job_ids))))
    return {row.id: row.status for row in rows}


def _renumber_unindexed(session: Session, job_ids: Sequence[str]) -> None:
    """Runs created before their index of origin was recorded (`origin_index` NULL) have no
    order to go back to: those jobs are numbered afresh, in creation order."""
    legacy = session.scalars(
        select(RunRow.job_id)
        .where(RunRow.job_id.in_(list(job_ids)), RunRow.origin_index.is_(None))
        .distinct()
    ).all()
    for job_id in legacy:
        ordered = session.scalars(
            select(RunRow.id).where(RunRow.job_id == job_id).order_by(RunRow.created_at, RunRow.id)
        ).all()
        _move_runs(session, job_id, ordered)
