"""What services return: pydantic models the CLI prints, the API serialises and the UI shows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from cosmos_workflow.domain.guardrails import Guardrails
from cosmos_workflow.store.models import Base, InputRow, JobRow, PromptRow, RunRow

if TYPE_CHECKING:
    from cosmos_workflow.services.eta import Eta


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
        duration = round(row.frames / row.fps, 3) if row.fps else 0.0
        return cls.model_validate(
            {**row_columns(row), "duration_seconds": duration, "controls": dict(row.controls)}
        )


class PromptView(BaseModel):
    id: str
    input_id: str
    name: str | None
    text: str
    negative: str | None  # None: the backend's default negative prompt
    parent_prompt_id: str | None
    created_at: float

    @classmethod
    def of(cls, row: PromptRow) -> PromptView:
        return cls.model_validate({**row_columns(row), "negative": row.negative or None})


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
    picked: bool = False
    seed: int | None = None  # from params, for lists that show what each run is
    sweep_id: str | None = None
    sweep_name: str | None = None
    prompt_text: str | None = None  # filled where a list read the prompts (services.runs)
    # The guardrail posture of the run's latest attempt (domain.guardrails): what its host asked
    # for and what the model applied; None for a run that never started (or ran before it was
    # recorded).
    guardrails_asked: str | None = None
    guardrails_got: str | None = None

    @classmethod
    def of(cls, row: RunRow, labels: RunLabels | None = None) -> RunView:
        seed = dict(row.params or {}).get("seed")
        extra: dict[str, Any] = {"seed": seed if isinstance(seed, int) else None}
        if labels is not None:
            extra["prompt_text"] = labels.prompts.get(row.prompt_id)
            extra["sweep_name"] = labels.sweeps.get(row.sweep_id) if row.sweep_id else None
        return cls.model_validate({**row_columns(row), "picked": bool(row.picked), **extra})

    def guardrails_text(self) -> str:
        started = self.started_at is not None
        return guardrails_text(self.guardrails_asked, self.guardrails_got, started=started)


@dataclass(frozen=True)
class RunLabels:
    """What lists show beside each run and read in one statement per page: prompt texts by
    prompt id, sweep names by sweep id."""

    prompts: Mapping[str, str] = field(default_factory=dict)
    sweeps: Mapping[str, str] = field(default_factory=dict)


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
    # The fleet simulation's ETA (services.eta), running and queued jobs only: the slot it runs
    # or is predicted to run on, and when it starts and finishes (Unix seconds).
    eta_slot: str | None = None
    eta_start_at: float | None = None
    eta_finish_at: float | None = None
    # Each control's lowest and highest weight over the job's runs ([low, high]): a batch
    # holds runs of many weights, and its first run's say nothing of the others.
    weight_ranges: dict[str, list[float]] = {}
    sweep_ids: list[str] = []

    @classmethod
    def of(
        cls,
        row: JobRow,
        runs: list[RunRow],
        position: int | None = None,
        eta: Eta | None = None,
        labels: RunLabels | None = None,
    ) -> JobView:
        ordered = sorted(runs, key=lambda r: r.batch_index)
        timing = {}
        if eta is not None:
            timing = {
                "eta_slot": eta.slot,
                "eta_start_at": round(eta.start_at, 3),
                "eta_finish_at": None if eta.finish_at is None else round(eta.finish_at, 3),
            }
        return cls.model_validate(
            {
                **row_columns(row),
                "position": position,
                "runs": [RunView.of(r, labels) for r in ordered],
                "weight_ranges": weight_ranges(ordered),
                "sweep_ids": sorted({r.sweep_id for r in ordered if r.sweep_id}),
                **timing,
            }
        )


def weight_ranges(runs: list[RunRow]) -> dict[str, list[float]]:
    """Each control's [lowest, highest] weight over these runs (a run without it counts 0 when
    others have it: it renders that control at weight 0)."""
    controls = sorted({c for r in runs for c in (r.weights or {})})
    return {
        c: [
            min(float(r.weights.get(c, 0.0)) for r in runs),
            max(float(r.weights.get(c, 0.0)) for r in runs),
        ]
        for c in controls
    }


class JobList(BaseModel):
    jobs: list[JobView]
    total: int
    # The GPU profile jobs' predicted seconds are for: the fleet's slowest (services.estimates);
    # the ETA scales them to each slot's profile.
    predicted_for: str | None = None


class LiveJob(BaseModel):
    """A running job and its latest progress event's data (None before the first one)."""

    job: JobView
    progress: dict[str, Any] | None


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


# Why a model's guardrails differ from what was asked, by (asked, got).
_GUARDRAIL_REASONS: dict[tuple[str, str], str] = {
    (Guardrails.ON, Guardrails.NOT_APPLIED): "Cosmos 3 transfer never runs them",
    (Guardrails.OFF, Guardrails.NOT_APPLIED): "Cosmos 3 transfer never runs them",
    (Guardrails.OFF, Guardrails.ON): "Transfer1 cannot turn them off",
}


def guardrails_text(asked: str | None, got: str | None, *, started: bool = False) -> str:
    """A run's guardrail posture in words: `on`, or `asked on, got not applied by the model
    (Cosmos 3 transfer never runs them)` where the model did not do what was asked."""
    if asked is None or got is None:
        why = "it ran before postures were recorded" if started else "the run has not started"
        return f"not recorded ({why})"
    if asked == got:
        return got
    reason = _GUARDRAIL_REASONS.get((asked, got))
    return f"asked {asked}, got {got}" + (f" ({reason})" if reason else "")


def row_columns(row: Base) -> dict[str, Any]:
    """A row's column values by name: views take the fields they declare from it."""
    return {column.key: getattr(row, column.key) for column in row.__table__.columns}
