"""What notifications read and write: the tail of the events table, the facts a message states
(a job's or run's end, a sweep's counts, whether the queue drained) and the claim of each
notification, an insert that only one of several workers wins."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Insert, Table, exists, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cosmos_workflow.domain.states import JobStatus
from cosmos_workflow.store.db import now
from cosmos_workflow.store.models import EventRow, JobRow, NotificationRow, PromptRow, RunRow

_NOTIFICATIONS = cast(Table, NotificationRow.__table__)
_ACTIVE_JOBS = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


def claim(session: Session, keys: Mapping[str, int]) -> set[str]:
    """Insert these keys (each with the id of the event behind it), skipping those already
    there; returns the ones this call inserted. One statement: of two workers claiming the same
    key at once, exactly one gets it."""
    if not keys:
        return set()
    stamp = now()
    rows = [{"key": key, "event_id": event, "created_at": stamp} for key, event in keys.items()]
    statement = _insert_or_skip(session).values(rows).returning(_NOTIFICATIONS.c.key)
    return set(session.scalars(statement).all())


def _insert_or_skip(session: Session) -> Insert:
    if session.connection().dialect.name == "postgresql":
        return postgresql.insert(_NOTIFICATIONS).on_conflict_do_nothing(index_elements=["key"])
    return sqlite.insert(_NOTIFICATIONS).on_conflict_do_nothing(index_elements=["key"])


def claimed(session: Session) -> list[str]:
    """Every claimed key, oldest first."""
    query = select(NotificationRow.key).order_by(NotificationRow.created_at)
    return list(session.scalars(query).all())


def tail(
    session: Session, after: int, missing: Collection[int], limit: int
) -> list[tuple[int, str]]:
    """(id, kind) of the events above `after` (at most `limit`) and of those among `missing`
    that are visible now, in id order. Ids only: log lines stay unread."""
    newer = EventRow.id > after
    which = or_(newer, EventRow.id.in_(sorted(missing))) if missing else newer
    query = select(EventRow.id, EventRow.kind).where(which).order_by(EventRow.id).limit(limit)
    return [(int(row.id), str(row.kind)) for row in session.execute(query)]


def events_by_id(session: Session, ids: Collection[int]) -> list[EventRow]:
    if not ids:
        return []
    query = select(EventRow).where(EventRow.id.in_(sorted(ids))).order_by(EventRow.id)
    return list(session.scalars(query).all())


@dataclass(frozen=True)
class JobEnd:
    """A job as it ended, with its runs counted by status and the sweeps they belong to."""

    job_id: str
    status: str
    error: str | None
    finished_at: float | None
    runs: dict[str, int] = field(default_factory=dict)
    sweep_ids: tuple[str, ...] = ()


def job_ends(session: Session, job_ids: Collection[str]) -> dict[str, JobEnd]:
    if not job_ids:
        return {}
    ids = sorted(job_ids)
    counts: dict[str, dict[str, int]] = {job_id: {} for job_id in ids}
    sweeps: dict[str, set[str]] = {job_id: set() for job_id in ids}
    rows = session.execute(
        select(RunRow.job_id, RunRow.status, RunRow.sweep_id, func.count())
        .where(RunRow.job_id.in_(ids))
        .group_by(RunRow.job_id, RunRow.status, RunRow.sweep_id)
    ).all()
    for job_id, status, sweep_id, count in rows:
        by_status = counts[job_id]
        by_status[status] = by_status.get(status, 0) + int(count)
        if sweep_id:
            sweeps[job_id].add(sweep_id)
    jobs = session.execute(
        select(JobRow.id, JobRow.status, JobRow.error, JobRow.finished_at).where(JobRow.id.in_(ids))
    ).all()
    return {
        job.id: JobEnd(
            job.id,
            job.status,
            job.error,
            job.finished_at,
            counts[job.id],
            tuple(sorted(sweeps[job.id])),
        )
        for job in jobs
    }


@dataclass(frozen=True)
class RunEnd:
    run_id: str
    job_id: str
    status: str
    error: str | None
    finished_at: float | None
    sweep_id: str | None
    prompt_name: str | None


def run_ends(session: Session, run_ids: Collection[str]) -> dict[str, RunEnd]:
    if not run_ids:
        return {}
    rows = session.execute(
        select(
            RunRow.id,
            RunRow.job_id,
            RunRow.status,
            RunRow.error,
            RunRow.finished_at,
            RunRow.sweep_id,
            PromptRow.name,
        )
        .join(PromptRow, PromptRow.id == RunRow.prompt_id)
        .where(RunRow.id.in_(sorted(run_ids)))
    ).all()
    return {row[0]: RunEnd(*row) for row in rows}


def sweep_ids_of_jobs(session: Session, job_ids: Collection[str]) -> set[str]:
    if not job_ids:
        return set()
    query = select(RunRow.sweep_id).where(RunRow.job_id.in_(sorted(job_ids))).distinct()
    return {sweep_id for sweep_id in session.scalars(query).all() if sweep_id}


def drained_at(session: Session) -> int | None:
    """None while a job is queued or running; else the id of the newest job status change:
    the one moment the queue drained, the same whichever worker asks (one statement, so the
    check and the id come from one snapshot on PostgreSQL too). The newest change is found
    through the primary key from the top, not by scanning the events' kinds."""
    newest: Any = (
        select(EventRow.id)
        .where(EventRow.kind == "job.status")
        .order_by(EventRow.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    active = exists().where(JobRow.status.in_(_ACTIVE_JOBS))
    found = session.scalar(select(newest).where(~active))
    return None if found is None else int(found)
