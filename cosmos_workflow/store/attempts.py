"""Attempts: one row per execution of a job on a host, and where its process runs.

An attempt is open (`ended_at` NULL) from just before its process starts until the worker has
seen that process end. An open attempt whose job no longer holds the attempt's lease is an orphan:
its worker died or lost the lease, and its process may still hold a GPU. The reaper and the next
worker on that host find such attempts here and end their processes (worker/reaper.py)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, case, func, or_, select, update
from sqlalchemy.orm import Session

from cosmos_workflow.domain.guardrails import GuardrailPosture
from cosmos_workflow.domain.states import LAPSES, AttemptEnd, JobStatus, RunStatus
from cosmos_workflow.store.db import Database, now, rowcount
from cosmos_workflow.store.models import AttemptRow, JobRow, RunRow


@dataclass(frozen=True)
class AttemptProcess:
    """Where an attempt's process runs: what another process needs to find and end it."""

    host_name: str
    machine: str
    workdir: str
    marker: str
    container_runtime: str | None = None
    container_name: str | None = None


@dataclass(frozen=True)
class OpenAttempt:
    attempt_id: int
    job_id: str
    process: AttemptProcess
    process_group: int | None


def start_attempt(
    db: Database,
    *,
    job_id: str,
    worker_id: str,
    lease_token: str,
    argv: Sequence[str],
    process: AttemptProcess,
    guardrails: GuardrailPosture | None = None,
) -> int:
    """Record an attempt before its process starts, so a worker killed a moment later still
    leaves behind where to look for it; with `guardrails`, also the posture its running runs
    get (`record_guardrails`), in the same transaction."""
    with db.write() as session:
        if guardrails is not None:
            record_guardrails(session, job_id, lease_token, guardrails)
        row = AttemptRow(
            job_id=job_id,
            worker_id=worker_id,
            host_name=process.host_name,
            argv=list(argv),
            started_at=now(),
            lease_token=lease_token,
            machine=process.machine,
            workdir=process.workdir,
            marker=process.marker,
            container_runtime=process.container_runtime,
            container_name=process.container_name,
        )
        session.add(row)
        session.flush()
        return row.id


def record_guardrails(
    session: Session, job_id: str, lease_token: str, posture: GuardrailPosture
) -> int:
    """Write the guardrail posture of an attempt onto the job's running runs, while `lease_token`
    holds the job (its row locked first, the lock order of store/jobs.py); a lost lease writes
    nothing. A run that already ended keeps the posture it ran with. Returns the runs written."""
    held = session.scalar(
        select(JobRow.id)
        .where(
            JobRow.id == job_id,
            JobRow.lease_token == lease_token,
            JobRow.status == JobStatus.RUNNING.value,
        )
        .with_for_update()
    )
    if held is None:
        return 0
    result = session.execute(
        update(RunRow)
        .where(RunRow.job_id == job_id, RunRow.status == RunStatus.RUNNING.value)
        .values(guardrails_asked=posture.asked.value, guardrails_got=posture.got.value)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result)


def set_process_group(db: Database, attempt_id: int, process_group: int) -> None:
    with db.write() as session:
        session.execute(
            update(AttemptRow)
            .where(AttemptRow.id == attempt_id)
            .values(process_group=process_group)
        )


def end_attempt(db: Database, attempt_id: int, outcome: str, exit_code: int | None = None) -> None:
    """Close an attempt whose process is known to have ended (a closed one stays as it was).
    One already marked as a lapse stays a lapse, whoever ends its process later: the job was
    taken back from its worker, which is what its end counts as (domain.states.LAPSES)."""
    lapsed = AttemptRow.outcome.in_([end.value for end in LAPSES])
    with db.write() as session:
        session.execute(
            update(AttemptRow)
            .where(AttemptRow.id == attempt_id, AttemptRow.ended_at.is_(None))
            .values(
                ended_at=now(),
                outcome=case((lapsed, AttemptRow.outcome), else_=outcome),
                exit_code=exit_code,
            )
        )


def mark_lapsed(session: Session, job_id: str, lease_token: str | None) -> None:
    """Mark the attempt of a lease that lapsed as a lapse, while its process may still run (the
    attempt stays open: the orphan sweep ends it). One the reaper already ended keeps its end."""
    if lease_token is None:
        return
    session.execute(
        update(AttemptRow)
        .where(
            AttemptRow.job_id == job_id,
            AttemptRow.lease_token == lease_token,
            AttemptRow.outcome.is_(None),
        )
        .values(outcome=AttemptEnd.LAPSED.value)
        .execution_options(synchronize_session=False)
    )


def lapses_of(session: Session, job_id: str) -> int:
    """How many of the job's attempts ended because their worker died or lost touch."""
    count = session.scalar(
        select(func.count())
        .select_from(AttemptRow)
        .where(
            AttemptRow.job_id == job_id,
            AttemptRow.outcome.in_([end.value for end in LAPSES]),
        )
    )
    return int(count or 0)


def open_attempts_of(db: Database, job_ids: Sequence[str]) -> list[OpenAttempt]:
    """The open attempts that still hold these (running) jobs' leases."""
    if not job_ids:
        return []
    query = (
        select(AttemptRow)
        .join(JobRow, JobRow.id == AttemptRow.job_id)
        .where(
            AttemptRow.job_id.in_(list(job_ids)),
            AttemptRow.ended_at.is_(None),
            AttemptRow.lease_token == JobRow.lease_token,
        )
    )
    return _open(db, query)


def orphaned_attempts(
    db: Database, host_name: str, machine: str | None = None
) -> list[OpenAttempt]:
    """Open attempts on this host whose job no longer holds their lease (only those started on
    `machine` when given: a local host of the same name on another machine is not ours)."""
    query = (
        select(AttemptRow)
        .join(JobRow, JobRow.id == AttemptRow.job_id)
        .where(
            AttemptRow.host_name == host_name,
            AttemptRow.ended_at.is_(None),
            AttemptRow.marker.is_not(None),
            or_(
                JobRow.status != JobStatus.RUNNING.value,
                JobRow.lease_token.is_(None),
                JobRow.lease_token != AttemptRow.lease_token,
            ),
        )
        .order_by(AttemptRow.id)
    )
    if machine is not None:
        query = query.where(AttemptRow.machine == machine)
    return _open(db, query)


def _open(db: Database, query: Select[AttemptRow]) -> list[OpenAttempt]:
    with db.read() as session:
        rows = session.scalars(query).all()
    return [
        OpenAttempt(
            attempt_id=row.id,
            job_id=row.job_id,
            process=AttemptProcess(
                host_name=row.host_name,
                machine=row.machine or "",
                workdir=row.workdir or "",
                marker=row.marker or "",
                container_runtime=row.container_runtime,
                container_name=row.container_name,
            ),
            process_group=row.process_group,
        )
        for row in rows
        if row.marker
    ]


@dataclass(frozen=True)
class RanCommand:
    """The argv an attempt ran, and on which host."""

    argv: list[str]
    host_name: str


RunKey = tuple[str, float | None]  # (job id, run finished at)


def ran_commands(session: Session, runs: Sequence[RunKey]) -> dict[RunKey, RanCommand]:
    """For each (job id, run finished at): the newest attempt of that job that started before
    the run finished, the one whose process made its output."""
    job_ids = sorted({job_id for job_id, _ in runs})
    by_job: dict[str, list[AttemptRow]] = {}
    for start in range(0, len(job_ids), 500):
        for row in session.scalars(
            select(AttemptRow)
            .where(AttemptRow.job_id.in_(job_ids[start : start + 500]))
            .order_by(AttemptRow.started_at)
        ):
            by_job.setdefault(row.job_id, []).append(row)
    found: dict[RunKey, RanCommand] = {}
    for job_id, finished_at in runs:
        rows = by_job.get(job_id, [])
        if finished_at is not None:
            rows = rows[: bisect_right(rows, finished_at, key=lambda row: row.started_at)]
        if rows:
            found[(job_id, finished_at)] = RanCommand(
                [str(a) for a in rows[-1].argv or []], rows[-1].host_name
            )
    return found
