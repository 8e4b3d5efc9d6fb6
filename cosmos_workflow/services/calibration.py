"""`cosmos calibrate`: fit the planner's cost model to the timings workers measured."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel

from cosmos_workflow.domain.controls import parse_control_set_key
from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.domain.params import Backend, ExecutionParams, params_from_dict
from cosmos_workflow.planner.calibration import TimingSample, fit_cost_params
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.estimates import calibrated_cost_model
from cosmos_workflow.store.timings import (
    TimingTotals,
    add_calibration,
    first_run_params,
    timing_totals,
    timings,
)

log = logging.getLogger(__name__)


class Fit(BaseModel):
    backend: str
    gpu_profile: str
    samples: int
    mean_abs_error_pct: float
    max_abs_error_pct: float
    params: dict[str, float]


class CalibrationReport(BaseModel):
    fits: list[Fit]
    samples: int
    mean_abs_error_pct: float  # over every sample of every fit


def calibrate(
    ctx: Context, *, backend: str | None = None, gpu_profile: str | None = None
) -> CalibrationReport:
    """Fit one parameter set per (backend, GPU profile) with measurements, store it, and report
    how far the fitted model is from the measurements it was fitted on."""
    if backend is not None and backend not in {b.value for b in Backend}:
        raise InvalidInput(f"unknown backend {backend!r}", field="backend")
    with ctx.db.read() as session:
        rows = timings(session, backend, gpu_profile)
        # Cosmos 3's cost depends on values its timing rows do not hold (checkpoint, guidance,
        # control guidance, chunking, resolution): read them from the runs of the process.
        cosmos3 = [row.job_id for row in rows if row.backend == Backend.COSMOS3.value]
        run_params = first_run_params(session, cosmos3) if cosmos3 else {}
        groups: dict[tuple[str, str], list[TimingSample]] = {}
        for row in rows:
            groups.setdefault((row.backend, row.gpu_profile), []).append(
                TimingSample(
                    backend=Backend(row.backend),
                    gpu_profile=row.gpu_profile,
                    controls=parse_control_set_key(row.controls),
                    steps=row.steps,
                    frames=row.frames,
                    gpu_batch_size=row.gpu_batch_size,
                    runs=row.runs,
                    distilled=row.distilled,
                    load_seconds=row.load_seconds,
                    compute_seconds=row.compute_seconds,
                    params=_params(run_params.get(row.job_id)),
                )
            )
        models = {profile: calibrated_cost_model(session, profile)[0] for _, profile in groups}
    if not groups:
        raise InvalidInput(
            "no measured timings yet: run some jobs with `cosmos worker` first", field="timings"
        )
    fits = []
    for (name, profile), samples in sorted(groups.items()):
        base = models[profile].params_for(Backend(name), profile)
        result = fit_cost_params(samples, base)
        fits.append(
            Fit(
                backend=name,
                gpu_profile=profile,
                samples=result.samples_used,
                mean_abs_error_pct=round(result.mean_abs_error_pct, 3),
                max_abs_error_pct=round(result.max_abs_error_pct, 3),
                params=result.params.to_dict(),
            )
        )
    with ctx.db.write() as session:
        for fit in fits:
            if fit.samples:
                add_calibration(
                    session,
                    fit.backend,
                    fit.gpu_profile,
                    fit.params,
                    fit.samples,
                    fit.mean_abs_error_pct,
                )
    total = sum(f.samples for f in fits)
    mean = sum(f.mean_abs_error_pct * f.samples for f in fits) / total if total else 0.0
    for fit in fits:
        log.info(
            "calibrated backend=%s profile=%s samples=%d error=%.2f%%",
            fit.backend,
            fit.gpu_profile,
            fit.samples,
            fit.mean_abs_error_pct,
        )
    return CalibrationReport(fits=fits, samples=total, mean_abs_error_pct=round(mean, 3))


def _params(stored: dict[str, Any] | None) -> ExecutionParams | None:
    return None if stored is None else params_from_dict(stored)


def measured_since(ctx: Context, since: float) -> TimingTotals:
    """What the workers measured since `since` (UNIX seconds): processes and GPU seconds."""
    with ctx.db.read() as session:
        return timing_totals(session, since)
