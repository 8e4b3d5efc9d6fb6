"""The shapes of work that cross layers: what the planner plans, what a backend renders.

Plain frozen dataclasses with no I/O: the store builds them from rows, the planner and backends
consume them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cosmos_workflow.domain.controls import Control, ControlSet
from cosmos_workflow.domain.params import Backend, ExecutionParams, JobKind


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What probing a video file found."""

    frames: int
    fps: float
    width: int
    height: int

    @property
    def duration_seconds(self) -> float:
        return self.frames / self.fps if self.fps else 0.0


@dataclass(frozen=True, slots=True)
class QueuedRun:
    """One queued run as the planner sees it."""

    run_id: str
    job_id: str
    priority: int
    queue_index: int  # index of its job in execution order; 0 runs next
    weights: Mapping[Control, float]
    params: ExecutionParams
    negative_prompt: str | None  # None: the backend's own default negative prompt
    video: VideoInfo
    kind: JobKind = JobKind.INFERENCE
    job_gpu_batch_size: int = 1  # the --batch_size its current job would run with

    @property
    def controls(self) -> ControlSet:
        return frozenset(self.weights)

    @property
    def backend(self) -> Backend:
        return self.params.backend


@dataclass(frozen=True, slots=True)
class RunWork:
    """One run of a job, with everything a backend needs to render it."""

    run_id: str
    prompt: str
    negative_prompt: str | None  # None: the backend's own default negative prompt
    weights: Mapping[Control, float]
    params: ExecutionParams
    video_path: Path  # the RGB input video on this machine (upscale: the run being upscaled)
    video: VideoInfo
    control_paths: Mapping[Control, Path] = field(default_factory=dict)  # precomputed controls

    @property
    def controls(self) -> ControlSet:
        return frozenset(self.weights)


@dataclass(frozen=True, slots=True)
class JobWork:
    """One job: one model process holding one or more runs."""

    job_id: str
    kind: JobKind
    backend: Backend
    runs: tuple[RunWork, ...]
    gpu_batch_size: int = 1  # Transfer1 --batch_size; 1 means items run one after another


@dataclass(frozen=True, slots=True)
class HostTarget:
    """What a backend needs to know about the machine it renders for."""

    gpus: int = 1
    gpu_memory_gb: float = 80.0
    gpu_profile: str = "h100-80gb"
    code_dir: str = "."  # checkout of NVIDIA's repository on the host
    checkpoint_dir: str = "checkpoints"
    disable_guardrails: bool = False  # Transfer2.5 only; Transfer1 cannot disable them
    # torchrun's rendezvous port; None keeps torchrun's default (29500). Each slot of a
    # multi-slot host has its own, or two jobs launched at once on one machine collide.
    master_port: int | None = None
