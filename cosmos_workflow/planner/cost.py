"""The cost model: predicted GPU seconds of one model process running a set of runs.

One process pays a load once (process start, base weights, then its control branches) and then,
per run, a fixed overhead (text encoding, guardrails, VAE, mp4 write) plus its sampling: clips (or
chunks) x forward passes x the cost of one pass. Sampling grows with the number of control
branches evaluated per pass. Transfer1 can denoise several items in one tensor (`--batch_size`),
which costs less than running them one after another.

Defaults per GPU profile are in `cost_defaults`, each number with its derivation; measured timings
refit them (`calibration.fit_cost_params`)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from cosmos_workflow.domain.controls import Control, ControlSet
from cosmos_workflow.domain.params import Backend
from cosmos_workflow.domain.work import QueuedRun

T1_CLIP_FRAMES = 121  # frames per Transfer1 clip; 120 new frames per extra clip (reference 1.7)
T25_CHUNK_FRAMES = 93  # frames per Transfer2.5 chunk (reference 2.5)
T25_CONDITIONAL_FRAMES = 1  # default num_conditional_frames: chunk overlap (reference 2.3)
T25_DISTILLED_STEPS = 4  # the distilled Transfer2.5 model samples 4 steps, no CFG (reference 2.3)
T25_ALL_CONTROLS = 4  # a multicontrol Transfer2.5 process loads all 4 branches (reference 2.4)


@dataclass(frozen=True, slots=True)
class CostParams:
    """Cost parameters of one backend on one GPU profile (seconds unless said otherwise)."""

    process_start_seconds: float  # process start + base weights (DiT, text encoder, VAE, guards)
    branch_load_seconds: float  # per control branch (T1) or control checkpoint (T2.5) loaded
    run_overhead_seconds: float  # per run: text encoding, guardrails, VAE, mp4 write
    pass_seconds: float  # one DiT forward pass over one clip, base model, one branch evaluated
    branch_fraction: float  # extra pass cost per evaluated control branch (the first included)
    gpu_batch_marginal: float  # share of one item's sampling each extra GPU-batch item adds
    distilled_factor: float  # cost of a distilled pass relative to a base pass

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CostParams:
        return cls(**{name: float(data[name]) for name in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class JobEstimate:
    """Predicted GPU time of one model process."""

    load_seconds: float
    compute_seconds: float

    @property
    def total_seconds(self) -> float:
        return self.load_seconds + self.compute_seconds


def clip_count(backend: Backend, frames: int) -> int:
    """Clips (Transfer1) or chunks (Transfer2.5) an input of `frames` frames is generated in."""
    if backend is Backend.TRANSFER2_5:
        if frames <= T25_CHUNK_FRAMES:
            return 1
        stride = T25_CHUNK_FRAMES - T25_CONDITIONAL_FRAMES
        return 1 + math.ceil((frames - T25_CHUNK_FRAMES) / stride)
    return max(1, math.ceil((frames - 1) / (T1_CLIP_FRAMES - 1)))


def passes_per_clip(backend: Backend, steps: int, distilled: bool) -> int:
    """DiT forward passes per clip: steps x 2 with classifier-free guidance.

    Transfer1 distilled is one step without CFG; Transfer2.5 distilled is 4 steps without CFG."""
    if not distilled:
        return steps * 2
    return T25_DISTILLED_STEPS if backend is Backend.TRANSFER2_5 else 1


def loaded_branches(backend: Backend, controls: Iterable[Control]) -> int:
    """Control branches a process loads: Transfer1 one per control; Transfer2.5 one
    single-control checkpoint, or all four for multicontrol."""
    count = len(frozenset(controls))
    if backend is Backend.TRANSFER2_5:
        return 1 if count <= 1 else T25_ALL_CONTROLS
    return count


def evaluated_branches(
    backend: Backend, process_controls: ControlSet, run_controls: ControlSet
) -> int:
    """Branches evaluated per pass for one run. Transfer1 runs every loaded branch (a weight of
    0 only scales its output); Transfer2.5 skips branches whose control input is all zeros, so
    a run pays for its own controls only."""
    if backend is Backend.TRANSFER2_5:
        return max(1, len(run_controls))
    return max(1, len(process_controls))


def load_seconds(params: CostParams, backend: Backend, controls: Iterable[Control]) -> float:
    return params.process_start_seconds + params.branch_load_seconds * loaded_branches(
        backend, controls
    )


@lru_cache(maxsize=4096)
def sampling_units(backend: Backend, frames: int, steps: int, distilled: bool) -> float:
    """Base-model passes of one run, before the branch and distilled factors."""
    return float(clip_count(backend, frames) * passes_per_clip(backend, steps, distilled))


def run_sampling_seconds(
    params: CostParams, backend: Backend, run: QueuedRun, process_controls: ControlSet
) -> float:
    """Sampling seconds of one run on its own (GPU batch of one)."""
    units = sampling_units(backend, run.video.frames, run.params.steps, run.params.distilled)
    branches = evaluated_branches(backend, process_controls, run.controls)
    factor = params.distilled_factor if run.params.distilled else 1.0
    return params.pass_seconds * units * factor * branch_multiplier(params, branches)


def branch_multiplier(params: CostParams, branches: int) -> float:
    return 1.0 + params.branch_fraction * max(1, branches)


def gpu_batch_seconds(params: CostParams, item_seconds: Sequence[float]) -> float:
    """Sampling seconds of items denoised together in one tensor: the longest item, plus a
    marginal share of it per extra item."""
    if not item_seconds:
        return 0.0
    return max(item_seconds) * (1.0 + params.gpu_batch_marginal * (len(item_seconds) - 1))


class CostModel:
    """Cost parameters per (backend, GPU profile); an unknown profile falls back to
    `fallback_profile` of the same backend."""

    def __init__(
        self,
        params: Mapping[tuple[Backend, str], CostParams],
        fallback_profile: str = "h100-80gb",
    ) -> None:
        self._params = dict(params)
        self.fallback_profile = fallback_profile
        # Queues repeat the same few run shapes: one prediction per distinct shape is enough.
        self._predictions: dict[tuple[Any, ...], JobEstimate] = {}

    def params_for(self, backend: Backend, gpu_profile: str) -> CostParams:
        found = self._params.get((backend, gpu_profile))
        if found is not None:
            return found
        fallback = self._params.get((backend, self.fallback_profile))
        if fallback is None:
            raise KeyError(f"no cost parameters for {backend.value} on {gpu_profile}")
        return fallback

    def with_params(self, backend: Backend, gpu_profile: str, params: CostParams) -> CostModel:
        """A copy with one (backend, profile) replaced, e.g. by calibrated parameters."""
        merged = dict(self._params)
        merged[(backend, gpu_profile)] = params
        return CostModel(merged, self.fallback_profile)

    @property
    def entries(self) -> Mapping[tuple[Backend, str], CostParams]:
        return dict(self._params)

    def predict(
        self,
        backend: Backend,
        gpu_profile: str,
        runs: Sequence[QueuedRun],
        gpu_batch_size: int = 1,
        controls: ControlSet | None = None,
    ) -> JobEstimate:
        """GPU seconds of ONE process running `runs` in this order, `gpu_batch_size` items per
        sampling call. The process loads `controls` (default: the union of the runs')."""
        loaded: ControlSet = (
            controls if controls is not None else frozenset().union(*(r.controls for r in runs))
        )
        size = max(1, gpu_batch_size)
        key = (backend, gpu_profile, size, loaded, tuple(_shape(run) for run in runs))
        cached = self._predictions.get(key)
        if cached is None:
            cached = self._predictions[key] = self._predict(
                backend, gpu_profile, runs, size, loaded
            )
        return cached

    def _predict(
        self,
        backend: Backend,
        gpu_profile: str,
        runs: Sequence[QueuedRun],
        size: int,
        loaded: ControlSet,
    ) -> JobEstimate:
        params = self.params_for(backend, gpu_profile)
        sampling = 0.0
        for start in range(0, len(runs), size):
            chunk = runs[start : start + size]
            items = [run_sampling_seconds(params, backend, run, loaded) for run in chunk]
            sampling += gpu_batch_seconds(params, items)
        compute = sampling + params.run_overhead_seconds * len(runs)
        return JobEstimate(load_seconds(params, backend, loaded), compute)


def _shape(run: QueuedRun) -> tuple[Any, ...]:
    """What a run's predicted seconds depend on."""
    return (run.video.frames, run.params.steps, run.params.distilled, run.controls)
