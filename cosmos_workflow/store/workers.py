"""Worker registrations: who is running, on which host, with what job, last seen when."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from cosmos_workflow.domain.ids import new_id
from cosmos_workflow.domain.states import JobStatus
from cosmos_workflow.store.db import Database, now
from cosmos_workflow.store.events import record_event
from cosmos_workflow.store.models import AttemptRow, JobRow, WorkerRow


def register_worker(
    db: Database, host_name: str, *, simulate: bool, slot: str | None = None
) -> str:
    """Register one slot a worker drives (`slot`: `host/index`), and say so in the events."""
    worker_id = new_id("wk")
    stamp = now()
    with db.write() as session:
        session.add(
            WorkerRow(
                id=worker_id,
                host_name=host_name,
                slot=slot,
                machine=socket.gethostname(),
                pid=os.getpid(),
                simulate=simulate,
                started_at=stamp,
                heartbeat_at=stamp,
            )
        )
        record_event(
            session,
            "worker.started",
            worker_id=worker_id,
            host=host_name,
            slot=slot,
            simulate=simulate,
        )
    return worker_id


def worker_heartbeat(db: Database, worker_id: str, current_job_id: str | None) -> None:
    with db.write() as session:
        session.execute(
            update(WorkerRow)
            .where(WorkerRow.id == worker_id)
            .values(heartbeat_at=now(), current_job_id=current_job_id)
        )


def stop_worker(db: Database, worker_id: str) -> None:
    with db.write() as session:
        session.execute(
            update(WorkerRow)
            .where(WorkerRow.id == worker_id)
            .values(stopped_at=now(), current_job_id=None)
        )
        record_event(session, "worker.stopped", worker_id=worker_id)


def workers_by_heartbeat(
    session: Session, *, include_stopped: bool, limit: int
) -> Sequence[WorkerRow]:
    """Workers, most recently heard from first."""
    query = select(WorkerRow).order_by(WorkerRow.heartbeat_at.desc()).limit(limit)
    if not include_stopped:
        query = query.where(WorkerRow.stopped_at.is_(None))
    return session.scalars(query).all()


@dataclass(frozen=True, slots=True)
class SlotJob:
    """A running job and the slot its worker registered (None: a worker from before slots)."""

    job_id: str
    slot: str | None
    host_name: str | None
    worker_id: str | None
    started_at: float | None
    predicted_seconds: float | None
    backend: str


def running_on_slots(session: Session) -> list[SlotJob]:
    """Every running job with the slot that runs it, oldest start first."""
    query = (
        select(
            JobRow.id,
            WorkerRow.slot,
            JobRow.host_name,
            JobRow.worker_id,
            JobRow.started_at,
            JobRow.predicted_seconds,
            JobRow.backend,
        )
        .outerjoin(WorkerRow, WorkerRow.id == JobRow.worker_id)
        .where(JobRow.status == JobStatus.RUNNING.value)
        .order_by(JobRow.started_at, JobRow.id)
    )
    return [SlotJob(*row) for row in session.execute(query).all()]


@dataclass(frozen=True, slots=True)
class SlotAttempt:
    """One attempt on a slot, for the fleet's timeline."""

    slot: str
    job_id: str
    started_at: float
    ended_at: float | None
    outcome: str | None
    exit_code: int | None


def slot_attempts(session: Session, since: float, limit: int) -> list[SlotAttempt]:
    """Attempts of slot-registered workers that started after `since` or were still open then,
    newest first (at most `limit`)."""
    query = (
        select(
            WorkerRow.slot,
            AttemptRow.job_id,
            AttemptRow.started_at,
            AttemptRow.ended_at,
            AttemptRow.outcome,
            AttemptRow.exit_code,
        )
        .join(WorkerRow, WorkerRow.id == AttemptRow.worker_id)
        .where(
            WorkerRow.slot.is_not(None),
            or_(AttemptRow.started_at >= since, AttemptRow.ended_at.is_(None)),
        )
        .order_by(AttemptRow.started_at.desc())
        .limit(limit)
    )
    return [
        SlotAttempt(slot, job_id, started, ended, outcome, code)
        for slot, job_id, started, ended, outcome, code in session.execute(query).all()
        if slot is not None
    ]


def last_attempt_ends(session: Session) -> dict[str, float]:
    """Per slot, when its last attempt ended."""
    query = (
        select(WorkerRow.slot, func.max(AttemptRow.ended_at))
        .join(WorkerRow, WorkerRow.id == AttemptRow.worker_id)
        .where(WorkerRow.slot.is_not(None), AttemptRow.ended_at.is_not(None))
        .group_by(WorkerRow.slot)
    )
    return {slot: ended for slot, ended in session.execute(query).all() if slot and ended}


def slot_workers(session: Session) -> dict[str, WorkerRow]:
    """Per slot, its newest registration that has not stopped."""
    query = (
        select(WorkerRow)
        .where(WorkerRow.slot.is_not(None), WorkerRow.stopped_at.is_(None))
        .order_by(WorkerRow.heartbeat_at)
    )
    return {row.slot: row for row in session.scalars(query).all() if row.slot}
