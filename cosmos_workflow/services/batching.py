"""Smart batching as a user drives it: analyse the queue into a stored plan, apply it atomically
(refusing a stale one), undo a batch, and batch continuously at claim time when enabled.

A plan only ever moves queued runs between jobs: new batch jobs are created, runs move into them,
and emptied source jobs become `merged` with a pointer to their batch, so nothing is lost and
undo can give every run back to the job it was queued in (`runs.origin_job_id`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, model_validator
from sqlalchemy import Text, cast, delete, func, select, update
from sqlalchemy.orm import Session

from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.errors import Conflict, InvalidInput, NotFound
from cosmos_workflow.domain.ids import new_id
from cosmos_workflow.domain.params import ExecutionParams, JobKind, params_from_dict
from cosmos_workflow.domain.states import UNFINISHED_RUNS, JobStatus, RunStatus
from cosmos_workflow.domain.verdicts import OutputVerdict
from cosmos_workflow.domain.work import QueuedRun, VideoInfo
from cosmos_workflow.planner.fingerprint import queue_fingerprint
from cosmos_workflow.planner.head import plan_head_batch
from cosmos_workflow.planner.plan import Plan, PlanMode, PlannedBatch, plan_batches
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.estimates import planning_target
from cosmos_workflow.store import queue as store
from cosmos_workflow.store.models import InputRow, JobRow, PlanRow, PromptRow, RunRow
from cosmos_workflow.store.timings import learned_limits

log = logging.getLogger(__name__)


LEGACY_REASON = "planned before batches carried output verdicts; run `cosmos batch analyze` again"


class BatchView(BaseModel):
    run_ids: list[str]
    source_job_ids: list[str]
    controls: list[str]
    backend: str
    priority: int
    gpu_batch_size: int
    predicted_seconds: float
    predicted_load_seconds: float
    predicted_memory_gb: float
    verdict: OutputVerdict  # identical, verified or may_differ
    verdict_reason: str  # why outputs may differ, or what verified them; empty when identical
    unchanged: bool  # the batch is exactly one job as it stands: applying leaves it alone

    @model_validator(mode="before")
    @classmethod
    def _planned_before_verdicts(cls, data: Any) -> Any:
        """A plan stored before batches carried verdicts still shows; it cannot be applied."""
        if isinstance(data, dict) and "verdict" not in data:
            data = {k: v for k, v in data.items() if k != "changes_outputs"}
            data["verdict"] = OutputVerdict.MAY_DIFFER
            data["verdict_reason"] = LEGACY_REASON
        return data


class PlanView(BaseModel):
    plan_id: str
    mode: str
    allow_output_changes: bool = False  # auto could form may_differ batches
    fingerprint: str
    created_at: float
    applied_at: float | None
    gpu_profile: str
    runs: int
    batches: list[BatchView]
    predicted_seconds_before: float
    predicted_seconds_after: float
    loads_avoided: int
    speedup: float
    calibrated: bool  # predictions use parameters fitted to measured timings


class ApplyResult(BaseModel):
    plan_id: str
    created_job_ids: list[str]
    merged_job_ids: list[str]


class UndoResult(BaseModel):
    batch_job_id: str
    restored_job_ids: list[str]


def load_queued_runs(session: Session, limit: int | None = None) -> list[QueuedRun]:
    """Every queued run of a queued inference job (the first `limit` ones), in execution order,
    as the planner sees it."""
    query = (
        select(
            RunRow.id,
            RunRow.job_id,
            # Raw JSON text: a queue shares a few weight and parameter sets among many runs,
            # so each distinct text is decoded once (see below).
            cast(RunRow.weights, Text).label("weights"),
            cast(RunRow.params, Text).label("params"),
            JobRow.priority,
            JobRow.gpu_batch_size,
            PromptRow.negative,
            InputRow.frames,
            InputRow.fps,
            InputRow.width,
            InputRow.height,
        )
        .join(JobRow, RunRow.job_id == JobRow.id)
        .join(PromptRow, RunRow.prompt_id == PromptRow.id)
        .join(InputRow, PromptRow.input_id == InputRow.id)
        .where(
            JobRow.status == JobStatus.QUEUED.value,
            JobRow.kind == JobKind.INFERENCE.value,
            RunRow.status == RunStatus.QUEUED.value,
        )
        .order_by(*store.QUEUE_ORDER, RunRow.batch_index, RunRow.id)
    )
    rows = session.execute(query if limit is None else query.limit(limit)).all()
    params_cache: dict[str, ExecutionParams] = {}
    weights_cache: dict[str, dict[Control, float]] = {}
    job_index: dict[str, int] = {}
    runs = []
    for row in rows:
        params = params_cache.get(row.params)
        if params is None:
            params = params_cache[row.params] = params_from_dict(json.loads(row.params))
        weights = weights_cache.get(row.weights)
        if weights is None:
            decoded = json.loads(row.weights)
            weights = weights_cache[row.weights] = {
                Control(k): float(v) for k, v in decoded.items()
            }
        runs.append(
            QueuedRun(
                run_id=row.id,
                job_id=row.job_id,
                priority=row.priority,
                queue_index=job_index.setdefault(row.job_id, len(job_index)),
                weights=weights,
                params=params,
                negative_prompt=row.negative,
                video=VideoInfo(frames=row.frames, fps=row.fps, width=row.width, height=row.height),
                job_gpu_batch_size=row.gpu_batch_size,
            )
        )
    return runs


def analyze(
    ctx: Context,
    mode: str | None = None,
    max_batch_size: int | None = None,
    allow_output_changes: bool | None = None,
) -> PlanView:
    """Plan the queued runs and store the plan, so any process can show or apply it.
    `allow_output_changes` (default: `planner.allow_output_changes`) lets auto form batches
    whose outputs may differ from each run alone."""
    chosen = _mode(mode or ctx.settings.planner.mode)
    if max_batch_size is not None and not 1 <= max_batch_size <= 10_000:
        raise InvalidInput("max batch size must be between 1 and 10000", field="max_batch_size")
    allow = _allow(ctx, allow_output_changes)
    target = planning_target(ctx)
    with ctx.db.read() as session:
        runs = load_queued_runs(session)
        limits = learned_limits(session, target.gpu_profile)
        cost, calibrated = target.cost_model(session)
        verified = target.verified_keys(session)
    planner = ctx.settings.planner
    plan = plan_batches(
        runs,
        mode=chosen,
        cost=cost,
        gpu_profile=target.gpu_profile,
        gpu_memory_gb=target.gpu_memory_gb,
        max_batch_size=max_batch_size or planner.max_batch_size,
        max_gpu_batch_size=planner.max_gpu_batch_size,
        gpu_batching=planner.gpu_batching,
        strict_fifo=planner.strict_fifo,
        allow_output_changes=allow,
        learned_limits=limits,
        verified=verified,
    )
    view = _plan_view(new_id("plan"), plan, runs, target.gpu_profile, calibrated)
    with ctx.db.write() as session:
        session.add(
            PlanRow(
                id=view.plan_id,
                created_at=view.created_at,
                mode=view.mode,
                fingerprint=view.fingerprint,
                body=view.model_dump(mode="json"),
            )
        )
        store.record_event(
            session, "plan.created", plan_id=view.plan_id, mode=view.mode, speedup=view.speedup
        )
    log.info(
        "plan=%s mode=%s allow_output_changes=%s runs=%d batches=%d speedup=%.3f",
        view.plan_id,
        view.mode,
        view.allow_output_changes,
        view.runs,
        len(view.batches),
        view.speedup,
    )
    return view


def _allow(ctx: Context, value: object) -> bool:
    """The call's choice, else the configured one; only a real boolean is accepted."""
    if value is None:
        return ctx.settings.planner.allow_output_changes
    if not isinstance(value, bool):
        raise InvalidInput(
            f"allow_output_changes must be true or false, not {value!r}",
            field="allow_output_changes",
        )
    return value


def _mode(value: str) -> PlanMode:
    try:
        return PlanMode(value.strip().lower())
    except ValueError:
        raise InvalidInput(
            f"unknown mode {value!r}; use strict, mixed or auto", field="mode"
        ) from None


def _plan_view(
    plan_id: str, plan: Plan, runs: Sequence[QueuedRun], gpu_profile: str, calibrated: bool
) -> PlanView:
    jobs: dict[str, set[str]] = {}
    for run in runs:
        jobs.setdefault(run.job_id, set()).add(run.run_id)
    batches = [_batch_view(batch, jobs) for batch in plan.batches]
    return PlanView(
        plan_id=plan_id,
        mode=plan.mode.value,
        allow_output_changes=plan.allow_output_changes,
        fingerprint=plan.fingerprint,
        created_at=store.now(),
        applied_at=None,
        gpu_profile=gpu_profile,
        runs=len(runs),
        batches=batches,
        predicted_seconds_before=round(plan.predicted_seconds_before, 3),
        predicted_seconds_after=round(plan.predicted_seconds_after, 3),
        loads_avoided=plan.loads_avoided,
        speedup=round(plan.speedup, 4),
        calibrated=calibrated,
    )


def _batch_view(batch: PlannedBatch, jobs: dict[str, set[str]]) -> BatchView:
    sources = list(batch.source_job_ids)
    unchanged = len(sources) == 1 and jobs.get(sources[0]) == set(batch.run_ids)
    return BatchView(
        run_ids=list(batch.run_ids),
        source_job_ids=sources,
        controls=sorted(c.value for c in batch.controls),
        backend=batch.backend.value,
        priority=batch.priority,
        gpu_batch_size=batch.gpu_batch_size,
        predicted_seconds=round(batch.predicted_seconds, 3),
        predicted_load_seconds=round(batch.predicted_load_seconds, 3),
        predicted_memory_gb=round(batch.predicted_memory_gb, 2),
        verdict=batch.verdict.verdict,
        verdict_reason=batch.verdict.reason,
        unchanged=unchanged,
    )


def get_plan(ctx: Context, plan_id: str | None = None) -> PlanView:
    """A stored plan (the newest when no id is given)."""
    with ctx.db.read() as session:
        row = _plan_row(session, plan_id)
        return PlanView.model_validate(row.body).model_copy(update={"applied_at": row.applied_at})


def _plan_row(session: Session, plan_id: str | None) -> PlanRow:
    if plan_id:
        row = session.get(PlanRow, plan_id)
    else:
        row = session.scalar(select(PlanRow).order_by(PlanRow.created_at.desc()).limit(1))
    if row is None:
        raise NotFound(
            f"no plan {plan_id!r}" if plan_id else "no plan yet; run `cosmos batch analyze`"
        )
    return row


def apply_plan(ctx: Context, plan_id: str | None = None) -> ApplyResult:
    """Apply a stored plan in one transaction, or refuse it as stale and change nothing."""
    with ctx.db.write() as session:
        row = _plan_row(session, plan_id)
        if row.applied_at is not None:
            raise Conflict(f"plan {row.id} was applied already; run `cosmos batch analyze` again")
        if _planned_before_verdicts(row.body):
            raise Conflict(
                f"plan {row.id} was made before plans carried output verdicts; run "
                "`cosmos batch analyze` again"
            )
        runs = load_queued_runs(session)
        if queue_fingerprint(runs) != row.fingerprint:
            raise Conflict(
                f"plan {row.id} is stale: the queue changed since it was analysed (a job was "
                "added, cancelled, claimed, moved or edited); run `cosmos batch analyze` again"
            )
        view = PlanView.model_validate(row.body)
        created, merged = _apply_batches(session, view.batches, ctx.settings.max_attempts, row.id)
        row.applied_at = store.now()
        store.record_event(session, "plan.applied", plan_id=row.id, created=created, merged=merged)
    log.info("applied plan=%s created=%d merged=%d", row.id, len(created), len(merged))
    return ApplyResult(plan_id=row.id, created_job_ids=created, merged_job_ids=merged)


def _planned_before_verdicts(body: Any) -> bool:
    batches = body.get("batches", []) if isinstance(body, dict) else []
    return any(isinstance(batch, dict) and "verdict" not in batch for batch in batches)


def _apply_batches(
    session: Session, batches: Sequence[BatchView], max_attempts: int, plan_id: str | None
) -> tuple[list[str], list[str]]:
    created: list[str] = []
    sources: dict[str, str] = {}
    for batch in batches:
        if batch.unchanged:
            continue
        batch_id = create_batch_job(session, batch, max_attempts, plan_id)
        created.append(batch_id)
        for job_id in batch.source_job_ids:
            sources.setdefault(job_id, batch_id)
    merged = []
    for job_id, batch_id in sources.items():
        # A job keeps the runs that already ended (after a crash, say) with their outputs; it
        # is merged when no run of it is left to do.
        left = session.scalar(
            select(func.count())
            .select_from(RunRow)
            .where(
                RunRow.job_id == job_id,
                RunRow.status.in_(sorted(s.value for s in UNFINISHED_RUNS)),
            )
        )
        if left:
            continue
        job = session.get(JobRow, job_id)
        assert job is not None
        store.set_job_status(
            session,
            job,
            JobStatus.MERGED,
            reason=f"batched into {batch_id}",
            merged_into_job_id=batch_id,
        )
        merged.append(job_id)
    return created, merged


def create_batch_job(
    session: Session, batch: BatchView, max_attempts: int, plan_id: str | None
) -> str:
    """A new queued job holding the batch's runs, in the queue place of its earliest member."""
    first = session.scalar(
        select(JobRow).where(JobRow.id.in_(batch.source_job_ids)).order_by(*store.QUEUE_ORDER)
    )
    assert first is not None
    stamp = store.now()
    job = JobRow(
        id=new_id("job"),
        kind=JobKind.INFERENCE.value,
        status=JobStatus.QUEUED.value,
        priority=batch.priority,
        position=first.position,
        backend=batch.backend,
        gpu_batch_size=batch.gpu_batch_size,
        created_at=first.created_at,
        updated_at=stamp,
        attempts=0,
        max_attempts=max_attempts,
        cancel_requested=False,
        plan_id=plan_id,
        predicted_seconds=batch.predicted_seconds,
    )
    session.add(job)
    session.flush()
    # Each run's share of the batch's predicted compute, to set beside its measured compute.
    per_run = (batch.predicted_seconds - batch.predicted_load_seconds) / len(batch.run_ids)
    for index, run_id in enumerate(batch.run_ids):
        session.execute(
            update(RunRow)
            .where(RunRow.id == run_id)
            .values(job_id=job.id, batch_index=index, predicted_seconds=round(per_run, 3))
        )
    store.record_event(
        session,
        "batch.created",
        job_id=job.id,
        runs=len(batch.run_ids),
        sources=batch.source_job_ids,
    )
    return job.id


def undo_batch(ctx: Context, batch_job_id: str) -> UndoResult:
    """Give a not-yet-started batch's runs back to the jobs they were queued in."""
    with ctx.db.write() as session:
        batch = session.get(JobRow, batch_job_id)
        if batch is None:
            raise NotFound(f"no job with id {batch_job_id!r}; see `cosmos queue list`")
        if batch.plan_id is None:
            raise Conflict(f"job {batch_job_id} was not made by a plan; there is nothing to undo")
        if batch.status != JobStatus.QUEUED.value:
            raise Conflict(
                f"batch {batch_job_id} is {batch.status}; only a queued batch can be undone"
            )
        runs = session.scalars(select(RunRow).where(RunRow.job_id == batch_job_id)).all()
        restored = sorted({run.origin_job_id for run in runs})
        for run in runs:
            run.job_id = run.origin_job_id
        session.flush()
        for job_id in restored:
            _renumber_runs(session, job_id)
            job = session.get(JobRow, job_id)
            assert job is not None
            if job.status == JobStatus.MERGED.value:
                store.set_job_status(
                    session, job, JobStatus.QUEUED, reason="batch undone", merged_into_job_id=None
                )
        session.execute(
            update(JobRow)
            .where(JobRow.merged_into_job_id == batch_job_id)
            .values(merged_into_job_id=None)
        )
        session.execute(delete(JobRow).where(JobRow.id == batch_job_id))
        store.record_event(session, "batch.undone", job_id=batch_job_id, restored=restored)
    return UndoResult(batch_job_id=batch_job_id, restored_job_ids=restored)


def _renumber_runs(session: Session, job_id: str) -> None:
    runs = session.scalars(select(RunRow).where(RunRow.job_id == job_id).order_by(RunRow.id)).all()
    for index, run in enumerate(runs):
        run.batch_index = index


def batch_queue_head(ctx: Context, host_name: str | None = None) -> str | None:
    """Continuous batching, at claim time: regroup compatible queued runs around the head of the
    queue (same priority, within the configured lookahead) into one batch job, in one
    transaction. Returns the new batch job's id, or None when the head is best left alone."""
    planner = ctx.settings.planner
    target = planning_target(ctx, host_name)
    with ctx.db.write() as session:
        runs = load_queued_runs(session, limit=4 * planner.lookahead + 256)
        if not runs:
            return None
        cost, _ = target.cost_model(session)
        batch = plan_head_batch(
            runs,
            lookahead=planner.lookahead,
            cost=cost,
            gpu_profile=target.gpu_profile,
            gpu_memory_gb=target.gpu_memory_gb,
            max_batch_size=planner.max_batch_size,
            max_gpu_batch_size=planner.max_gpu_batch_size,
            gpu_batching=planner.gpu_batching,
            # The same output rule as `cosmos batch analyze` without the option.
            allow_output_changes=planner.allow_output_changes,
            learned_limits=learned_limits(session, target.gpu_profile),
            verified=target.verified_keys(session),
        )
        if batch is None:
            return None
        jobs: dict[str, set[str]] = {}
        for run in runs:
            jobs.setdefault(run.job_id, set()).add(run.run_id)
        view = _batch_view(batch, jobs)
        if view.unchanged:
            return None
        (created,), _ = _apply_batches(session, [view], ctx.settings.max_attempts, None)
    log.info("continuous batching formed job=%s from %d runs", created, len(view.run_ids))
    return created
