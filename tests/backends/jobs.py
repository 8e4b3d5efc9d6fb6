"""Job shapes shared by the backend and simulator tests."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.params import Backend, ExecutionParams, JobKind, default_params
from cosmos_workflow.domain.work import JobWork, RunWork, VideoInfo

VIDEO = VideoInfo(frames=24, fps=24.0, width=64, height=48)


def run_work(
    run_id: str,
    weights: Mapping[Control, float],
    video: Path,
    *,
    backend: Backend = Backend.TRANSFER1,
    params: ExecutionParams | None = None,
    control_paths: Mapping[Control, Path] | None = None,
    prompt: str = "a robot arm picks up a red cube",
) -> RunWork:
    return RunWork(
        run_id=run_id,
        prompt=prompt,
        negative_prompt="blurry, low quality",
        weights=dict(weights),
        params=params or default_params(backend),
        video_path=video,
        video=VIDEO,
        control_paths=dict(control_paths or {}),
    )


def job_work(
    runs: list[RunWork],
    *,
    backend: Backend = Backend.TRANSFER1,
    kind: JobKind = JobKind.INFERENCE,
    gpu_batch_size: int = 1,
) -> JobWork:
    return JobWork(
        job_id="job1", kind=kind, backend=backend, runs=tuple(runs), gpu_batch_size=gpu_batch_size
    )
