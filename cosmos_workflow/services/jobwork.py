"""Turn a claimed job's rows into the JobWork a backend renders."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.errors import NotFound
from cosmos_workflow.domain.params import (
    FPS_RANGE,
    Backend,
    ExecutionParams,
    JobKind,
    params_from_dict,
)
from cosmos_workflow.domain.states import RunStatus
from cosmos_workflow.domain.work import JobWork, RunWork, VideoInfo
from cosmos_workflow.store.models import InputRow, JobRow, PromptRow, RunRow


def load_job_work(
    session: Session, job_id: str, statuses: tuple[RunStatus, ...] = (RunStatus.RUNNING,)
) -> JobWork:
    """The job with its runs in these states (a claimed job's runs are running)."""
    job = session.get(JobRow, job_id)
    if job is None:
        raise NotFound(f"no job with id {job_id!r}; see `cosmos queue list --all`")
    rows = session.scalars(
        select(RunRow)
        .where(RunRow.job_id == job_id, RunRow.status.in_([s.value for s in statuses]))
        .order_by(RunRow.batch_index)
    ).all()
    runs = tuple(_run_work(session, row) for row in rows)
    upscale_weight = float(rows[0].params.get("upscale_weight", 0.5)) if rows else 0.5
    return JobWork(
        job_id=job.id,
        kind=JobKind(job.kind),
        backend=Backend(job.backend),
        runs=runs,
        gpu_batch_size=job.gpu_batch_size,
        upscale_weight=upscale_weight,
    )


def _run_work(session: Session, run: RunRow) -> RunWork:
    prompt = session.get(PromptRow, run.prompt_id)
    assert prompt is not None
    source = session.get(InputRow, prompt.input_id)
    assert source is not None
    video = VideoInfo(
        frames=source.frames, fps=source.fps, width=source.width, height=source.height
    )
    video_path = Path(source.video_path)
    params = params_from_dict(run.params)
    if run.kind == JobKind.UPSCALE.value and run.parent_run_id:
        parent = session.get(RunRow, run.parent_run_id)
        if parent is None or not parent.output_path:
            raise NotFound(f"run {run.parent_run_id} has no output to upscale")
        video_path = Path(parent.output_path)
        # Transfer1 writes the upscaled frames at --fps: it must be the rate the source video
        # plays at, or the 4K file runs at another speed.
        fps = _output_fps(session, parent, video)
        params = dataclasses.replace(params, fps=fps)
        video = dataclasses.replace(video, fps=float(fps))
    return RunWork(
        run_id=run.id,
        prompt=prompt.text,
        negative_prompt=prompt.negative or None,
        weights={Control(k): float(v) for k, v in run.weights.items()},
        params=params,
        video_path=video_path,
        video=video,
        control_paths={Control(k): Path(v) for k, v in source.controls.items()},
    )


def _output_fps(session: Session, run: RunRow, source: VideoInfo) -> int:
    """The frame rate a finished run's video plays at: an upscale keeps its source's, Transfer1
    writes at its --fps, Transfer2.5 at the input video's (rounded: --fps is an integer)."""
    if run.kind == JobKind.UPSCALE.value and run.parent_run_id:
        parent = session.get(RunRow, run.parent_run_id)
        if parent is not None:
            return _output_fps(session, parent, source)
    params: ExecutionParams = params_from_dict(run.params)
    if params.backend is Backend.TRANSFER1:
        return params.fps
    low, high = FPS_RANGE
    return min(high, max(low, round(source.fps)))
