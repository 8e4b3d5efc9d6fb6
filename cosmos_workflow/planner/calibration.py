"""Calibration: refit a backend's cost parameters to the measured phases of real processes.

Load and compute are fitted separately, each by weighted least squares on relative error (a 10 s
miss on a 20 s load matters as much as a 100 s miss on a 200 s one):

- load = process_start + branch_load x loaded branches: both fitted when the samples loaded at
  least two different branch counts, else both scaled by one factor.
- compute = overhead x runs + pass x A + (pass x branch_fraction) x B, where A and B follow from
  each sample's clips, passes, GPU-batch grouping and distilled flag. That is linear once the
  GPU-batch marginal and the distilled factor are fixed, so those two are searched on a grid
  (only when the samples can tell them apart) and the three linear terms solved at each point.
  With too few samples for three terms the branch fraction keeps its base value; with fewer
  still, pass and overhead are scaled together by one factor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.params import (
    Backend,
    ExecutionParams,
    default_params,
    validate_params,
)
from cosmos_workflow.planner.cost import (
    CostParams,
    JobEstimate,
    SamplingShape,
    control_units,
    evaluated_branches,
    gpu_batch_seconds,
    load_seconds,
    loaded_branches,
    sampling_units,
    shape_of,
    shape_seconds,
    variant_factor,
)

Matrix = npt.NDArray[np.float64]

MARGINAL_GRID = np.linspace(0.02, 1.0, 50)
DISTILLED_GRID_SPAN = 4.0  # the distilled (and Super) factor is searched from base/4 to base*4
DISTILLED_GRID_POINTS = 41


@dataclass(frozen=True, slots=True)
class TimingSample:
    """Measured phases of one model process whose runs all share these settings."""

    backend: Backend
    gpu_profile: str
    controls: frozenset[Control]  # the process's loaded control set
    steps: int
    frames: int
    gpu_batch_size: int
    runs: int  # runs in the process
    distilled: bool
    load_seconds: float  # process start to the first sampling step
    compute_seconds: float  # first sampling step to the end, all runs
    # The runs' parameters where known. Cosmos 3 reads its checkpoint, guidance, control
    # guidance, chunking and resolution from them; None: NVIDIA's defaults for `controls`.
    params: ExecutionParams | None = None

    @property
    def shape(self) -> SamplingShape:
        return shape_of(_sample_params(self), self.frames)

    @property
    def checkpoint(self) -> str | None:
        return _sample_params(self).checkpoint


@lru_cache(maxsize=4096)  # the fit reads each sample's parameters at every grid point
def _sample_params(sample: TimingSample) -> ExecutionParams:
    """The sample's parameters, with its own steps and distilled flag."""
    params = sample.params
    if params is None:
        if sample.backend is Backend.COSMOS3:
            names = sorted(control.value for control in sample.controls)
            params = validate_params({"backend": sample.backend.value}, names)
        else:
            params = default_params(sample.backend)
    return replace(params, steps=sample.steps, distilled=sample.distilled)


@dataclass(frozen=True, slots=True)
class CalibrationResult:
    params: CostParams
    samples_used: int
    mean_abs_error_pct: float
    max_abs_error_pct: float


def sample_estimate(params: CostParams, sample: TimingSample) -> JobEstimate:
    """What `params` predict for a measured process (each run asks for all its controls)."""
    load = load_seconds(params, sample.backend, sample.controls, sample.checkpoint)
    return JobEstimate(load, _compute(params, sample))


def fit_cost_params(samples: Sequence[TimingSample], base: CostParams) -> CalibrationResult:
    """Fit load and compute parameters to measured processes; report the fit error on them.

    Parameters the samples cannot identify keep their `base` values; one sample is enough to
    scale the base parameters to it."""
    usable = [s for s in samples if s.runs > 0 and s.load_seconds >= 0 and s.compute_seconds > 0]
    if not usable:
        return CalibrationResult(base, 0, 0.0, 0.0)
    params = _fit_compute(usable, _fit_load(usable, base))
    errors = [_error_pct(params, sample) for sample in usable]
    return CalibrationResult(params, len(usable), sum(errors) / len(errors), max(errors))


def _error_pct(params: CostParams, sample: TimingSample) -> float:
    """Error on the total; on compute alone where the load was not measured."""
    estimate = sample_estimate(params, sample)
    measured = sample.load_seconds + sample.compute_seconds
    predicted = estimate.total_seconds if sample.load_seconds > 0 else estimate.compute_seconds
    return abs(predicted - measured) / measured * 100.0


# --- load ------------------------------------------------------------------------------------


def _fit_load(all_samples: Sequence[TimingSample], base: CostParams) -> CostParams:
    """Fitted on samples whose load was measured (a load of 0 means it was not seen)."""
    samples = [s for s in all_samples if s.load_seconds > 0]
    if not samples:
        return base
    branches = np.array(
        [loaded_branches(s.backend, s.controls, s.checkpoint) for s in samples], dtype=float
    )
    measured = np.array([s.load_seconds for s in samples])
    if len(set(branches.tolist())) >= 2:
        design = np.column_stack([np.ones_like(branches), branches])
        solution = _weighted_solve(design, measured)
        if solution is not None and solution[0] >= 0 and solution[1] >= 0:
            start, per_branch = (float(v) for v in solution)
            return replace(base, process_start_seconds=start, branch_load_seconds=per_branch)
    predicted = base.process_start_seconds + base.branch_load_seconds * branches
    factor = _scale_factor(predicted, measured)
    return replace(
        base,
        process_start_seconds=base.process_start_seconds * factor,
        branch_load_seconds=base.branch_load_seconds * factor,
    )


# --- compute ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Fit:
    params: CostParams
    residual: float


def _fit_compute(samples: Sequence[TimingSample], base: CostParams) -> CostParams:
    measured = np.array([s.compute_seconds for s in samples])
    best: _Fit | None = None
    for marginal in _marginal_candidates(samples, base):
        for distilled, large in _variant_candidates(samples, base):
            trial = replace(
                base, gpu_batch_marginal=marginal, distilled_factor=distilled, super_factor=large
            )
            fit = _fit_linear_terms(samples, trial, measured)
            if best is None or fit.residual < best.residual:
                best = fit
    assert best is not None
    return best.params


def _marginal_candidates(samples: Sequence[TimingSample], base: CostParams) -> list[float]:
    batched = any(min(s.gpu_batch_size, s.runs) > 1 for s in samples)
    return [float(m) for m in MARGINAL_GRID] if batched else [base.gpu_batch_marginal]


def _variant_candidates(
    samples: Sequence[TimingSample], base: CostParams
) -> list[tuple[float, float]]:
    """(distilled factor, Super factor) pairs: each searched only when the samples hold both
    the base variant and that one."""
    shapes = [s.shape for s in samples]
    distilled = _factor_grid(base.distilled_factor, {shape.distilled for shape in shapes})
    large = _factor_grid(base.super_factor, {shape.large for shape in shapes})
    return [(d, g) for d in distilled for g in large]


def _factor_grid(base: float, kinds: set[bool]) -> list[float]:
    if kinds != {True, False}:
        return [base]
    grid = np.geomspace(
        base / DISTILLED_GRID_SPAN, base * DISTILLED_GRID_SPAN, DISTILLED_GRID_POINTS
    )
    return [float(d) for d in grid]


def _fit_linear_terms(samples: Sequence[TimingSample], trial: CostParams, measured: Matrix) -> _Fit:
    """The best of: all three linear terms, then branch fraction kept, then one scale factor."""
    runs = np.array([float(s.runs) for s in samples])
    plain = np.array([_sampling(trial, s, with_branches=False) for s in samples])
    branchy = np.array([_sampling(trial, s, with_branches=True) for s in samples])
    for fitted in (_three_terms, _two_terms):
        params = fitted(trial, runs, plain, branchy, measured)
        if params is not None:
            return _Fit(params, _residual(params, samples, measured))
    params = _scaled_compute(trial, samples, measured)
    return _Fit(params, _residual(params, samples, measured))


def _three_terms(
    trial: CostParams, runs: Matrix, plain: Matrix, branchy: Matrix, measured: Matrix
) -> CostParams | None:
    design = np.column_stack([runs, plain, branchy])
    solution = _solve_identified(design, measured)
    if solution is None:
        return None
    overhead, pass_seconds, pass_branch = (float(v) for v in solution)
    if overhead < 0 or pass_seconds <= 0 or pass_branch < 0:
        return None
    return replace(
        trial,
        run_overhead_seconds=overhead,
        pass_seconds=pass_seconds,
        branch_fraction=pass_branch / pass_seconds,
    )


def _two_terms(
    trial: CostParams, runs: Matrix, plain: Matrix, branchy: Matrix, measured: Matrix
) -> CostParams | None:
    combined = plain + trial.branch_fraction * branchy
    solution = _solve_identified(np.column_stack([runs, combined]), measured)
    if solution is None:
        return None
    overhead, pass_seconds = (float(v) for v in solution)
    if overhead < 0 or pass_seconds <= 0:
        return None
    return replace(trial, run_overhead_seconds=overhead, pass_seconds=pass_seconds)


def _scaled_compute(
    trial: CostParams, samples: Sequence[TimingSample], measured: Matrix
) -> CostParams:
    predicted = np.array([_compute(trial, s) for s in samples])
    factor = _scale_factor(predicted, measured)
    return replace(
        trial,
        run_overhead_seconds=trial.run_overhead_seconds * factor,
        pass_seconds=trial.pass_seconds * factor,
    )


def _sampling(params: CostParams, sample: TimingSample, *, with_branches: bool) -> float:
    """Sampling seconds of a sample per unit of `pass_seconds`: without the branch term, or
    the branch term's coefficient (control units x branches evaluated)."""
    shape = sample.shape
    factor = variant_factor(params, shape) * _batch_factor(params, sample)
    if not with_branches:
        return sampling_units(shape) * factor
    weight = evaluated_branches(sample.backend, sample.controls, sample.controls)
    return control_units(shape) * weight * factor


def _batch_factor(params: CostParams, sample: TimingSample) -> float:
    """Sum over the process's sampling calls of (1 + marginal x extra items)."""
    size = max(1, min(sample.gpu_batch_size, sample.runs))
    full, rest = divmod(sample.runs, size)
    return full * gpu_batch_seconds(params, [1.0] * size) + gpu_batch_seconds(params, [1.0] * rest)


def _compute(params: CostParams, sample: TimingSample) -> float:
    branches = evaluated_branches(sample.backend, sample.controls, sample.controls)
    per_run = shape_seconds(params, sample.shape, branches)
    sampling = per_run * _batch_factor(params, sample)
    return sampling + params.run_overhead_seconds * sample.runs


def _residual(params: CostParams, samples: Sequence[TimingSample], measured: Matrix) -> float:
    predicted = np.array([_compute(params, s) for s in samples])
    return float(np.sum(((predicted - measured) / measured) ** 2))


# --- numerics --------------------------------------------------------------------------------


def _solve_identified(design: Matrix, measured: Matrix) -> Matrix | None:
    """Least squares only when every column is identified and there is a sample to spare."""
    rows, columns = design.shape
    if rows <= columns:
        return None
    scaled = design / np.maximum(np.abs(design).max(axis=0), 1e-12)
    if np.linalg.matrix_rank(scaled, tol=1e-6) < columns:
        return None
    return _weighted_solve(design, measured)


def _weighted_solve(design: Matrix, measured: Matrix) -> Matrix | None:
    weights = 1.0 / measured
    solution, *_ = np.linalg.lstsq(design * weights[:, None], measured * weights, rcond=None)
    if not np.all(np.isfinite(solution)):
        return None
    return np.asarray(solution, dtype=np.float64)


def _scale_factor(predicted: Matrix, measured: Matrix) -> float:
    """The factor k minimising the squared relative error of k x predicted against measured."""
    ratio = predicted / measured
    denominator = float(np.sum(ratio**2))
    return float(np.sum(ratio)) / denominator if denominator > 0 else 1.0
