"""Candidate model processes and the aggregate costs the planner searches with."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from cosmos_workflow.domain.controls import ControlSet, control_set_key
from cosmos_workflow.domain.params import Backend
from cosmos_workflow.domain.verdicts import (
    BatchingKind,
    BatchVerdict,
    VerdictKey,
    batch_verdict,
    identical_by_construction,
)
from cosmos_workflow.domain.work import QueuedRun
from cosmos_workflow.planner import compat, memory
from cosmos_workflow.planner.cost import (
    CostModel,
    CostParams,
    JobEstimate,
    evaluated_branches,
    load_seconds,
    run_sampling_seconds,
    sampling_units,
    shape_of,
    shape_seconds,
    variant_factor,
)


class PlanMode(StrEnum):
    STRICT = "strict"
    MIXED = "mixed"
    AUTO = "auto"


@dataclass(frozen=True, slots=True)
class Settings:
    """What every planning step needs besides the runs."""

    cost: CostModel
    gpu_profile: str
    gpu_memory_gb: float
    max_batch_size: int | None = None
    max_gpu_batch_size: int | None = None
    gpu_batching: bool = True
    learned_limits: Mapping[tuple[str, str], int] | None = None
    # The output rule: when set, every process formed must keep each run's output (verdict
    # identical or verified); GPU batching and mixing then happen only where `verified` says so.
    keep_outputs: bool = False
    verified: frozenset[VerdictKey] = frozenset()

    def params(self, backend: Backend) -> CostParams:
        return self.cost.params_for(backend, self.gpu_profile)

    def may_gpu_batch(self, backend: Backend, distilled: bool, controls: ControlSet) -> bool:
        """Whether runs of this one control set may be denoised together (`--batch_size` > 1)."""
        if not self.gpu_batching:
            return False
        return not self.keep_outputs or self._verified(
            backend, distilled, BatchingKind.GPU_BATCH, controls
        )

    def may_mix(self, backend: Backend, distilled: bool, union: ControlSet) -> bool:
        """Whether runs of different control sets may share a process loading `union`."""
        if identical_by_construction(backend):
            return True
        return not self.keep_outputs or self._verified(
            backend, distilled, BatchingKind.MIXED, union
        )

    def _verified(
        self, backend: Backend, distilled: bool, kind: BatchingKind, controls: ControlSet
    ) -> bool:
        return VerdictKey.of(backend, distilled, kind, controls, self.gpu_profile) in self.verified


@dataclass(frozen=True, slots=True)
class Process:
    """A candidate model process with its prediction."""

    runs: tuple[QueuedRun, ...]
    controls: ControlSet
    gpu_batch_size: int
    estimate: JobEstimate
    unchanged: bool = False

    @property
    def backend(self) -> Backend:
        return self.runs[0].backend

    @property
    def distilled(self) -> bool:
        # Equal within a process: it is part of `compat.process_key`.
        return self.runs[0].params.distilled

    @property
    def control_sets(self) -> frozenset[ControlSet]:
        return frozenset(run.controls for run in self.runs)

    def verdict(self, settings: Settings) -> BatchVerdict:
        """Whether this process keeps every run's output, on the settings' GPU profile."""
        return batch_verdict(
            self.backend,
            self.distilled,
            self.control_sets,
            self.controls,
            self.gpu_batch_size,
            settings.gpu_profile,
            settings.verified,
        )


def make_process(
    runs: Sequence[QueuedRun],
    settings: Settings,
    *,
    gpu_batch_size: int | None = None,
    unchanged: bool = False,
) -> Process:
    controls = compat.control_union(runs)
    size = gpu_batch_size if gpu_batch_size is not None else _gpu_batch_size(runs, settings)
    backend = runs[0].backend
    estimate = settings.cost.predict(backend, settings.gpu_profile, runs, size, controls)
    return Process(tuple(runs), controls, size, estimate, unchanged)


def _gpu_batch_size(runs: Sequence[QueuedRun], settings: Settings) -> int:
    if len(runs) < 2 or not compat.valid_gpu_batch(runs):
        return 1
    backend = runs[0].backend
    controls = runs[0].controls
    if not settings.may_gpu_batch(backend, runs[0].params.distilled, controls):
        return 1
    limits = settings.learned_limits or {}
    caps = [len(runs)] + ([settings.max_gpu_batch_size] if settings.max_gpu_batch_size else [])
    return memory.max_gpu_batch_size(
        backend,
        controls,
        runs[0].video.frames,
        settings.gpu_memory_gb,
        cap=min(caps),
        learned_limit=limits.get((backend.value, control_set_key(controls))),
    )


@dataclass(frozen=True, slots=True)
class Stats:
    """What the search needs of a set of runs, without touching each run again."""

    runs: int
    units: float  # sampling units x variant factor (Transfer1: times the union multiplier)
    own_seconds: float  # sampling seconds, each run with its own controls (Transfer2.5, Cosmos 3)
    controls: ControlSet
    control_sets: frozenset[ControlSet]
    max_frames: int
    checkpoint: str | None  # Cosmos 3: equal within a group (`compat.process_key`)

    @staticmethod
    def of(runs: Sequence[QueuedRun], params: CostParams) -> Stats:
        units = 0.0
        own = 0.0
        for run in runs:
            shape = shape_of(run.params, run.video.frames)
            units += variant_factor(params, shape) * sampling_units(shape)
            branches = evaluated_branches(run.backend, run.controls, run.controls)
            own += shape_seconds(params, shape, branches)
        return Stats(
            runs=len(runs),
            units=units,
            own_seconds=own,
            controls=compat.control_union(runs),
            control_sets=frozenset(run.controls for run in runs),
            max_frames=max(run.video.frames for run in runs),
            checkpoint=runs[0].params.checkpoint,
        )

    def merged(self, other: Stats) -> Stats:
        return Stats(
            runs=self.runs + other.runs,
            units=self.units + other.units,
            own_seconds=self.own_seconds + other.own_seconds,
            controls=self.controls | other.controls,
            control_sets=self.control_sets | other.control_sets,
            max_frames=max(self.max_frames, other.max_frames),
            checkpoint=self.checkpoint,
        )

    def seconds(self, backend: Backend, params: CostParams, max_batch_size: int | None) -> float:
        """Predicted seconds of these runs as processes of at most `max_batch_size` runs, each
        loading the whole union (an upper bound: a chunk may need fewer branches)."""
        processes = math.ceil(self.runs / max_batch_size) if max_batch_size else 1
        load = processes * load_seconds(params, backend, self.controls, self.checkpoint)
        if backend is Backend.TRANSFER1:
            # Every pass evaluates every branch of the union (`evaluated_branches`).
            branches = evaluated_branches(backend, self.controls, self.controls)
            sampling = params.pass_seconds * self.units * (1 + params.branch_fraction * branches)
        else:
            sampling = self.own_seconds
        return load + sampling + params.run_overhead_seconds * self.runs


def run_seconds(params: CostParams, run: QueuedRun, controls: ControlSet) -> float:
    """Compute seconds of one run alone in a process loading `controls`."""
    return run_sampling_seconds(params, run.backend, run, controls) + params.run_overhead_seconds
