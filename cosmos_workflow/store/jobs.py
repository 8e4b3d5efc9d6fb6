"""Job rows: the queue's order and positions, the one gate for job status changes, claims with
leases, heartbeats, recovery, the end of a job, out-of-memory splits, and the job lists.

`change_job_status` (through `StatusMove`) is the only writer of a job's status: it checks the
state machine, then writes the move as one UPDATE that also requires the job to still be in the
status it was read in. A claim is one `UPDATE ... WHERE id = (first queued job FOR UPDATE SKIP
LOCKED) RETURNING`: exactly-once on SQLite (writes serialised by `BEGIN IMMEDIATE`) and on
PostgreSQL (a row another claim holds is skipped, and the UPDATE re-checks `status`), with no
process-local locks. The one dialect branch is how the move's event and runs are written: in the
same statement on PostgreSQL (data-modifying CTEs), after it on SQLite.

Everything a worker writes after its claim goes through `lease_held`: one transaction that checks
the lease token with the job's row locked, so a concurrent reap or claim waits for it, and a lost
lease leaves no trace.

Lock order, for every transaction that touches jobs and runs (PostgreSQL): job rows first (in id
order when several), then runs; so the claim (its job, then its runs, in one statement), a
finish, a split and a requeue (the held job, then its runs and the new job) and batching
(store/batches.py: the queued jobs it changes, in id order, then their runs) never wait on one
another in a cycle."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    CTE,
    ColumnElement,
    Integer,
    ScalarSelect,
    Select,
    Table,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from cosmos_workflow import defaults
from cosmos_workflow.domain.errors import Conflict
from cosmos_workflow.domain.ids import new_id
from cosmos_workflow.domain.states import (
    UNFINISHED_RUNS,
    FailureClass,
    JobStatus,
    RunStatus,
    can_move,
)
from cosmos_workflow.store import attempts
from cosmos_workflow.store.db import Database, now
from cosmos_workflow.store.events import event_per_row, job_event, record_event
from cosmos_workflow.store.models import JobRow, QueueStateRow, RunRow
from cosmos_workflow.store.runs import RunResult, RunsMove, record_results, set_runs_status

log = logging.getLogger(__name__)


def queue_order(jobs: type[JobRow] | Any = JobRow) -> tuple[ColumnElement[Any], ...]:
    """Execution order: priority first, then the sparse position, then age (`jobs` may be an
    alias of the table)."""
    return (jobs.priority.desc(), jobs.position.asc(), jobs.created_at.asc(), jobs.id.asc())


QUEUE_ORDER = queue_order()


def queued_jobs_query() -> Select[JobRow]:
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
    """Spread every job's position out again, keeping their order: one UPDATE ... FROM a
    numbered copy of the table (PostgreSQL, and SQLite since 3.33). The rows are locked first
    in id order, the store's lock order, so a renumber cannot deadlock with batching."""
    session.execute(select(JobRow.id).order_by(JobRow.id).with_for_update())
    order = (JobRow.position, JobRow.created_at, JobRow.id)
    ranked = select(JobRow.id.label("job_id"), func.row_number().over(order_by=order).label("n"))
    numbered = ranked.subquery("numbered")
    session.execute(
        update(JobRow)
        .where(JobRow.id == numbered.c.job_id)
        .values(position=numbered.c.n * defaults.POSITION_GAP)
        .execution_options(synchronize_session=False)
    )


# The table itself, for the hot statements: a Core UPDATE skips the ORM's bulk-update handling,
# which costs more client time than the database spends on a claim.
_JOBS = cast(Table, JobRow.__table__)
_RUNS = cast(Table, RunRow.__table__)
_QUEUE_STATE = cast(Table, QueueStateRow.__table__)


@dataclass(frozen=True)
class Moved:
    """A job that one status change moved: its id and its attempts after the change."""

    job_id: str
    attempts: int


def change_job_status(
    session: Session,
    which: ColumnElement[bool],
    current: JobStatus,
    target: JobStatus,
    *,
    reason: str | None = None,
    event: Mapping[str, Any] | None = None,
    runs: RunsMove | None = None,
    **values: Any,
) -> Moved | None:
    """The one gate for job status changes: refuses moves the state machine forbids, then moves
    the job that `which` selects with one UPDATE that also requires it to still be `current`
    (so a change made meanwhile by another transaction is never overwritten), records the
    event, and applies `runs` to the moved job's runs. None: no job matched (it changed
    meanwhile, or `which` found none)."""
    move = StatusMove(which, current, target, values, runs)
    return move.run(session, {}, reason=reason, **(event or {}))


_STATUS_EVENT = job_event("job.status")


class StatusMove:
    """One job status change through the gate, as statements that a hot path (claim, finish)
    builds once and runs with bind parameters (named `p_...`, so none is taken for a column).

    On PostgreSQL the job's UPDATE, its event and its runs' move are one statement
    (data-modifying CTEs), so a claim costs the database one round trip, not three; SQLite has
    no such CTEs and runs them one after the other in its write transaction."""

    def __init__(
        self,
        which: ColumnElement[bool],
        current: JobStatus,
        target: JobStatus,
        values: Mapping[str, Any],
        runs: RunsMove | None = None,
    ) -> None:
        if not can_move(current, target):
            raise Conflict(f"job is {current.value}; it cannot become {target.value}")
        self.current, self.target = current, target
        self.moving = (
            update(_JOBS)
            .where(_JOBS.c.status == current.value, which)
            .values(status=target.value, updated_at=bindparam("p_updated_at"), **values)
            .returning(_JOBS.c.id, _JOBS.c.attempts)
        )
        self.runs = runs
        self._together: Select[Any] | None = None

    def run(self, session: Session, params: Mapping[str, Any], **event: Any) -> Moved | None:
        """Move the job, with `params` for the statements' bind parameters and `event` added
        to the event's data. None: no job matched."""
        stamp = now()
        data = {"status": self.target.value, "previous": self.current.value, **event}
        bound = {**params, "p_updated_at": stamp, "p_event_at": stamp, "p_event_data": data}
        conn = session.connection()  # Core statements: the ORM has nothing to do here
        if conn.dialect.name == "postgresql":
            row = conn.execute(self._one_statement(), bound).one_or_none()
        else:
            row = conn.execute(self.moving, bound).one_or_none()
            if row is not None:
                conn.execute(_STATUS_EVENT, {**bound, "p_moved": row.id})
                if self.runs is not None:
                    runs = self.runs.statement(_RUNS.c.job_id == bindparam("p_moved"))
                    conn.execute(runs, {**bound, "p_moved": row.id})
        return None if row is None else Moved(job_id=row.id, attempts=row.attempts)

    def _one_statement(self) -> Select[Any]:
        if self._together is None:
            moved = self.moving.cte("moved")
            also: list[CTE] = [event_per_row("job.status", moved.c.id).cte("recorded")]
            if self.runs is not None:
                in_moved = _RUNS.c.job_id.in_(select(moved.c.id))
                also.append(self.runs.statement(in_moved).cte("runs_moved"))
            together: Select[Any] = select(moved.c.id, moved.c.attempts).add_cte(*also)
            self._together = together
        return self._together


def set_job_status(
    session: Session, job: JobRow, target: JobStatus, *, reason: str | None = None, **values: Any
) -> None:
    """`change_job_status` for a job loaded in `session`; its attributes follow the change."""
    current = JobStatus(job.status)
    if not can_move(current, target):
        raise Conflict(f"job {job.id} is {current.value}; it cannot become {target.value}")
    moved = change_job_status(
        session, JobRow.id == job.id, current, target, reason=reason, **values
    )
    if moved is None:
        raise Conflict(f"job {job.id} changed meanwhile; it is no longer {current.value}")
    # The UPDATE already wrote these: record them as the loaded row's committed state, so the
    # session's flush does not write them again.
    for key, value in {"status": target.value, "updated_at": now(), **values}.items():
        set_committed_value(job, key, value)


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

    One statement picks and claims: `UPDATE jobs ... WHERE id = (the first queued job in queue
    order, FOR UPDATE SKIP LOCKED) RETURNING`. On PostgreSQL concurrent claims skip the row
    another claim has locked instead of queueing behind it, and a row claimed meanwhile fails
    the re-checked `status = 'queued'`, so each job is claimed once; SQLite has no row locks
    (the clause is left out) and its single writer (`BEGIN IMMEDIATE`) serialises claims. None
    therefore always means "nothing to claim". Expired leases are not reaped here: the
    worker's reaper first ends the attempt's process on its host (worker/reaper.py)."""
    token = uuid.uuid4().hex
    stamp = now()
    params = {
        "p_token": token,
        "p_expires": stamp + lease_seconds,
        "p_worker": worker_id,
        "p_host": host_name,
        "p_started": stamp,
        "p_backends": list(backends or ()),
    }
    with db.single_statement() as session:
        moved = _claim_move(backends is not None).run(session, params, worker_id=worker_id)
    if moved is None:
        return None
    log.info("claimed job=%s worker=%s attempt=%d", moved.job_id, worker_id, moved.attempts)
    return Claim(job_id=moved.job_id, lease_token=token, attempt=moved.attempts)


@functools.cache
def _claim_move(of_backends: bool) -> StatusMove:
    """The claim, built once (for any backend, or of the backends bound as `p_backends`)."""
    return StatusMove(
        _JOBS.c.id == _next_claimable(of_backends),
        JobStatus.QUEUED,
        JobStatus.RUNNING,
        {
            "lease_token": bindparam("p_token"),
            "lease_expires_at": bindparam("p_expires"),
            "worker_id": bindparam("p_worker"),
            "host_name": bindparam("p_host"),
            "attempts": _JOBS.c.attempts + 1,
            "started_at": bindparam("p_started"),
        },
        runs=RunsMove(
            RunStatus.RUNNING,
            only=(RunStatus.QUEUED,),
            values={"started_at": bindparam("p_started"), "attempts": _RUNS.c.attempts + 1},
        ),
    )


# The subquery reads `jobs` under another name: the UPDATE's own `jobs` must not correlate into
# it. Built once: making an alias costs more than the whole claim statement.
_CANDIDATE = _JOBS.alias("candidate")
_CANDIDATE_ORDER = queue_order(_CANDIDATE.c)


def _next_claimable(of_backends: bool) -> ScalarSelect[str]:
    """The id of the first queued job in queue order (of the backends bound as `p_backends`),
    none while the queue is paused; locked with SKIP LOCKED where the database has row locks."""
    candidate = _CANDIDATE.c
    paused = exists().where(_QUEUE_STATE.c.id == 1, _QUEUE_STATE.c.paused)
    query = select(candidate.id).where(candidate.status == JobStatus.QUEUED.value, ~paused)
    if of_backends:
        query = query.where(candidate.backend.in_(bindparam("p_backends", expanding=True)))
    return (
        query.order_by(*_CANDIDATE_ORDER)
        .limit(1)
        .with_for_update(skip_locked=True, of=_CANDIDATE)
        .scalar_subquery()
    )


def renew_lease(db: Database, job_id: str, token: str, lease_seconds: float) -> tuple[bool, bool]:
    """Extend a lease held with `token`. Returns (still held, cancel requested)."""
    with db.write() as session:
        cancel = session.scalar(
            update(JobRow)
            .where(_holds(job_id, token))
            .values(lease_expires_at=now() + lease_seconds)
            .returning(JobRow.cancel_requested)
            .execution_options(synchronize_session=False)
        )
    if cancel is None:
        return False, False  # not held: whether a cancel was asked no longer matters
    return True, bool(cancel)


def check_lease(db: Database, job_id: str, token: str) -> tuple[bool, bool]:
    """Whether `token` still holds the job, and whether a cancel was asked: one cheap read, so a
    running job can look every second without writing."""
    with db.read() as session:
        row = session.execute(
            select(JobRow.lease_token, JobRow.status, JobRow.cancel_requested).where(
                JobRow.id == job_id
            )
        ).one_or_none()
    if row is None:
        return False, False
    held = row.lease_token == token and row.status == JobStatus.RUNNING.value
    return held, bool(row.cancel_requested)


def _holds(job_id: str, token: str) -> Any:
    return (
        (JobRow.id == job_id)
        & (JobRow.lease_token == token)
        & (JobRow.status == JobStatus.RUNNING.value)
    )


class LeaseLost(Exception):
    """The lease token no longer holds the job (it was reaped, maybe claimed by another worker):
    nothing was written."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"lease lost for job {job_id}")
        self.job_id = job_id


@dataclass(frozen=True)
class HeldJob:
    """A job inside the transaction that checked its lease: write through `session`."""

    session: Session
    job: JobRow


@contextmanager
def lease_held(db: Database, job_id: str, token: str) -> Iterator[HeldJob]:
    """One write transaction in which `token` is checked to hold the job, with its row locked
    (PostgreSQL: FOR UPDATE; SQLite: `BEGIN IMMEDIATE` already serialises writers). A reap or a
    claim of the same job waits for it, so every write inside is the lease holder's, or none is.
    Raises LeaseLost (and writes nothing) when the lease was lost."""
    with db.write() as session:
        job = session.scalar(select(JobRow).where(_holds(job_id, token)).with_for_update())
        if job is None:
            raise LeaseLost(job_id)
        yield HeldJob(session, job)


def expired_leases(db: Database) -> list[str]:
    """Running jobs whose worker stopped renewing their lease."""
    with db.read() as session:
        return list(
            session.scalars(
                select(JobRow.id).where(
                    JobRow.status == JobStatus.RUNNING.value, JobRow.lease_expires_at < now()
                )
            ).all()
        )


def reap_expired_leases(db: Database, job_ids: Sequence[str] | None = None) -> list[str]:
    """Return jobs whose worker stopped renewing to the queue, or quarantine them as failed
    (only `job_ids` when given: those whose processes the reaper has ended)."""
    expired = expired_leases(db) if job_ids is None else list(job_ids)
    if not expired:
        return []
    stamp = now()
    reaped = []
    with db.write() as session:
        for job_id in sorted(expired):  # the lock order: job rows in id order
            job = session.get(JobRow, job_id, with_for_update=True)
            if job is None or job.status != JobStatus.RUNNING.value:
                continue
            if job.lease_expires_at is None or job.lease_expires_at >= stamp:
                continue  # renewed meanwhile: its worker is alive after all
            _requeue_or_quarantine(session, job)
            reaped.append(job_id)
    return reaped


def _requeue_or_quarantine(session: Session, job: JobRow) -> None:
    """A lapse is its worker's end, not the job's failure: it does not count toward the crash
    rule (`release`). It has a rule of its own: a job whose workers keep dying under it (one
    that takes its worker down through memory) is quarantined after `lapse_limit` lapses. A
    claim that lapsed before its process was recorded cannot be told apart and stays charged."""
    attempts.mark_lapsed(session, job.id, job.lease_token)
    lapsed = attempts.lapses_of(session, job.id)
    charged = job.attempts - lapsed
    if charged >= job.max_attempts or lapsed >= lapse_limit(job.max_attempts):
        message = (
            f"worker stopped renewing its lease {job.attempts} times "
            f"({lapsed} of them while its process ran); quarantined"
        )
        failure = FailureClass.LEASE_EXPIRED
        _quarantine(session, job, failure, "lease expired", message, message, worker_id=None)
        log.warning("quarantined job=%s after %d lapse(s)", job.id, lapsed)
        return
    _requeue(session, job, "lease expired")
    log.warning("requeued job=%s after its lease expired (lapse %d)", job.id, lapsed)


def lapse_limit(max_attempts: int) -> int:
    """How many lapses quarantine a job: more than crashes do, since most are not its fault."""
    return max_attempts * defaults.LAPSES_PER_ATTEMPT


def charged_attempts(session: Session, job: JobRow) -> int:
    """The claims of the job that count toward its crash rule: all but the lapses (graceful
    releases give their claim back, so they are not among `job.attempts`)."""
    return job.attempts - attempts.lapses_of(session, job.id)


_NO_LEASE = {"lease_token": None, "lease_expires_at": None}


def _requeue(session: Session, job: JobRow, reason: str, **values: Any) -> None:
    """Back to the queue with its unfinished runs (runs that ended keep their end)."""
    set_job_status(
        session, job, JobStatus.QUEUED, reason=reason, worker_id=None, **values, **_NO_LEASE
    )
    set_runs_status(session, job.id, RunStatus.QUEUED, only=[RunStatus.RUNNING])


def _quarantine(
    session: Session,
    job: JobRow,
    failure: FailureClass,
    reason: str,
    job_error: str,
    run_error: str,
    **values: Any,
) -> None:
    """Failed for good, with its unfinished runs, once its attempts are used up."""
    set_job_status(
        session,
        job,
        JobStatus.FAILED,
        reason=reason,
        error=job_error,
        failure_class=failure.value,
        finished_at=now(),
        **values,
        **_NO_LEASE,
    )
    set_runs_status(
        session,
        job.id,
        RunStatus.FAILED,
        error=run_error,
        failure_class=failure.value,
        finished_at=now(),
    )


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
    """`finish` in a transaction of its own. False: the lease was lost, nothing was written.

    A job with no run results and nothing to requeue ends with one guarded UPDATE (the lease
    check is its WHERE clause); otherwise the job row is locked first (`lease_held`)."""
    try:
        if runs or requeue:
            with lease_held(db, job_id, token) as held:
                record_results(held, runs or {})
                finish(held, status, error=error, failure_class=failure_class, requeue=requeue)
        else:
            params = {
                "p_job": job_id,
                "p_token": token,
                "p_error": error,
                "p_failure_class": failure_class.value if failure_class else None,
                "p_finished": now(),
            }
            with db.single_statement() as session:
                moved = _finish_move(status).run(session, params, reason=error)
            if moved is None:
                raise LeaseLost(job_id)
            log.info("finished job=%s status=%s", job_id, status.value)
    except LeaseLost:
        log.warning("lease lost for job=%s; its result is dropped", job_id)
        return False
    return True


@functools.cache
def _finish_move(status: JobStatus) -> StatusMove:
    """The end of a held job with no run results, built once per final status."""
    held = (
        (_JOBS.c.id == bindparam("p_job"))
        & (_JOBS.c.lease_token == bindparam("p_token"))
        & (_JOBS.c.status == JobStatus.RUNNING.value)
    )
    ending: dict[str, Any] = {
        "error": bindparam("p_error"),
        "failure_class": bindparam("p_failure_class"),
        "finished_at": bindparam("p_finished"),
        **_NO_LEASE,
    }
    return StatusMove(held, JobStatus.RUNNING, status, ending)


def _ending(error: str | None, failure_class: FailureClass | None) -> dict[str, Any]:
    """What a job's end writes besides its status (and gives as the event's reason)."""
    return {
        "reason": error,
        "error": error,
        "failure_class": failure_class.value if failure_class else None,
        "finished_at": now(),
        **_NO_LEASE,
    }


def finish(
    held: HeldJob,
    status: JobStatus,
    *,
    error: str | None = None,
    failure_class: FailureClass | None = None,
    requeue: Sequence[str] = (),
) -> None:
    """Record a held job's end.

    `requeue`: runs the process never reached; they move to one new queued job in this job's
    queue place, with fresh attempts (none of theirs was used)."""
    session, job = held.session, held.job
    if requeue:
        error = _requeue_unreached(session, job, requeue, error)
    set_job_status(session, job, status, **_ending(error, failure_class))
    log.info("finished job=%s status=%s", job.id, status.value)


def release(
    held: HeldJob, error: str, *, charged: bool = True, requeue: Sequence[str] = ()
) -> JobStatus:
    """Give a held job whose attempt crashed back to the queue (its unfinished runs only), or
    quarantine it when its charged attempts are used up.

    `charged=False`: the attempt ended for a reason outside the job (its worker is stopping,
    or lost touch with the database): the claim's attempt is given back, to the job and to its
    runs, and the job is never quarantined for it.

    `requeue`: runs the crashed process never reached. They move first to one new queued job in
    this job's place with their attempt given back, so neither the charge nor a quarantine of
    this job touches them."""
    session, job = held.session, held.job
    if requeue:
        error = _requeue_unreached(session, job, requeue, error)
    if not charged:
        given_back: dict[str, Any] = {"attempts": RunRow.attempts - 1, "started_at": None}
        set_job_status(
            session,
            job,
            JobStatus.QUEUED,
            reason=error,
            worker_id=None,
            error=error,
            attempts=max(job.attempts - 1, 0),
            **_NO_LEASE,
        )
        set_runs_status(session, job.id, RunStatus.QUEUED, only=[RunStatus.RUNNING], **given_back)
        return JobStatus.QUEUED
    charged_so_far = charged_attempts(session, job)
    if charged_so_far >= job.max_attempts:
        final = f"{error} (attempt {charged_so_far} of {job.max_attempts}; giving up)"
        _quarantine(session, job, FailureClass.CRASH, error, final, error)
        return JobStatus.FAILED
    _requeue(session, job, error, error=error)
    return JobStatus.QUEUED


def _requeue_unreached(
    session: Session, job: JobRow, run_ids: Sequence[str], error: str | None
) -> str:
    """Move runs the process never reached to one new queued job in `job`'s place, their
    attempt given back; returns `error` saying so."""
    moved = _move_into_new_job(session, job, run_ids, job.gpu_batch_size, reached=False)
    record_event(session, "job.requeued", job_id=moved, source=job.id, runs=len(run_ids))
    return f"{error + '; ' if error else ''}{len(run_ids)} run(s) not reached: {moved}"


def split_off(session: Session, job: JobRow, run_ids: Sequence[str]) -> str:
    """Give these of a queued job's runs to a new queued job in its place (the rest stays)."""
    moved = _move_into_new_job(session, job, run_ids, job.gpu_batch_size)
    record_event(session, "job.split", job_id=moved, source=job.id, runs=len(run_ids))
    return moved


def jobs_by_id(session: Session, job_ids: Sequence[str]) -> dict[str, JobRow]:
    """These jobs by id (one statement per 500); an id with no job is missing."""
    found: dict[str, JobRow] = {}
    ids = list(job_ids)
    for start in range(0, len(ids), 500):
        rows = session.scalars(select(JobRow).where(JobRow.id.in_(ids[start : start + 500])))
        found.update((job.id, job) for job in rows)
    return found


def _move_into_new_job(
    session: Session,
    job: JobRow,
    run_ids: Sequence[str],
    gpu_batch_size: int,
    *,
    reached: bool = True,
) -> str:
    """A new queued job in `job`'s queue place holding these of its runs, queued again (one
    UPDATE per 500 runs, each run's new batch index from a CASE on its id).
    `reached=False`: the process never got to these runs, so the claim's attempt is given back."""
    share = _predicted_share(session, run_ids)
    row = new_job_row(
        kind=job.kind,
        backend=job.backend,
        priority=job.priority,
        position=job.position,
        max_attempts=job.max_attempts,
        predicted_seconds=share,
        gpu_batch_size=min(gpu_batch_size, len(run_ids)),
        created_at=job.created_at,
        plan_id=job.plan_id,
    )
    add_jobs(session, [row], [])
    # A run the process never reached did not run with its attempt's guardrail posture either.
    unposed = {"guardrails_asked": None, "guardrails_got": None}
    given_back = {} if reached else {"attempts": RunRow.attempts - 1, "started_at": None, **unposed}
    for start in range(0, len(run_ids), 500):
        chunk = list(run_ids[start : start + 500])
        index = case({run_id: start + n for n, run_id in enumerate(chunk)}, value=RunRow.id)
        session.execute(
            update(RunRow)
            .where(
                RunRow.id.in_(chunk),
                RunRow.job_id == job.id,
                RunRow.status.in_(sorted(s.value for s in UNFINISHED_RUNS)),
            )
            .values(
                job_id=row["id"], batch_index=index, status=RunStatus.QUEUED.value, **given_back
            )
            .execution_options(synchronize_session=False)
        )
    return str(row["id"])


def _predicted_share(session: Session, run_ids: Sequence[str]) -> float | None:
    """The moved runs' predicted compute, summed (None when none has a prediction)."""
    total: float | None = None
    for start in range(0, len(run_ids), 500):
        part = session.scalar(
            select(func.sum(RunRow.predicted_seconds)).where(
                RunRow.id.in_(list(run_ids[start : start + 500]))
            )
        )
        if part is not None:
            total = (total or 0.0) + float(part)
    return None if total is None else round(total, 3)


def split(
    held: HeldJob, halves: Sequence[Sequence[str]], gpu_batch_size: int, error: str
) -> list[str]:
    """After an out-of-memory failure: move the held job's unfinished runs into new queued jobs
    (one per half, in the job's queue place, with a smaller GPU batch) and end it as failed."""
    session, job = held.session, held.job
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


# -- lists ---------------------------------------------------------------------------------------

ACTIVE = (JobStatus.RUNNING.value, JobStatus.QUEUED.value)


@dataclass(frozen=True)
class QueuePage:
    """One page of the queue in execution order (running jobs, then queued ones, then history
    when asked for, newest first): each job with its 1-based place while queued."""

    jobs: list[tuple[JobRow, int | None]]
    total: int


def queue_page(session: Session, *, include_history: bool, limit: int, offset: int) -> QueuePage:
    """A page read with LIMIT/OFFSET from the segment(s) it falls in, after one COUNT per status:
    a bounded number of statements whatever the size of the queue and its history. Queued jobs'
    places come from ROW_NUMBER over the queue order, so nothing before the page is loaded."""
    counts = _status_counts(session, None if include_history else ACTIVE)
    history = sum(n for status, n in counts.items() if status not in ACTIVE)
    segments: list[tuple[Select[JobRow, int], int]] = [
        (_running_query(), counts.get(JobStatus.RUNNING.value, 0)),
        (_queued_query(), counts.get(JobStatus.QUEUED.value, 0)),
    ]
    if include_history:
        segments.append((_history_query(), history))
    page: list[tuple[JobRow, int | None]] = []
    skip = offset
    for query, size in segments:
        wanted = limit - len(page)
        if wanted <= 0:
            break
        if skip >= size:
            skip -= size
            continue
        page.extend((row[0], row[1]) for row in session.execute(query.offset(skip).limit(wanted)))
        skip = 0
    return QueuePage(jobs=page, total=sum(size for _, size in segments))


def running_jobs(session: Session) -> list[JobRow]:
    """The running jobs in queue order: all the live view needs, whatever the history holds."""
    return list(session.scalars(_running_query().with_only_columns(JobRow)).all())


def _status_counts(session: Session, statuses: Sequence[str] | None) -> dict[str, int]:
    query = select(JobRow.status, func.count()).group_by(JobRow.status)
    if statuses is not None:
        query = query.where(JobRow.status.in_(list(statuses)))
    return {status: int(count) for status, count in session.execute(query).all()}


def _running_query() -> Select[JobRow, int]:
    place = literal_column("NULL", Integer).label("place")
    return (
        select(JobRow, place).where(JobRow.status == JobStatus.RUNNING.value).order_by(*QUEUE_ORDER)
    )


def _queued_query() -> Select[JobRow, int]:
    place = func.row_number().over(order_by=QUEUE_ORDER).label("place")
    return (
        select(JobRow, place).where(JobRow.status == JobStatus.QUEUED.value).order_by(*QUEUE_ORDER)
    )


def _history_query() -> Select[JobRow, int]:
    place = literal_column("NULL", Integer).label("place")
    return (
        select(JobRow, place)
        .where(JobRow.status.notin_(ACTIVE))
        .order_by(JobRow.updated_at.desc(), JobRow.id)
    )


# -- new jobs ------------------------------------------------------------------------------------


def new_job_row(
    *,
    kind: str,
    backend: str,
    priority: int,
    position: int,
    max_attempts: int,
    predicted_seconds: float | None,
    gpu_batch_size: int = 1,
    created_at: float | None = None,
    idempotency_key: str | None = None,
    plan_id: str | None = None,
    retry_of_job_id: str | None = None,
) -> dict[str, Any]:
    """The one builder of a new job row: queued, no attempt used, no lease. Every caller names
    the prediction (None when there is none) so none can forget it. `created_at` keeps a job's
    age when it takes another job's place (a split, a batch)."""
    stamp = now()
    return {
        "id": new_id("job"),
        "kind": kind,
        "status": JobStatus.QUEUED.value,
        "priority": priority,
        "position": position,
        "backend": backend,
        "gpu_batch_size": max(1, gpu_batch_size),
        "created_at": stamp if created_at is None else created_at,
        "updated_at": stamp,
        "attempts": 0,
        "max_attempts": max_attempts,
        "cancel_requested": False,
        "idempotency_key": idempotency_key,
        "plan_id": plan_id,
        "retry_of_job_id": retry_of_job_id,
        "predicted_seconds": predicted_seconds,
    }


def add_jobs(
    session: Session, jobs: Sequence[Mapping[str, Any]], runs: Sequence[Mapping[str, Any]]
) -> bool:
    """Insert new jobs and their runs with bulk statements. False (and nothing inserted) when
    an idempotency key is already taken: a concurrent submission with the same key committed
    first (PostgreSQL; SQLite's single writer never gets here), so the caller looks it up."""
    if not jobs:
        return True
    if not any(job.get("idempotency_key") for job in jobs):
        _insert(session, jobs, runs)
        return True
    try:
        with session.begin_nested():  # a savepoint: a taken key undoes this insert alone
            _insert(session, jobs, runs)
    except IntegrityError:
        return False
    return True


def _insert(
    session: Session, jobs: Sequence[Mapping[str, Any]], runs: Sequence[Mapping[str, Any]]
) -> None:
    session.execute(insert(JobRow), list(jobs))
    if runs:
        session.execute(insert(RunRow), list(runs))


def job_by_key(session: Session, key: str) -> tuple[str, list[str]] | None:
    """The job an idempotency key names and the runs it was created with, or None."""
    job_id = session.scalar(select(JobRow.id).where(JobRow.idempotency_key == key))
    if job_id is None:
        return None
    run_ids = session.scalars(
        select(RunRow.id).where(RunRow.origin_job_id == job_id).order_by(RunRow.origin_index)
    ).all()
    return job_id, list(run_ids)


def taken_keys(session: Session, keys: Sequence[str]) -> set[str]:
    """Which of these idempotency keys already name a job."""
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = list(keys[start : start + 500])
        found.update(
            key
            for key in session.scalars(
                select(JobRow.idempotency_key).where(JobRow.idempotency_key.in_(chunk))
            ).all()
            if key is not None
        )
    return found


def find_job(session: Session, job_id: str, *, lock: bool = False) -> JobRow | None:
    """One job row (locked for the transaction when `lock`: PostgreSQL FOR UPDATE)."""
    return session.get(JobRow, job_id, with_for_update=lock)


def queue_place(session: Session, job: JobRow) -> int:
    """A queued job's 1-based place in execution order: 1 + the queued jobs ahead of it."""
    ahead = session.scalar(
        select(func.count())
        .select_from(JobRow)
        .where(JobRow.status == JobStatus.QUEUED.value)
        .where(
            (JobRow.priority > job.priority)
            | ((JobRow.priority == job.priority) & (JobRow.position < job.position))
            | (
                (JobRow.priority == job.priority)
                & (JobRow.position == job.position)
                & (JobRow.created_at < job.created_at)
            )
        )
    )
    return int(ahead or 0) + 1


def job_counts(session: Session) -> dict[str, int]:
    """How many jobs are in each status."""
    return _status_counts(session, None)


def request_cancel(session: Session, job: JobRow) -> None:
    """Ask the worker running `job` to stop it (it sees the flag with its next lease check)."""
    job.cancel_requested = True
    record_event(session, "job.cancel_requested", job_id=job.id)


def move_to(session: Session, job: JobRow, position: int, where: str, before: str | None) -> None:
    job.position = position
    job.updated_at = now()
    record_event(session, "job.moved", job_id=job.id, where=where, before=before)


def queued_predictions(session: Session, limit: int) -> list[tuple[str, str, float | None]]:
    """The first `limit` queued jobs in queue order: id, backend and predicted seconds (what
    the ETA schedules, without loading the jobs themselves)."""
    query = (
        select(JobRow.id, JobRow.backend, JobRow.predicted_seconds)
        .where(JobRow.status == JobStatus.QUEUED.value)
        .order_by(*QUEUE_ORDER)
        .limit(limit)
    )
    return [(row[0], row[1], row[2]) for row in session.execute(query)]
