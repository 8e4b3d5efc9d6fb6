"""The queue as users drive it: enqueue, import, list, status, pause, cancel, move, retry."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from cosmos_workflow.domain.controls import Control, control_set_key, validate_weights
from cosmos_workflow.domain.errors import Conflict, InvalidInput, NotFound
from cosmos_workflow.domain.ids import new_id
from cosmos_workflow.domain.params import (
    UPSCALE_DEFAULT_STEPS,
    JobKind,
    check_controls_for_params,
    params_from_dict,
    validate_params,
)
from cosmos_workflow.domain.states import RETRIED_RUNS, JobStatus, RunStatus
from cosmos_workflow.domain.work import QueuedRun, VideoInfo
from cosmos_workflow.planner.compat import require_one_process
from cosmos_workflow.planner.cost import JobEstimate
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.estimates import planning_target
from cosmos_workflow.services.views import (
    EnqueueResult,
    ImportResult,
    JobList,
    JobView,
    LiveJob,
    QueueStatus,
)
from cosmos_workflow.store import jobs as store
from cosmos_workflow.store.db import now
from cosmos_workflow.store.events import latest_events, record_event
from cosmos_workflow.store.models import InputRow, JobRow, PromptRow, RunRow
from cosmos_workflow.store.runs import runs_of_jobs, set_runs_status

log = logging.getLogger(__name__)

PRIORITY_RANGE = (-1000, 1000)
MAX_PROMPTS_PER_JOB = 10_000
MAX_IMPORT_BYTES = 64 * 1024 * 1024
MAX_JOBS_PER_SUBMISSION = 100_000
IMPORT_KEYS = {"prompt_ids", "weights", "priority", "idempotency_key", "params"}


@dataclass(frozen=True)
class JobRequest:
    """One validated job to enqueue."""

    prompt_ids: tuple[str, ...]
    weights: Mapping[Control, float]
    params: dict[str, Any]
    priority: int = 0
    idempotency_key: str | None = None
    kind: JobKind = JobKind.INFERENCE


def build_request(
    prompt_ids: Sequence[str],
    weights: Mapping[str, object] | Mapping[Control, float],
    params: Mapping[str, Any] | None = None,
    *,
    priority: int = 0,
    idempotency_key: str | None = None,
) -> JobRequest:
    """Validate everything about a job except that its prompts exist (that needs the database)."""
    ids = tuple(str(p).strip() for p in prompt_ids)
    if not ids or any(not p for p in ids):
        raise InvalidInput("give at least one prompt id", field="prompt_ids")
    if len(ids) > MAX_PROMPTS_PER_JOB:
        raise InvalidInput(f"at most {MAX_PROMPTS_PER_JOB} prompts per job", field="prompt_ids")
    if len(set(ids)) != len(ids):
        raise InvalidInput("a prompt id is repeated; each prompt once per job", field="prompt_ids")
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise InvalidInput(f"priority must be a whole number, got {priority!r}", field="priority")
    if not PRIORITY_RANGE[0] <= priority <= PRIORITY_RANGE[1]:
        raise InvalidInput(
            f"priority must be between {PRIORITY_RANGE[0]} and {PRIORITY_RANGE[1]}",
            field="priority",
        )
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 200:
        raise InvalidInput(
            "an idempotency key must be 1 to 200 characters", field="idempotency_key"
        )
    checked = validate_weights({str(k): v for k, v in weights.items()})
    validated = validate_params(dict(params or {}))
    check_controls_for_params([c.value for c in checked], validated)
    return JobRequest(ids, checked, validated.to_dict(), priority, idempotency_key)


def enqueue(ctx: Context, request: JobRequest) -> EnqueueResult:
    with ctx.db.write() as session:
        if request.idempotency_key:
            existing = _job_by_key(session, request.idempotency_key)
            if existing is not None:
                return existing
        _require_prompts(session, request.prompt_ids)
        job_id, run_ids = _insert_jobs(ctx, session, [request])[0]
    log.info("enqueued job=%s runs=%d", job_id, len(run_ids))
    return EnqueueResult(job_id=job_id, run_ids=run_ids, created=True)


def import_jobs(ctx: Context, path: Path) -> ImportResult:
    """Enqueue one job per JSONL line, all in one transaction: one bad line rejects the file."""
    result = enqueue_many(ctx, parse_import_file(path))
    log.info("imported jobs=%d runs=%d from %s", len(result.job_ids), result.runs, path)
    return result


def enqueue_many(ctx: Context, requests: Sequence[JobRequest]) -> ImportResult:
    """Queue every request or none. A request whose idempotency key already names a job is
    skipped (an earlier submission queued it); a key repeated within `requests` is refused."""
    if not requests:
        raise InvalidInput("give at least one job", field="jobs")
    if len(requests) > MAX_JOBS_PER_SUBMISSION:
        raise InvalidInput(f"at most {MAX_JOBS_PER_SUBMISSION} jobs at once", field="jobs")
    keys = [r.idempotency_key for r in requests if r.idempotency_key]
    if len(keys) != len(set(keys)):
        raise InvalidInput("an idempotency key is repeated", field="jobs")
    with ctx.db.write() as session:
        _require_prompts(session, sorted({p for r in requests for p in r.prompt_ids}))
        fresh = [
            r
            for r in requests
            if not (r.idempotency_key and _job_by_key(session, r.idempotency_key))
        ]
        created = _insert_jobs(ctx, session, fresh)
    runs = sum(len(run_ids) for _, run_ids in created)
    return ImportResult(job_ids=[job_id for job_id, _ in created], runs=runs)


def parse_import_file(path: Path) -> list[JobRequest]:
    if not path.is_file():
        raise InvalidInput(f"{path} does not exist", field="file")
    if path.stat().st_size > MAX_IMPORT_BYTES:
        raise InvalidInput(f"{path} is larger than {MAX_IMPORT_BYTES // 2**20} MiB", field="file")
    requests: list[JobRequest] = []
    keys: set[str] = set()
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                request = _parse_import_line(line)
            except InvalidInput as exc:
                raise InvalidInput(
                    f"{path.name} line {number}: {exc.message}", field=exc.field
                ) from None
            if request.idempotency_key in keys:
                raise InvalidInput(
                    f"{path.name} line {number}: idempotency key repeated in the file"
                )
            if request.idempotency_key:
                keys.add(request.idempotency_key)
            requests.append(request)
    if not requests:
        raise InvalidInput(f"{path} holds no jobs", field="file")
    return requests


def _parse_import_line(line: str) -> JobRequest:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise InvalidInput("each line must be a JSON object")
    params = {k: v for k, v in data.items() if k not in IMPORT_KEYS}
    params.update(data.get("params") or {})
    prompt_ids = data.get("prompt_ids")
    if not isinstance(prompt_ids, list):
        raise InvalidInput("prompt_ids must be a list of prompt ids", field="prompt_ids")
    weights = data.get("weights")
    if not isinstance(weights, dict):
        raise InvalidInput('weights must be an object like {"edge": 0.5}', field="weights")
    priority = data.get("priority", 0)
    key = data.get("idempotency_key")
    if key is not None and not isinstance(key, str):
        raise InvalidInput("idempotency_key must be a string", field="idempotency_key")
    return build_request(prompt_ids, weights, params, priority=priority, idempotency_key=key)


def _require_prompts(session: Session, prompt_ids: Sequence[str]) -> None:
    found: set[str] = set()
    ids = list(prompt_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found.update(session.scalars(select(PromptRow.id).where(PromptRow.id.in_(chunk))).all())
    missing = [p for p in ids if p not in found]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise NotFound(f"unknown prompt id(s): {shown}; see `cosmos prompt list`")


def _job_by_key(session: Session, key: str) -> EnqueueResult | None:
    job_id = session.scalar(select(JobRow.id).where(JobRow.idempotency_key == key))
    if job_id is None:
        return None
    run_ids = session.scalars(
        select(RunRow.id).where(RunRow.origin_job_id == job_id).order_by(RunRow.batch_index)
    ).all()
    return EnqueueResult(job_id=job_id, run_ids=list(run_ids), created=False)


def _insert_jobs(
    ctx: Context,
    session: Session,
    requests: Sequence[JobRequest],
    *,
    parent_runs: Sequence[str | None] = (),
) -> list[tuple[str, list[str]]]:
    """Insert jobs and their runs with bulk statements (10,000 jobs in one transaction)."""
    stamp = now()
    position = store.position_at_bottom(session)
    estimates = _estimate_jobs(ctx, session, requests)
    job_rows: list[dict[str, Any]] = []
    run_rows: list[dict[str, Any]] = []
    created: list[tuple[str, list[str]]] = []
    for index, request in enumerate(requests):
        job_id = new_id("job")
        job_rows.append(
            {
                "id": job_id,
                "kind": request.kind.value,
                "status": JobStatus.QUEUED.value,
                "priority": request.priority,
                "position": position + index * 1024,
                "backend": request.params["backend"],
                "gpu_batch_size": 1,
                "created_at": stamp + index * 1e-6,
                "updated_at": stamp,
                "attempts": 0,
                "max_attempts": ctx.settings.max_attempts,
                "cancel_requested": False,
                "idempotency_key": request.idempotency_key,
                "predicted_seconds": _rounded(estimates[index], "total_seconds"),
            }
        )
        run_share = _rounded(estimates[index], "compute_seconds", len(request.prompt_ids))
        run_ids = []
        for batch_index, prompt_id in enumerate(request.prompt_ids):
            run_id = new_id("run")
            run_ids.append(run_id)
            run_rows.append(
                {
                    "id": run_id,
                    "job_id": job_id,
                    "origin_job_id": job_id,
                    "prompt_id": prompt_id,
                    "kind": request.kind.value,
                    "weights": {c.value: w for c, w in request.weights.items()},
                    "control_set": control_set_key(request.weights),
                    "params": request.params,
                    "status": RunStatus.QUEUED.value,
                    "batch_index": batch_index,
                    "origin_index": batch_index,
                    "attempts": 0,
                    "created_at": stamp,
                    "parent_run_id": parent_runs[index] if parent_runs else None,
                    "predicted_seconds": run_share,
                }
            )
        created.append((job_id, run_ids))
    if not job_rows:
        return created
    session.execute(insert(JobRow), job_rows)
    session.execute(insert(RunRow), run_rows)
    record_event(
        session, "jobs.enqueued", job_ids=[j for j, _ in created][:1000], count=len(created)
    )
    return created


def _estimate_jobs(
    ctx: Context, session: Session, requests: Sequence[JobRequest]
) -> list[JobEstimate | None]:
    """The cost model's GPU time for each new inference job as one process (calibrated where
    measured timings exist), so the queue shows a predicted time and an ETA before anything is
    batched. Upscale and enhance jobs are not modelled: None."""
    if not any(r.kind is JobKind.INFERENCE for r in requests):
        return [None] * len(requests)
    target = planning_target(ctx)
    cost, _ = target.cost_model(session)
    videos = _prompt_videos(session, {p for r in requests for p in r.prompt_ids})
    estimates: list[JobEstimate | None] = []
    for request in requests:
        if request.kind is not JobKind.INFERENCE:
            estimates.append(None)
            continue
        params = params_from_dict(request.params)
        runs = [
            QueuedRun(
                run_id=prompt_id,
                job_id="",
                priority=request.priority,
                queue_index=0,
                weights=request.weights,
                params=params,
                negative_prompt=videos[prompt_id][1],
                video=videos[prompt_id][0],
            )
            for prompt_id in request.prompt_ids
        ]
        require_one_process(runs)  # refused now rather than failed by the worker
        estimates.append(cost.predict(params.backend, target.gpu_profile, runs))
    return estimates


def _prompt_videos(session: Session, prompt_ids: set[str]) -> dict[str, tuple[VideoInfo, str]]:
    ids = sorted(prompt_ids)
    found: dict[str, tuple[VideoInfo, str]] = {}
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(
                PromptRow.id,
                PromptRow.negative,
                InputRow.frames,
                InputRow.fps,
                InputRow.width,
                InputRow.height,
            )
            .join(InputRow, PromptRow.input_id == InputRow.id)
            .where(PromptRow.id.in_(ids[start : start + 500]))
        ).all()
        for row in rows:
            video = VideoInfo(frames=row.frames, fps=row.fps, width=row.width, height=row.height)
            found[row.id] = (video, row.negative)
    return found


def _rounded(estimate: JobEstimate | None, field: str, share: int = 1) -> float | None:
    return None if estimate is None else round(getattr(estimate, field) / share, 3)


def enqueue_upscale(
    ctx: Context, run_id: str, *, weight: float = 0.5, priority: int = 0
) -> EnqueueResult:
    """Queue a 4K upscale of a finished run (Transfer1 `upscale` control; never batched)."""
    if not 0.0 < weight <= 1.0:
        raise InvalidInput("upscale weight must be above 0 and at most 1", field="weight")
    with ctx.db.write() as session:
        run = session.get(RunRow, run_id)
        if run is None:
            raise NotFound(f"no run with id {run_id!r}; see `cosmos runs list`")
        if run.status != RunStatus.SUCCEEDED or not run.output_path:
            raise Conflict(f"run {run_id} is {run.status}; only a finished run can be upscaled")
        params = validate_params({"backend": "transfer1", "steps": UPSCALE_DEFAULT_STEPS}).to_dict()
        request = JobRequest(
            (run.prompt_id,),
            {},
            params | {"upscale_weight": weight},
            priority,
            None,
            JobKind.UPSCALE,
        )
        job_id, run_ids = _insert_jobs(ctx, session, [request], parent_runs=[run_id])[0]
    return EnqueueResult(job_id=job_id, run_ids=run_ids, created=True)


def enqueue_enhance(ctx: Context, prompt_id: str, *, priority: int = 0) -> EnqueueResult:
    """Queue prompt enhancement (Transfer1 prompt upsampler); it produces a new, linked prompt."""
    with ctx.db.write() as session:
        _require_prompts(session, [prompt_id])
        params = validate_params({"backend": "transfer1"}).to_dict()
        request = JobRequest((prompt_id,), {}, params, priority, None, JobKind.ENHANCE)
        job_id, run_ids = _insert_jobs(ctx, session, [request])[0]
    return EnqueueResult(job_id=job_id, run_ids=run_ids, created=True)


def list_queue(
    ctx: Context, *, include_history: bool = False, limit: int = 100, offset: int = 0
) -> JobList:
    """Jobs in execution order with their 1-based position; history (newest first) after."""
    if not 1 <= limit <= 100_000 or offset < 0:
        raise InvalidInput("limit must be 1 to 100000 and offset 0 or more", field="limit")
    with ctx.db.read() as session:
        page = store.queue_page(
            session, include_history=include_history, limit=limit, offset=offset
        )
        runs = runs_of_jobs(session, [job.id for job, _ in page.jobs])
        views = [JobView.of(job, runs[job.id], position) for job, position in page.jobs]
    return JobList(jobs=views, total=page.total)


def live_jobs(ctx: Context) -> list[LiveJob]:
    """The running jobs with their latest progress, for a view that looks every second: only
    running jobs are read, so its cost does not grow with the queue or its history."""
    with ctx.db.read() as session:
        running = store.running_jobs(session)
        ids = [job.id for job in running]
        runs = runs_of_jobs(session, ids)
        progress = latest_events(session, "job.progress", ids)
        return [
            LiveJob(
                job=JobView.of(job, runs[job.id]),
                progress=dict(progress[job.id].data) if job.id in progress else None,
            )
            for job in running
        ]


def get_job(ctx: Context, job_id: str) -> JobView:
    with ctx.db.read() as session:
        job = _job(session, job_id)
        runs = session.scalars(select(RunRow).where(RunRow.job_id == job_id)).all()
        if job.status == JobStatus.MERGED.value:
            runs = session.scalars(select(RunRow).where(RunRow.origin_job_id == job_id)).all()
        position = _position_of(session, job) if job.status == JobStatus.QUEUED.value else None
        return JobView.of(job, list(runs), position)


def _position_of(session: Session, job: JobRow) -> int:
    ahead = session.scalar(
        select(func.count())
        .select_from(JobRow)
        .where(JobRow.status == JobStatus.QUEUED.value)
        .where(
            (JobRow.priority > job.priority)
            | ((JobRow.priority == job.priority) & (JobRow.position < job.position))
            | (
                (JobRow.priority == job.priority)
                & (JobRow.position == job.position)
                & (JobRow.created_at < job.created_at)
            )
        )
    )
    return int(ahead or 0) + 1


def _job(session: Session, job_id: str) -> JobRow:
    job = session.get(JobRow, job_id)
    if job is None:
        raise NotFound(f"no job with id {job_id!r}; see `cosmos queue list --all`")
    return job


def queue_status(ctx: Context) -> QueueStatus:
    with ctx.db.read() as session:
        jobs = dict(
            session.execute(select(JobRow.status, func.count()).group_by(JobRow.status)).all()
        )
        runs = dict(
            session.execute(select(RunRow.status, func.count()).group_by(RunRow.status)).all()
        )
        paused = store.is_paused(session)
    return QueueStatus(
        paused=paused,
        **{status.value: int(jobs.get(status.value, 0)) for status in JobStatus},
        runs_queued=int(runs.get(RunStatus.QUEUED.value, 0)),
        runs_running=int(runs.get(RunStatus.RUNNING.value, 0)),
    )


def set_paused(ctx: Context, paused: bool) -> QueueStatus:
    with ctx.db.write() as session:
        store.set_paused(session, paused)
    log.info("queue %s", "paused" if paused else "resumed")
    return queue_status(ctx)


def cancel_job(ctx: Context, job_id: str) -> JobView:
    """Cancel a queued job at once; ask the worker running a running job to kill it."""
    with ctx.db.write() as session:
        job = _job(session, job_id)
        if job.status == JobStatus.QUEUED.value:
            store.set_job_status(
                session,
                job,
                JobStatus.CANCELLED,
                reason="cancelled by user",
                finished_at=now(),
            )
            set_runs_status(session, job.id, RunStatus.CANCELLED, finished_at=now())
        elif job.status == JobStatus.RUNNING.value:
            job.cancel_requested = True
            record_event(session, "job.cancel_requested", job_id=job.id)
        else:
            raise Conflict(
                f"job {job_id} is {job.status}; only queued or running jobs can be cancelled"
            )
    return get_job(ctx, job_id)


def move_job(
    ctx: Context,
    job_id: str,
    where: Literal["top", "bottom", "before"],
    other_job_id: str | None = None,
) -> JobView:
    """Move a queued job; one update of its sparse position (priority still orders first)."""
    with ctx.db.write() as session:
        job = _job(session, job_id)
        if job.status != JobStatus.QUEUED.value:
            raise Conflict(f"job {job_id} is {job.status}; only queued jobs can be moved")
        if where == "top":
            job.position = store.position_at_top(session)
        elif where == "bottom":
            job.position = store.position_at_bottom(session)
        else:
            if not other_job_id:
                raise InvalidInput("--before needs another job id", field="before")
            other = _job(session, other_job_id)
            if other.status != JobStatus.QUEUED.value or other.id == job.id:
                raise InvalidInput(f"job {other_job_id} is not another queued job", field="before")
            if other.priority != job.priority:
                raise Conflict(
                    f"job {other_job_id} has priority {other.priority} and job {job_id} has "
                    f"{job.priority}; priority orders first, so it cannot go right before it"
                )
            job.position = store.position_before(session, other)
        job.updated_at = now()
        record_event(session, "job.moved", job_id=job.id, where=where, before=other_job_id)
    return get_job(ctx, job_id)


def retry_job(ctx: Context, job_id: str) -> EnqueueResult:
    """A new job, linked to the failed or cancelled one, with the settings of its runs that did
    not succeed (a succeeded run keeps its output and is never rendered again)."""
    with ctx.db.write() as session:
        job = _job(session, job_id)
        if job.status not in (JobStatus.FAILED.value, JobStatus.CANCELLED.value):
            raise Conflict(
                f"job {job_id} is {job.status}; only failed or cancelled jobs are retried"
            )
        runs = session.scalars(
            select(RunRow)
            .where(
                RunRow.job_id == job_id,
                RunRow.status.in_(sorted(s.value for s in RETRIED_RUNS)),
            )
            .order_by(RunRow.batch_index)
        ).all()
        if not runs:
            where = f" ({job.error})" if job.error and "split into" in job.error else ""
            raise Conflict(f"job {job_id} has no failed or cancelled run to retry{where}")
        stamp = now()
        new_job = new_id("job")
        session.execute(
            insert(JobRow),
            [
                {
                    "id": new_job,
                    "kind": job.kind,
                    "status": JobStatus.QUEUED.value,
                    "priority": job.priority,
                    "position": store.position_at_bottom(session),
                    "backend": job.backend,
                    "gpu_batch_size": min(job.gpu_batch_size, len(runs)),
                    "created_at": stamp,
                    "updated_at": stamp,
                    "attempts": 0,
                    "max_attempts": job.max_attempts,
                    "cancel_requested": False,
                    "retry_of_job_id": job.id,
                }
            ],
        )
        run_ids = []
        for index, run in enumerate(runs):
            run_id = new_id("run")
            run_ids.append(run_id)
            session.add(
                RunRow(
                    id=run_id,
                    job_id=new_job,
                    origin_job_id=new_job,
                    prompt_id=run.prompt_id,
                    kind=run.kind,
                    weights=dict(run.weights),
                    control_set=run.control_set,
                    params=dict(run.params),
                    status=RunStatus.QUEUED.value,
                    batch_index=index,
                    origin_index=index,
                    attempts=0,
                    created_at=stamp,
                    parent_run_id=run.parent_run_id,
                )
            )
        record_event(session, "job.retried", job_id=new_job, retry_of=job.id)
    return EnqueueResult(job_id=new_job, run_ids=run_ids, created=True)
