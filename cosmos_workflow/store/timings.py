"""Measured timings, calibrations and learned GPU-batch limits: what makes predictions honest."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cosmos_workflow.store.models import BatchLimitRow, CalibrationRow, TimingRow
from cosmos_workflow.store.queue import now


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
