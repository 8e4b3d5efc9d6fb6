"""Turn a claimed job's rows into the JobWork a backend renders.

Everything is read in a few statements whatever the job's size: its runs, their prompts with
their inputs, and (for upscales) the runs they upscale, one statement per level of the chain."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

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
from cosmos_workflow.store.jobs import find_job
from cosmos_workflow.store.models import RunRow
from cosmos_workflow.store.runs import RunSource, run_sources, runs_by_id, runs_in_states
from cosmos_workflow.store.session import Session


def load_job_work(
    session: Session, job_id: str, statuses: tuple[RunStatus, ...] = (RunStatus.RUNNING,)
) -> JobWork:
    """The job with its runs in these states (a claimed job's runs are running)."""
    job = find_job(session, job_id)
    if job is None:
        raise NotFound(f"no job with id {job_id!r}; see `cosmos queue list --all`")
    rows = runs_in_states(session, job_id, statuses)
    sources = run_sources(session, {row.prompt_id for row in rows})
    upscaled = _upscaled_runs(session, rows)
    return JobWork(
        job_id=job.id,
        kind=JobKind(job.kind),
        backend=Backend(job.backend),
        runs=tuple(_run_work(row, sources[row.prompt_id], upscaled) for row in rows),
        gpu_batch_size=job.gpu_batch_size,
    )


def _upscaled_runs(session: Session, rows: Sequence[RunRow]) -> dict[str, RunRow]:
    """The runs these upscale runs upscale, and theirs in turn (an upscale of an upscale), by
    id: one statement per level."""
    found: dict[str, RunRow] = {}
    wanted = {_upscales(row) for row in rows} - {None}
    while wanted:
        level = runs_by_id(session, [run_id for run_id in wanted if run_id])
        found.update(level)
        wanted = {_upscales(row) for row in level.values()} - {None} - set(found)
    return found


def _upscales(run: RunRow) -> str | None:
    """The run this one upscales, if it is an upscale."""
    return run.parent_run_id if run.kind == JobKind.UPSCALE.value else None


def _run_work(run: RunRow, source: RunSource, upscaled: dict[str, RunRow]) -> RunWork:
    row = source.input
    video = VideoInfo(frames=row.frames, fps=row.fps, width=row.width, height=row.height)
    video_path = Path(row.video_path)
    params = params_from_dict(run.params)
    parent_id = _upscales(run)
    if parent_id:
        parent = upscaled.get(parent_id)
        if parent is None or not parent.output_path:
            raise NotFound(f"run {parent_id} has no output to upscale")
        video_path = Path(parent.output_path)
        # Transfer1 writes the upscaled frames at --fps: it must be the rate the source video
        # plays at, or the 4K file runs at another speed.
        fps = _output_fps(parent, video, upscaled)
        params = dataclasses.replace(params, fps=fps)
        video = dataclasses.replace(video, fps=float(fps))
    return RunWork(
        run_id=run.id,
        prompt=source.prompt.text,
        negative_prompt=source.prompt.negative or None,
        weights={Control(k): float(v) for k, v in run.weights.items()},
        params=params,
        video_path=video_path,
        video=video,
        control_paths={Control(k): Path(v) for k, v in row.controls.items()},
    )


def _output_fps(run: RunRow, source: VideoInfo, upscaled: dict[str, RunRow]) -> int:
    """The frame rate a finished run's video plays at: an upscale keeps its source's, Transfer1
    writes at its --fps, Transfer2.5 and Cosmos 3 at the input video's (rounded: --fps is an
    integer)."""
    parent_id = _upscales(run)
    if parent_id and parent_id in upscaled:
        return _output_fps(upscaled[parent_id], source, upscaled)
    params: ExecutionParams = params_from_dict(run.params)
    if params.backend is Backend.TRANSFER1 and params.fps is not None:
        return params.fps
    low, high = FPS_RANGE
    return min(high, max(low, round(source.fps)))
