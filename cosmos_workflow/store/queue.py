"""Queue mechanics: ordering, positions, claims with leases, heartbeats, recovery.

The only module that changes a job's status. A claim is one conditional UPDATE that filters on the
expected status and checks the row count: exactly-once on SQLite (writes serialised by
`BEGIN IMMEDIATE`) and on PostgreSQL (the UPDATE re-checks `status` after waiting for a row lock),
with no dialect branches and no process-local locks."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from cosmos_workflow import defaults
from cosmos_workflow.domain.errors import Conflict
from cosmos_workflow.domain.ids import new_id
from cosmos_workflow.domain.states import FailureClass, JobStatus, RunStatus, can_move
from cosmos_workflow.store.db import Database
from cosmos_workflow.store.models import EventRow, JobRow, QueueStateRow, RunRow

log = logging.getLogger(__name__)

QUEUE_ORDER = (JobRow.priority.desc(), JobRow.position.asc(), JobRow.created_at.asc(), JobRow.id)


def now() -> float:
    return time.time()


def record_event(
    session: Session,
    kind: str,
    *,
    job_id: str | None = None,
    run_id: str | None = None,
    **data: Any,
) -> None:
    session.add(EventRow(created_at=now(), kind=kind, job_id=job_id, run_id=run_id, data=data))


def queued_jobs_query() -> Select[tuple[JobRow]]:
    return select(JobRow).where(JobRow.status == JobStatus.QUEUED.value).order_by(*QUEUE_ORDER)


def position_at_bottom(session: Session) -> int:
    highest = session.scalar(select(func.max(JobRow.position)))
    return (highest or 0) + defaults.POSITION_GAP


def position_at_top(session: Session) -> int:
    lowest = session.scalar(select(func.min(JobRow.position)))
    return (lowest or 0) - defaults.POSITION_GAP


def position_before(session: Session, other: JobRow) -> int:
    """A position just before `other` among jobs of its priority; renumbers when no gap is left."""
    previous = session.scalar(
        select(func.max(JobRow.position)).where(
            JobRow.status == JobStatus.QUEUED.value,
            JobRow.priority == other.priority,
            JobRow.position < other.position,
        )
    )
    if previous is None:
        return other.position - defaults.POSITION_GAP
    if other.position - previous >= 2:
        return (previous + other.position) // 2
    _renumber(session)
    session.refresh(other)
    return other.position - defaults.POSITION_GAP // 2


def _renumber(session: Session) -> None:
    ids = session.scalars(select(JobRow.id).order_by(JobRow.position, JobRow.created_at)).all()
    for index, job_id in enumerate(ids, start=1):
        session.execute(
            update(JobRow).where(JobRow.id == job_id).values(position=index * defaults.POSITION_GAP)
        )


def set_job_status(
    session: Session, job: JobRow, target: JobStatus, *, reason: str | None = None, **values: Any
) -> None:
    """The one gate for job status changes: refuses illegal moves and records an event."""
    current = JobStatus(job.status)
    if not can_move(current, target):
        raise Conflict(f"job {job.id} is {current.value}; it cannot become {target.value}")
    job.status = target.value
    job.updated_at = now()
    for key, value in values.items():
        setattr(job, key, value)
    record_event(
        session,
        "job.status",
        job_id=job.id,
        status=target.value,
        previous=current.value,
        reason=reason,
    )


def set_runs_status(
    session: Session,
    job_id: str,
    target: RunStatus,
    *,
    only: Iterable[RunStatus] = (),
    **values: Any,
) -> None:
    statement = update(RunRow).where(RunRow.job_id == job_id)
    allowed = [status.value for status in only]
    if allowed:
        statement = statement.where(RunRow.status.in_(allowed))
    session.execute(statement.values(status=target.value, **values))
    record_event(session, "runs.status", job_id=job_id, status=target.value)


def is_paused(session: Session) -> bool:
    state = session.get(QueueStateRow, 1)
    return bool(state and state.paused)


def set_paused(session: Session, paused: bool) -> None:
    state = session.get(QueueStateRow, 1)
    if state is None:
        session.add(QueueStateRow(id=1, paused=paused, updated_at=now()))
    else:
        state.paused = paused
        state.updated_at = now()
    record_event(session, "queue.paused" if paused else "queue.resumed")


@dataclass(frozen=True)
class Claim:
    job_id: str
    lease_token: str
    attempt: int


def claim_next_job(
    db: Database,
    worker_id: str,
    *,
    lease_seconds: float,
    backends: Sequence[str] | None = None,
    host_name: str | None = None,
) -> Claim | None:
    """Take the next claimable job with a lease, or None when the queue is empty or paused.

    None always means "nothing to claim": a claim that loses a race to another worker tries the
    next candidates, and looks again while queued jobs remain (each lost race means another
    worker made progress, so this ends)."""
    reap_expired_leases(db)
    while True:
        with db.write() as session:
            if is_paused(session):
                return None
            query = queued_jobs_query().with_only_columns(JobRow.id)
            if backends is not None:
                query = query.where(JobRow.backend.in_(list(backends)))
            candidates = session.scalars(query.limit(defaults.CLAIM_CANDIDATES)).all()
            if not candidates:
                return None
            for candidate in candidates:
                claim = _try_claim(session, candidate, worker_id, lease_seconds, host_name)
                if claim is not None:
                    return claim


def _try_claim(
    session: Session, job_id: str, worker_id: str, lease_seconds: float, host_name: str | None
) -> Claim | None:
    """One conditional UPDATE: it changes the row only if the job is still queued."""
    token = uuid.uuid4().hex
    stamp = now()
    claimed = session.execute(
        update(JobRow)
        .where(JobRow.id == job_id, JobRow.status == JobStatus.QUEUED.value)
        .values(
            status=JobStatus.RUNNING.value,
            lease_token=token,
            lease_expires_at=stamp + lease_seconds,
            worker_id=worker_id,
            host_name=host_name,
            attempts=JobRow.attempts + 1,
            started_at=stamp,
            updated_at=stamp,
        )
    ).rowcount
    if claimed != 1:
        return None  # another worker won this one
    session.execute(
        update(RunRow)
        .where(RunRow.job_id == job_id, RunRow.status == RunStatus.QUEUED.value)
        .values(status=RunStatus.RUNNING.value, started_at=stamp, attempts=RunRow.attempts + 1)
    )
    attempt = session.scalar(select(JobRow.attempts).where(JobRow.id == job_id)) or 1
    record_event(
        session,
        "job.status",
        job_id=job_id,
        status=JobStatus.RUNNING.value,
        previous=JobStatus.QUEUED.value,
        worker_id=worker_id,
        attempt=attempt,
    )
    log.info("claimed job=%s worker=%s attempt=%d", job_id, worker_id, attempt)
    return Claim(job_id=job_id, lease_token=token, attempt=attempt)


def renew_lease(db: Database, job_id: str, token: str, lease_seconds: float) -> tuple[bool, bool]:
    """Extend a lease held with `token`. Returns (still held, cancel requested)."""
    with db.write() as session:
        renewed = session.execute(
            update(JobRow)
            .where(
                JobRow.id == job_id,
                JobRow.lease_token == token,
                JobRow.status == JobStatus.RUNNING.value,
            )
            .values(lease_expires_at=now() + lease_seconds)
        ).rowcount
        cancel = session.scalar(select(JobRow.cancel_requested).where(JobRow.id == job_id))
    return renewed == 1, bool(cancel)


def held_job(session: Session, job_id: str, token: str) -> JobRow | None:
    """The job if this lease token still holds it; final writes go through this guard."""
    return session.scalar(
        select(JobRow).where(
            JobRow.id == job_id,
            JobRow.lease_token == token,
            JobRow.status == JobStatus.RUNNING.value,
        )
    )


def reap_expired_leases(db: Database) -> list[str]:
    """Return jobs whose worker stopped renewing to the queue, or quarantine them as failed."""
    stamp = now()
    with db.read() as session:
        expired = session.scalars(
            select(JobRow.id).where(
                JobRow.status == JobStatus.RUNNING.value, JobRow.lease_expires_at < stamp
            )
        ).all()
    if not expired:
        return []
    reaped = []
    with db.write() as session:
        for job_id in expired:
            job = session.get(JobRow, job_id, with_for_update=not db.is_sqlite)
            if job is None or job.status != JobStatus.RUNNING.value:
                continue
            if job.lease_expires_at is None or job.lease_expires_at >= stamp:
                continue
            _requeue_or_quarantine(session, job)
            reaped.append(job_id)
    return reaped


def _requeue_or_quarantine(session: Session, job: JobRow) -> None:
    lease = {"lease_token": None, "lease_expires_at": None, "worker_id": None}
    if job.attempts >= job.max_attempts:
        message = f"worker stopped renewing its lease {job.attempts} times; quarantined"
        set_job_status(
            session,
            job,
            JobStatus.FAILED,
            reason="lease expired",
            error=message,
            failure_class=FailureClass.LEASE_EXPIRED.value,
            finished_at=now(),
            **lease,
        )
        set_runs_status(
            session,
            job.id,
            RunStatus.FAILED,
            only=[RunStatus.RUNNING, RunStatus.QUEUED],
            error=message,
            failure_class=FailureClass.LEASE_EXPIRED.value,
            finished_at=now(),
        )
        log.warning("quarantined job=%s after %d attempts", job.id, job.attempts)
        return
    set_job_status(session, job, JobStatus.QUEUED, reason="lease expired", **lease)
    set_runs_status(session, job.id, RunStatus.QUEUED, only=[RunStatus.RUNNING])
    log.warning("requeued job=%s after its lease expired (attempt %d)", job.id, job.attempts)


@dataclass(frozen=True)
class RunResult:
    """How one run of a finished job ended."""

    status: RunStatus
    output_path: str | None = None
    thumbnail_path: str | None = None
    log_path: str | None = None
    error: str | None = None
    failure_class: FailureClass | None = None
    compute_seconds: float | None = None
    result_prompt_id: str | None = None


def finish_job(
    db: Database,
    job_id: str,
    token: str,
    status: JobStatus,
    *,
    runs: dict[str, RunResult] | None = None,
    error: str | None = None,
    failure_class: FailureClass | None = None,
    requeue: Sequence[str] = (),
) -> bool:
    """Record a job's end, only while `token` still holds its lease. False: the lease was lost,
    nothing was written (another worker owns the job now).

    `requeue`: runs the process never reached; in the same transaction they move to one new
    queued job in this job's queue place, with fresh attempts (none of theirs was used)."""
    stamp = now()
    with db.write() as session:
        job = held_job(session, job_id, token)
        if job is None:
            log.warning("lease lost for job=%s; its result is dropped", job_id)
            return False
        _write_run_results(session, job_id, runs or {}, stamp)
        if requeue:
            moved = _move_into_new_job(session, job, requeue, job.gpu_batch_size, reached=False)
            record_event(session, "job.requeued", job_id=moved, source=job_id, runs=len(requeue))
            error = f"{error + '; ' if error else ''}{len(requeue)} run(s) not reached: {moved}"
        set_job_status(
            session,
            job,
            status,
            reason=error,
            error=error,
            failure_class=failure_class.value if failure_class else None,
            finished_at=stamp,
            lease_token=None,
            lease_expires_at=None,
        )
    log.info("finished job=%s status=%s", job_id, status.value)
    return True


def save_run_results(db: Database, job_id: str, token: str, runs: dict[str, RunResult]) -> bool:
    """Record some runs' ends while the job goes on (runs finished before a crash or a split
    keep their outputs and never run again); only while `token` holds the lease."""
    with db.write() as session:
        if held_job(session, job_id, token) is None:
            return False
        _write_run_results(session, job_id, runs, now())
    return True


def _write_run_results(
    session: Session, job_id: str, runs: dict[str, RunResult], stamp: float
) -> None:
    for run_id, result in runs.items():
        session.execute(
            update(RunRow)
            .where(RunRow.id == run_id, RunRow.job_id == job_id)
            .values(
                status=result.status.value,
                output_path=result.output_path,
                thumbnail_path=result.thumbnail_path,
                log_path=result.log_path,
                error=result.error,
                failure_class=result.failure_class.value if result.failure_class else None,
                compute_seconds=result.compute_seconds,
                finished_at=stamp,
                result_prompt_id=result.result_prompt_id,
            )
        )
        record_event(
            session,
            "run.status",
            job_id=job_id,
            run_id=run_id,
            status=result.status.value,
            error=result.error,
        )


def release_job(db: Database, job_id: str, token: str, error: str) -> JobStatus | None:
    """Give a job whose process crashed back to the queue (its unfinished runs only), or
    quarantine it when its attempts are used up. None when the lease was lost."""
    with db.write() as session:
        job = held_job(session, job_id, token)
        if job is None:
            return None
        if job.attempts >= job.max_attempts:
            set_job_status(
                session,
                job,
                JobStatus.FAILED,
                reason=error,
                error=f"{error} (attempt {job.attempts} of {job.max_attempts}; giving up)",
                failure_class=FailureClass.CRASH.value,
                finished_at=now(),
                lease_token=None,
                lease_expires_at=None,
            )
            set_runs_status(
                session,
                job_id,
                RunStatus.FAILED,
                only=[RunStatus.RUNNING],
                error=error,
                failure_class=FailureClass.CRASH.value,
                finished_at=now(),
            )
            return JobStatus.FAILED
        set_job_status(
            session,
            job,
            JobStatus.QUEUED,
            reason=error,
            error=error,
            lease_token=None,
            lease_expires_at=None,
            worker_id=None,
        )
        set_runs_status(session, job_id, RunStatus.QUEUED, only=[RunStatus.RUNNING])
        return JobStatus.QUEUED


def _move_into_new_job(
    session: Session,
    job: JobRow,
    run_ids: Sequence[str],
    gpu_batch_size: int,
    *,
    reached: bool = True,
) -> str:
    """A new queued job in `job`'s queue place holding these of its runs, queued again.
    `reached=False`: the process never got to these runs, so the claim's attempt is given back."""
    new_job = JobRow(
        id=new_id("job"),
        kind=job.kind,
        status=JobStatus.QUEUED.value,
        priority=job.priority,
        position=job.position,
        backend=job.backend,
        gpu_batch_size=max(1, min(gpu_batch_size, len(run_ids))),
        created_at=job.created_at,
        updated_at=now(),
        attempts=0,
        max_attempts=job.max_attempts,
        cancel_requested=False,
        plan_id=job.plan_id,
    )
    session.add(new_job)
    session.flush()
    for index, run_id in enumerate(run_ids):
        session.execute(
            update(RunRow)
            .where(RunRow.id == run_id, RunRow.job_id == job.id)
            .values(
                job_id=new_job.id,
                batch_index=index,
                status=RunStatus.QUEUED.value,
                **({} if reached else {"attempts": RunRow.attempts - 1, "started_at": None}),
            )
        )
    return new_job.id


def split_job(
    db: Database,
    job_id: str,
    token: str,
    halves: Sequence[Sequence[str]],
    gpu_batch_size: int,
    error: str,
) -> list[str]:
    """After an out-of-memory failure: move the job's unfinished runs into new queued jobs (one
    per half, in the job's queue place, with a smaller GPU batch) and end the job as failed."""
    with db.write() as session:
        job = held_job(session, job_id, token)
        if job is None:
            return []
        created = [_move_into_new_job(session, job, half, gpu_batch_size) for half in halves]
        set_job_status(
            session,
            job,
            JobStatus.FAILED,
            reason=error,
            error=f"{error}; split into {', '.join(created)}",
            failure_class=FailureClass.OUT_OF_MEMORY.value,
            finished_at=now(),
            lease_token=None,
            lease_expires_at=None,
        )
        return created
