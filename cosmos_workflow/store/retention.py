"""Retention: every row `cosmos prune` deletes, chosen once and deleted in bulk.

What goes, for a cutoff time:

- finished jobs (succeeded, failed, cancelled, merged) that ended before it, with their runs,
  attempts and timings. Never a queued or running job, nor one with an attempt still open (its
  process may still run: the reaper needs that row to find it), nor one that a run kept here
  still refers to: a run moved out of it into a job that stays (`origin_job_id`), or an upscale
  whose source run is in it (`parent_run_id`). Prompts and inputs are never deleted;
- events created before it, and those of the jobs that go, but never the newest event: SQLite
  numbers a new row after the largest id left, so deleting the newest would hand its id out
  again, and a live-stream client resuming after the last id it saw would miss events;
- plans created before it that no remaining job came from;
- notification claims made before it (store/notifications.py).

The same selection serves a dry run (in a read transaction) and the prune itself (selected and
deleted in one write transaction), so a dry run shows exactly what a prune would delete. Deletes
are one statement per table and chunk of ids, children before parents, so the foreign keys hold
on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, exists, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from cosmos_workflow.domain.states import JobStatus
from cosmos_workflow.store.models import (
    AttemptRow,
    EventRow,
    JobRow,
    NotificationRow,
    PlanRow,
    RunRow,
    TimingRow,
)

FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.MERGED)
# Ids per IN list: far below SQLite's limit of bound values (32766), and a statement stays small.
CHUNK = 500


@dataclass(frozen=True)
class AttemptDir:
    """Where an attempt's work directory is (on `machine`, the one that ran a local host)."""

    host_name: str
    machine: str | None
    workdir: str


@dataclass(frozen=True)
class Prunable:
    """What a prune with this cutoff deletes (or, in a dry run, would delete)."""

    cutoff: float
    job_ids: tuple[str, ...]
    run_ids: tuple[str, ...]
    plan_ids: tuple[str, ...]
    events: int
    newest_event: int  # the id of the event that stays (0: there are none)
    attempts: int
    timings: int
    # Work directories of the attempts that ended before the cutoff (of any job) or belong to a
    # job that goes. Only their files are removed (by the service); attempt rows of jobs that
    # stay are kept.
    workdirs: tuple[AttemptDir, ...]


def select_prunable(session: Session, cutoff: float) -> Prunable:
    jobs = _prunable_jobs(session, cutoff)
    newest_event = session.scalar(select(func.max(EventRow.id))) or 0
    return Prunable(
        cutoff=cutoff,
        job_ids=jobs,
        run_ids=tuple(_in_chunks(session, select(RunRow.id), RunRow.job_id, jobs)),
        plan_ids=_prunable_plans(session, cutoff, set(jobs)),
        events=_count_events(session, cutoff, newest_event, jobs),
        newest_event=newest_event,
        attempts=_count(session, AttemptRow.job_id, jobs),
        timings=_count(session, TimingRow.job_id, jobs),
        workdirs=_workdirs(session, cutoff, jobs),
    )


def delete_prunable(session: Session, rows: Prunable) -> None:
    """Delete what `select_prunable` chose, in the same transaction."""
    old = _old_events(rows.cutoff, rows.newest_event)
    session.execute(delete(EventRow).where(old))
    # Claims of notifications sent before the cutoff: their events go with this prune.
    session.execute(delete(NotificationRow).where(NotificationRow.created_at < rows.cutoff))
    for chunk in _chunks(rows.job_ids):
        session.execute(
            delete(EventRow).where(EventRow.job_id.in_(chunk), EventRow.id < rows.newest_event)
        )
    for table, column in (
        (TimingRow, TimingRow.job_id),
        (AttemptRow, AttemptRow.job_id),
        (RunRow, RunRow.job_id),
    ):
        for chunk in _chunks(rows.job_ids):
            session.execute(delete(table).where(column.in_(chunk)))
    for chunk in _chunks(rows.job_ids):
        session.execute(delete(JobRow).where(JobRow.id.in_(chunk)))
    for chunk in _chunks(rows.plan_ids):
        session.execute(delete(PlanRow).where(PlanRow.id.in_(chunk)))


# -- selection ---------------------------------------------------------------------------------


def _candidates(cutoff: float) -> Select[str]:
    """Finished before the cutoff, with no attempt still open."""
    open_attempt = exists().where(AttemptRow.job_id == JobRow.id, AttemptRow.ended_at.is_(None))
    return select(JobRow.id).where(
        JobRow.status.in_([status.value for status in FINISHED]),
        func.coalesce(JobRow.finished_at, JobRow.updated_at) < cutoff,
        ~open_attempt,
    )


def _prunable_jobs(session: Session, cutoff: float) -> tuple[str, ...]:
    candidates = _candidates(cutoff)
    chosen = set(session.scalars(candidates))
    # (job that refers, job referred to): a run in the first came from (origin) or upscales a
    # run of (parent) the second.
    parent = aliased(RunRow)
    references = [
        *session.execute(
            select(RunRow.job_id, RunRow.origin_job_id).where(
                RunRow.origin_job_id.in_(candidates), RunRow.job_id != RunRow.origin_job_id
            )
        ),
        *session.execute(
            select(RunRow.job_id, parent.job_id)
            .join(parent, RunRow.parent_run_id == parent.id)
            .where(parent.job_id.in_(candidates), RunRow.job_id != parent.job_id)
        ),
    ]
    # A job referred to from a job that stays must stay too, which may keep the jobs it refers
    # to: repeat until nothing changes (chains are as long as batches were merged again).
    changed = True
    while changed:
        kept = {referred for referrer, referred in references if referrer not in chosen}
        changed = bool(kept & chosen)
        chosen -= kept
    return tuple(sorted(chosen))


def _prunable_plans(session: Session, cutoff: float, jobs: set[str]) -> tuple[str, ...]:
    old = select(PlanRow.id).where(PlanRow.created_at < cutoff)
    needed = {
        plan_id
        for plan_id, job_id in session.execute(
            select(JobRow.plan_id, JobRow.id).where(JobRow.plan_id.in_(old))
        )
        if job_id not in jobs
    }
    return tuple(sorted(set(session.scalars(old)) - needed))


def _old_events(cutoff: float, newest_event: int) -> ColumnElement[bool]:
    return and_(EventRow.created_at < cutoff, EventRow.id < newest_event)


def _count_events(session: Session, cutoff: float, newest: int, jobs: Sequence[str]) -> int:
    """The old events, plus the later events of the jobs that go (the newest event stays)."""
    total = session.scalar(select(func.count()).where(_old_events(cutoff, newest))) or 0
    for chunk in _chunks(jobs):
        later = and_(
            EventRow.job_id.in_(chunk), EventRow.created_at >= cutoff, EventRow.id < newest
        )
        total += session.scalar(select(func.count()).where(later)) or 0
    return total


def _count(session: Session, column: InstrumentedAttribute[Any], jobs: Sequence[str]) -> int:
    return sum(
        session.scalar(select(func.count()).where(column.in_(chunk))) or 0
        for chunk in _chunks(jobs)
    )


def _workdirs(session: Session, cutoff: float, jobs: Sequence[str]) -> tuple[AttemptDir, ...]:
    query = select(AttemptRow.host_name, AttemptRow.machine, AttemptRow.workdir).where(
        AttemptRow.workdir.is_not(None)
    )
    ended = session.execute(
        query.where(and_(AttemptRow.ended_at.is_not(None), AttemptRow.ended_at < cutoff))
    )
    found = {AttemptDir(host, machine, workdir) for host, machine, workdir in ended if workdir}
    for chunk in _chunks(jobs):
        rows = session.execute(query.where(AttemptRow.job_id.in_(chunk)))
        found |= {AttemptDir(host, machine, workdir) for host, machine, workdir in rows if workdir}
    return tuple(sorted(found, key=lambda d: (d.host_name, d.workdir)))


def _in_chunks(
    session: Session,
    query: Select[str],
    column: InstrumentedAttribute[Any],
    ids: Sequence[str],
) -> Iterator[str]:
    for chunk in _chunks(ids):
        yield from session.scalars(query.where(column.in_(chunk)))


def _chunks(ids: Iterable[str]) -> Iterator[list[str]]:
    items = list(ids)
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]
