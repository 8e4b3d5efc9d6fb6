"""Measured timings, calibrations and learned GPU-batch limits: what makes predictions honest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cosmos_workflow.store.db import now
from cosmos_workflow.store.models import BatchLimitRow, CalibrationRow, JobRow, RunRow, TimingRow


def add_timing(session: Session, **values: Any) -> None:
    session.add(TimingRow(created_at=now(), **values))


def timings(
    session: Session, backend: str | None = None, gpu_profile: str | None = None
) -> Sequence[TimingRow]:
    query = select(TimingRow).order_by(TimingRow.created_at)
    if backend:
        query = query.where(TimingRow.backend == backend)
    if gpu_profile:
        query = query.where(TimingRow.gpu_profile == gpu_profile)
    return session.scalars(query).all()


def first_run_params(session: Session, job_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The stored parameters of each job's first run (by batch index), for the jobs that still
    hold a run: what a measured process ran with, where its timing row does not say."""
    found: dict[str, dict[str, Any]] = {}
    ids = sorted(set(job_ids))
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(RunRow.job_id, RunRow.params)
            .where(RunRow.job_id.in_(ids[start : start + 500]))
            .order_by(RunRow.job_id, RunRow.batch_index)
        ).all()
        for job_id, params in rows:
            found.setdefault(job_id, params)
    return found


@dataclass(frozen=True)
class TimingTotals:
    processes: int  # model processes measured
    measured_seconds: float  # their load plus compute seconds
    predicted_seconds: float  # what the cost model predicted for them (0 where it had nothing)


def timing_totals(session: Session, since: float) -> TimingTotals:
    """The timings measured since `since` (UNIX seconds), summed."""
    processes, measured, predicted = session.execute(
        select(
            func.count(TimingRow.id),
            func.coalesce(func.sum(TimingRow.load_seconds + TimingRow.compute_seconds), 0.0),
            func.coalesce(func.sum(TimingRow.predicted_seconds), 0.0),
        ).where(TimingRow.created_at >= since)
    ).one()
    return TimingTotals(int(processes), float(measured), float(predicted or 0.0))


def job_prediction(session: Session, job_id: str) -> float | None:
    """The GPU seconds predicted for a job when it was queued or batched, to store beside what
    its process measured."""
    return session.scalar(select(JobRow.predicted_seconds).where(JobRow.id == job_id))


def latest_calibrations(session: Session) -> dict[tuple[str, str], CalibrationRow]:
    """The newest calibration per (backend, GPU profile)."""
    newest: dict[tuple[str, str], CalibrationRow] = {}
    for row in session.scalars(select(CalibrationRow).order_by(CalibrationRow.created_at)).all():
        newest[(row.backend, row.gpu_profile)] = row
    return newest


def add_calibration(
    session: Session,
    backend: str,
    gpu_profile: str,
    params: dict[str, Any],
    samples: int,
    mean_abs_error_pct: float,
) -> None:
    session.add(
        CalibrationRow(
            created_at=now(),
            backend=backend,
            gpu_profile=gpu_profile,
            params=params,
            samples=samples,
            mean_abs_error_pct=mean_abs_error_pct,
        )
    )


def learned_limits(session: Session, gpu_profile: str) -> dict[tuple[str, str], int]:
    rows = session.scalars(select(BatchLimitRow).where(BatchLimitRow.gpu_profile == gpu_profile))
    return {(row.backend, row.controls): row.max_gpu_batch_size for row in rows}


def learn_limit(
    session: Session, gpu_profile: str, backend: str, controls: str, limit: int
) -> None:
    """Remember that a GPU batch above `limit` ran out of memory (only ever lowers the limit)."""
    row = session.get(BatchLimitRow, (gpu_profile, backend, controls))
    if row is None:
        session.add(
            BatchLimitRow(
                gpu_profile=gpu_profile,
                backend=backend,
                controls=controls,
                max_gpu_batch_size=limit,
                updated_at=now(),
            )
        )
    elif limit < row.max_gpu_batch_size:
        row.max_gpu_batch_size = limit
        row.updated_at = now()
