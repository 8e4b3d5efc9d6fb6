"""What services return: pydantic models the CLI prints, the API serialises and the UI shows."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from cosmos_workflow.store.models import InputRow, JobRow, PromptRow, RunRow


class InputView(BaseModel):
    id: str
    name: str
    folder: str
    video_path: str
    frames: int
    fps: float
    width: int
    height: int
    duration_seconds: float
    controls: dict[str, str]
    thumbnail_path: str | None
    created_at: float

    @classmethod
    def of(cls, row: InputRow) -> InputView:
        return cls(
            id=row.id,
            name=row.name,
            folder=row.folder,
            video_path=row.video_path,
            frames=row.frames,
            fps=row.fps,
            width=row.width,
            height=row.height,
            duration_seconds=round(row.frames / row.fps, 3) if row.fps else 0.0,
            controls=dict(row.controls),
            thumbnail_path=row.thumbnail_path,
            created_at=row.created_at,
        )


class PromptView(BaseModel):
    id: str
    input_id: str
    name: str | None
    text: str
    negative: str
    parent_prompt_id: str | None
    created_at: float

    @classmethod
    def of(cls, row: PromptRow) -> PromptView:
        return cls(
            id=row.id,
            input_id=row.input_id,
            name=row.name,
            text=row.text,
            negative=row.negative,
            parent_prompt_id=row.parent_prompt_id,
            created_at=row.created_at,
        )


class RunView(BaseModel):
    id: str
    job_id: str
    origin_job_id: str
    prompt_id: str
    kind: str
    status: str
    weights: dict[str, float]
    params: dict[str, Any]
    output_path: str | None
    thumbnail_path: str | None
    log_path: str | None
    attempts: int
    error: str | None
    failure_class: str | None
    parent_run_id: str | None
    result_prompt_id: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    compute_seconds: float | None
    predicted_seconds: float | None
    rating: int | None

    @classmethod
    def of(cls, row: RunRow) -> RunView:
        return cls(
            id=row.id,
            job_id=row.job_id,
            origin_job_id=row.origin_job_id,
            prompt_id=row.prompt_id,
            kind=row.kind,
            status=row.status,
            weights=dict(row.weights),
            params=dict(row.params),
            output_path=row.output_path,
            thumbnail_path=row.thumbnail_path,
            log_path=row.log_path,
            attempts=row.attempts,
            error=row.error,
            failure_class=row.failure_class,
            parent_run_id=row.parent_run_id,
            result_prompt_id=row.result_prompt_id,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            compute_seconds=row.compute_seconds,
            predicted_seconds=row.predicted_seconds,
            rating=row.rating,
        )


class JobView(BaseModel):
    id: str
    kind: str
    status: str
    position: int | None  # 1-based place in execution order while queued
    priority: int
    backend: str
    gpu_batch_size: int
    attempts: int
    max_attempts: int
    error: str | None
    failure_class: str | None
    merged_into_job_id: str | None
    retry_of_job_id: str | None
    plan_id: str | None
    idempotency_key: str | None
    predicted_seconds: float | None
    worker_id: str | None
    host_name: str | None
    cancel_requested: bool
    created_at: float
    started_at: float | None
    finished_at: float | None
    runs: list[RunView]

    @classmethod
    def of(cls, row: JobRow, runs: list[RunRow], position: int | None = None) -> JobView:
        return cls(
            id=row.id,
            kind=row.kind,
            status=row.status,
            position=position,
            priority=row.priority,
            backend=row.backend,
            gpu_batch_size=row.gpu_batch_size,
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            error=row.error,
            failure_class=row.failure_class,
            merged_into_job_id=row.merged_into_job_id,
            retry_of_job_id=row.retry_of_job_id,
            plan_id=row.plan_id,
            idempotency_key=row.idempotency_key,
            predicted_seconds=row.predicted_seconds,
            worker_id=row.worker_id,
            host_name=row.host_name,
            cancel_requested=row.cancel_requested,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            runs=[RunView.of(run) for run in sorted(runs, key=lambda r: r.batch_index)],
        )


class JobList(BaseModel):
    jobs: list[JobView]
    total: int


class QueueStatus(BaseModel):
    paused: bool
    queued: int
    running: int
    succeeded: int
    failed: int
    cancelled: int
    merged: int
    runs_queued: int
    runs_running: int


class EnqueueResult(BaseModel):
    job_id: str
    run_ids: list[str]
    created: bool  # False when an idempotency key returned an existing job


class ImportResult(BaseModel):
    job_ids: list[str]
    runs: int
