"""The queue as users drive it: enqueue, import, list, status, pause, cancel, move, retry."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from cosmos_workflow import defaults
from cosmos_workflow.domain.controls import Control, validate_weights
from cosmos_workflow.domain.errors import Conflict, InvalidInput, NotFound
from cosmos_workflow.domain.params import (
    JobKind,
    check_controls_for_params,
    num_outputs,
    params_from_dict,
    upscale_params,
    validate_params,
    with_output_seeds,
)
from cosmos_workflow.domain.states import JobStatus, RunStatus
from cosmos_workflow.domain.text import MAX_KEY_CHARS, check_line, check_path, shown
from cosmos_workflow.domain.work import QueuedRun, VideoInfo
from cosmos_workflow.planner.compat import require_one_process
from cosmos_workflow.planner.cost import JobEstimate
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.estimates import planning_target
from cosmos_workflow.services.eta import queue_etas
from cosmos_workflow.services.input_checks import check_inputs
from cosmos_workflow.services.views import (
    EnqueueResult,
    ImportResult,
    JobList,
    JobView,
    LiveJob,
    QueueStatus,
    RunLabels,
)
from cosmos_workflow.store import jobs as store
from cosmos_workflow.store import sweeps as sweep_store
from cosmos_workflow.store.db import now
from cosmos_workflow.store.events import latest_events, record_event
from cosmos_workflow.store.models import JobRow, RunRow
from cosmos_workflow.store.runs import (
    RunSource,
    find_run,
    new_run_row,
    prompt_texts,
    run_counts,
    run_sources,
    runs_by_id,
    runs_of_job,
    runs_of_jobs,
    runs_to_retry,
    set_runs_status,
)
from cosmos_workflow.store.session import Session
from cosmos_workflow.store.sweeps import sweep_names

log = logging.getLogger(__name__)

PRIORITY_RANGE = (-1000, 1000)
MAX_PROMPTS_PER_JOB = 10_000
MAX_IMPORT_BYTES = 64 * 1024 * 1024
MAX_JOBS_PER_SUBMISSION = 100_000
IMPORT_KEYS = {"prompt_ids", "weights", "priority", "idempotency_key", "params", "sweep"}
SWEEP_KEYS = {"weights", "seeds", "name"}
# A JSON number past this many digits is no parameter of a job, and Python refuses to convert
# one past 4,300 digits with a ValueError of its own.
MAX_NUMBER_DIGITS = 30


@dataclass(frozen=True)
class JobRequest:
    """One validated job to enqueue."""

    prompt_ids: tuple[str, ...]
    weights: Mapping[Control, float]
    params: dict[str, Any]
    priority: int = 0
    idempotency_key: str | None = None
    kind: JobKind = JobKind.INFERENCE
    sweep_id: str | None = None  # the sweep (services.sweeps) whose runs these are
    # Runs per prompt (Cosmos 3's num_outputs): seeds seed, seed+1, ... as NVIDIA expands it.
    outputs: int = 1

    def run_params(self) -> list[dict[str, Any]]:
        """The parameters of each prompt's runs, one per output."""
        if self.outputs == 1:
            return [self.params]
        expanded = with_output_seeds(params_from_dict(self.params), self.outputs)
        return [p.to_dict() for p in expanded]

    @property
    def run_count(self) -> int:
        return len(self.prompt_ids) * self.outputs


def with_sweep(request: JobRequest, sweep_id: str) -> JobRequest:
    return replace(request, sweep_id=sweep_id)


@dataclass(frozen=True)
class NewSweep:
    """A sweep to insert with its jobs (services.sweeps builds it; import carries it)."""

    id: str
    name: str | None  # None: a dated default name, chosen when it is inserted
    spec: dict[str, Any]
    runs: int
    jobs: tuple[JobRequest, ...]


def add_new_sweeps(session: Session, new: Sequence[NewSweep]) -> list[str]:
    """Insert sweep rows (before their jobs' runs, which name them); returns their names."""
    names: list[str] = []
    for sweep in new:
        names.append(sweep_store.free_name(session, sweep.name, also_taken=names))
    sweep_store.add_sweeps(
        session,
        [
            sweep_store.new_sweep_row(s.id, name, s.spec, s.runs)
            for name, s in zip(names, new, strict=True)
        ],
    )
    return names


def build_request(
    prompt_ids: Sequence[str],
    weights: Mapping[str, object] | Mapping[Control, float],
    params: Mapping[str, Any] | None = None,
    *,
    priority: int = 0,
    idempotency_key: str | None = None,
) -> JobRequest:
    """Validate everything about a job except that its prompts exist (that needs the database)."""
    if any(not isinstance(p, str) for p in prompt_ids):
        raise InvalidInput("each prompt id must be text", field="prompt_ids")
    ids = tuple(check_line(p, "prompt_ids").strip() for p in prompt_ids)
    if not ids or any(not p for p in ids):
        raise InvalidInput("give at least one prompt id", field="prompt_ids")
    if len(ids) > MAX_PROMPTS_PER_JOB:
        raise InvalidInput(f"at most {MAX_PROMPTS_PER_JOB} prompts per job", field="prompt_ids")
    if len(set(ids)) != len(ids):
        raise InvalidInput("a prompt id is repeated; each prompt once per job", field="prompt_ids")
    _check_priority(priority)
    if idempotency_key is not None:
        check_line(idempotency_key, "idempotency_key", max_chars=MAX_KEY_CHARS)
        if not idempotency_key:
            raise InvalidInput(
                "an idempotency key must be 1 to 200 characters", field="idempotency_key"
            )
    checked = validate_weights({str(k): v for k, v in weights.items()})
    raw = dict(params or {})
    names = [c.value for c in checked]
    validated = validate_params(raw, names)
    check_controls_for_params(names, validated)
    outputs = num_outputs(raw)
    with_output_seeds(validated, outputs)  # refuses seeds past the largest
    return JobRequest(ids, checked, validated.to_dict(), priority, idempotency_key, outputs=outputs)


def enqueue(ctx: Context, request: JobRequest) -> EnqueueResult:
    """Queue one job. A used idempotency key returns its job (`created` False), also when a
    concurrent call with the same key commits first: the store reports the taken key and the
    job it names is returned. A used key with other content is a Conflict naming its job."""
    with ctx.db.write() as session:
        check_inputs(require_prompts(session, request.prompt_ids), [request])
        if request.idempotency_key:
            existing = _job_by_key(session, request)
            if existing is not None:
                return existing
        inserted = insert_jobs(ctx, session, [request])
        if inserted is None and request.idempotency_key:
            existing = _job_by_key(session, request)
            if existing is not None:
                return existing
        if not inserted:
            raise Conflict("the job could not be queued; try again")
        job_id, run_ids = inserted[0]
    log.info("enqueued job=%s runs=%d", job_id, len(run_ids))
    return EnqueueResult(job_id=job_id, run_ids=run_ids, created=True)


def import_jobs(ctx: Context, path: Path, *, confirm: bool = False) -> ImportResult:
    """Enqueue one job per JSONL line, or one sweep per sweep line, all in one transaction: one
    bad line rejects the file. A sweep above `max_sweep_runs` needs `confirm`."""
    limit = None if confirm else ctx.settings.max_sweep_runs
    requests, new_sweeps = parse_import_file(path, max_sweep_runs=limit)
    result = enqueue_many(ctx, requests, new_sweeps=new_sweeps)
    log.info("imported jobs=%d runs=%d from %s", len(result.job_ids), result.runs, path)
    return result


def enqueue_many(
    ctx: Context, requests: Sequence[JobRequest], *, new_sweeps: Sequence[NewSweep] = ()
) -> ImportResult:
    """Queue every request or none (and `new_sweeps`, with their jobs). A request whose
    idempotency key already names a job with the same content is skipped (an earlier
    submission queued it); one whose key names a job with other content, or a key repeated
    within `requests`, is refused."""
    requests = [*requests, *(job for sweep in new_sweeps for job in sweep.jobs)]
    if not requests:
        raise InvalidInput("give at least one job", field="jobs")
    if len(requests) > MAX_JOBS_PER_SUBMISSION:
        raise InvalidInput(f"at most {MAX_JOBS_PER_SUBMISSION} jobs at once", field="jobs")
    keys = [r.idempotency_key for r in requests if r.idempotency_key]
    if len(keys) != len(set(keys)):
        raise InvalidInput("an idempotency key is repeated", field="jobs")
    with ctx.db.write() as session:
        sources = require_prompts(session, sorted({p for r in requests for p in r.prompt_ids}))
        check_inputs(sources, requests)
        add_new_sweeps(session, new_sweeps)
        # A concurrent submission may take one of the keys between the look-up and the insert:
        # then nothing was inserted, and the look-up is made again (each retry means another
        # submission committed, so this ends).
        while True:
            taken = store.taken_keys(session, keys)
            for request in requests:
                if request.idempotency_key in taken:
                    _job_by_key(session, request)  # the same job, or Conflict
            fresh = [r for r in requests if r.idempotency_key not in taken]
            created = insert_jobs(ctx, session, fresh)
            if created is not None:
                break
    runs = sum(len(run_ids) for _, run_ids in created)
    return ImportResult(job_ids=[job_id for job_id, _ in created], runs=runs)


def parse_import_file(
    path: Path, *, max_sweep_runs: int | None = None
) -> tuple[list[JobRequest], list[NewSweep]]:
    """The file's job lines and sweep lines (a line with a `sweep` object); a sweep above
    `max_sweep_runs` is refused (None: any size)."""
    check_path(path, "file")
    if not path.is_file():
        raise InvalidInput(f"{path} does not exist or is not a file", field="file")
    if path.stat().st_size > MAX_IMPORT_BYTES:
        raise InvalidInput(f"{path} is larger than {MAX_IMPORT_BYTES // 2**20} MiB", field="file")
    requests: list[JobRequest] = []
    new_sweeps: list[NewSweep] = []
    keys: set[str] = set()
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                parsed = _parse_import_line(_decoded(raw))
                if isinstance(parsed, NewSweep):
                    _check_sweep_size(parsed, max_sweep_runs)
                    new_sweeps.append(parsed)
                    continue
                request = parsed
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
    if not requests and not new_sweeps:
        raise InvalidInput(f"{path} holds no jobs", field="file")
    return requests, new_sweeps


def _check_sweep_size(sweep: NewSweep, limit: int | None) -> None:
    if limit is not None and sweep.runs > limit:
        raise InvalidInput(
            f"the sweep has {sweep.runs} runs, above the limit of {limit} (max_sweep_runs); "
            "import with --yes to queue it",
            field="confirm",
        )


def _decoded(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
        ) from None


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_NUMBER_DIGITS:
        raise InvalidInput(f"a number has {digits} digits; at most {MAX_NUMBER_DIGITS}")
    return int(text)


def _parse_import_line(line: str) -> JobRequest | NewSweep:
    try:
        data = json.loads(line, parse_int=_bounded_int)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise InvalidInput("the JSON is nested too deeply") from None
    if not isinstance(data, dict):
        raise InvalidInput("each line must be a JSON object")
    params = {k: v for k, v in data.items() if k not in IMPORT_KEYS}
    extra = data.get("params")
    if extra is not None and not isinstance(extra, dict):
        raise InvalidInput(
            f'params must be an object like {{"steps": 35}}, got {shown(extra)}', field="params"
        )
    params.update(extra or {})
    prompt_ids = data.get("prompt_ids")
    if not isinstance(prompt_ids, list):
        raise InvalidInput("prompt_ids must be a list of prompt ids", field="prompt_ids")
    if "sweep" in data:
        return _parse_sweep_line(data, prompt_ids, params)
    weights = data.get("weights")
    if not isinstance(weights, dict):
        raise InvalidInput('weights must be an object like {"edge": 0.5}', field="weights")
    priority = data.get("priority", 0)
    key = data.get("idempotency_key")
    if key is not None and not isinstance(key, str):
        raise InvalidInput("idempotency_key must be a string", field="idempotency_key")
    return build_request(prompt_ids, weights, params, priority=priority, idempotency_key=key)


def _parse_sweep_line(
    data: dict[str, Any], prompt_ids: list[Any], params: dict[str, Any]
) -> NewSweep:
    """A sweep line: `{"sweep": {"weights": {"depth": "0.2:0.8:0.2"}, "seeds": [1, 2],
    "name": "look"}, "prompt_ids": [...], ...parameters}`."""
    from cosmos_workflow.services import sweeps  # it builds on this module

    sweep = data["sweep"]
    if not isinstance(sweep, dict) or not sweep.keys() <= SWEEP_KEYS or "weights" not in sweep:
        raise InvalidInput(
            'sweep must be an object like {"weights": {"depth": "0.2:0.8:0.2"}, '
            '"seeds": [1, 2], "name": "look"}',
            field="sweep",
        )
    if "weights" in data or "idempotency_key" in data:
        raise InvalidInput(
            "a sweep line takes its weights inside sweep, and no idempotency_key", field="sweep"
        )
    name = sweep.get("name")
    if name is not None and not isinstance(name, str):
        raise InvalidInput("the sweep's name must be text", field="name")
    request = sweeps.build_sweep(
        prompt_ids,
        sweeps.axes_from_mapping(sweep["weights"]),
        seeds=sweep.get("seeds"),
        params=params,
        name=name,
        priority=data.get("priority", 0),
    )
    return request.new_sweep()


def require_prompts(session: Session, prompt_ids: Sequence[str]) -> dict[str, RunSource]:
    """Each prompt's source (the prompt and its input); NotFound names the missing ones."""
    found = run_sources(session, prompt_ids)
    missing = [p for p in prompt_ids if p not in found]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise NotFound(f"unknown prompt id(s): {shown}; see `cosmos prompt list`")
    return found


def _job_by_key(session: Session, request: JobRequest) -> EnqueueResult | None:
    """The job the request's idempotency key names, when it was queued with the request's
    content; None when the key is free. The key on a job with other content is a Conflict: the
    old job is not what the caller asked for."""
    key = request.idempotency_key
    found = store.job_by_key(session, key) if key else None
    if found is None:
        return None
    job_id, run_ids = found
    difference = _difference(session, request, job_id, run_ids)
    if difference:
        raise Conflict(
            f"idempotency key {key!r} is taken by job {job_id}, queued with other content "
            f"({difference}); use a new key, or resubmit that job's content unchanged"
        )
    return EnqueueResult(job_id=job_id, run_ids=run_ids, created=False)


def _difference(session: Session, request: JobRequest, job_id: str, run_ids: list[str]) -> str:
    """What differs between the request and the job it would duplicate ("" when nothing): the
    content that defines a job, which batching leaves as it was (its runs' prompts, weights and
    parameters, its kind and priority)."""
    job = store.find_job(session, job_id)
    found = runs_by_id(session, run_ids)
    runs: list[RunRow] = [found[run_id] for run_id in run_ids if run_id in found]
    if job is None or job.kind != request.kind.value:
        return "kind"
    if job.priority != request.priority:
        return f"priority {job.priority}, not {request.priority}"
    if tuple(run.prompt_id for run in runs) != request.prompt_ids:
        return "prompts"
    weights = {c.value: w for c, w in request.weights.items()}
    if any(dict(run.weights) != weights for run in runs):
        return "weights"
    if any(dict(run.params) != request.params for run in runs):
        return "parameters"
    return ""


def insert_jobs(
    ctx: Context,
    session: Session,
    requests: Sequence[JobRequest],
    *,
    parent_runs: Sequence[str | None] = (),
) -> list[tuple[str, list[str]]] | None:
    """Insert jobs and their runs with bulk statements (10,000 jobs in one transaction). None:
    an idempotency key was taken meanwhile and nothing was inserted."""
    stamp = now()
    position = store.position_at_bottom(session)
    estimates = _estimate_jobs(ctx, session, requests)
    job_rows: list[dict[str, Any]] = []
    run_rows: list[dict[str, Any]] = []
    created: list[tuple[str, list[str]]] = []
    for index, request in enumerate(requests):
        job = store.new_job_row(
            kind=request.kind.value,
            backend=request.params["backend"],
            priority=request.priority,
            position=position + index * defaults.POSITION_GAP,
            max_attempts=ctx.settings.max_attempts,
            predicted_seconds=_rounded(estimates[index], "total_seconds"),
            created_at=stamp + index * 1e-6,  # keeps the submission order among equals
            idempotency_key=request.idempotency_key,
        )
        job_rows.append(job)
        run_share = _rounded(estimates[index], "compute_seconds", request.run_count)
        outputs = request.run_params()
        each = [(p, params) for p in request.prompt_ids for params in outputs]
        runs = [
            new_run_row(
                job_id=job["id"],
                prompt_id=prompt_id,
                kind=request.kind.value,
                weights={c.value: w for c, w in request.weights.items()},
                params=params,
                index=batch_index,
                created_at=stamp,
                predicted_seconds=run_share,
                parent_run_id=parent_runs[index] if parent_runs else None,
                sweep_id=request.sweep_id,
            )
            for batch_index, (prompt_id, params) in enumerate(each)
        ]
        run_rows.extend(runs)
        created.append((job["id"], [run["id"] for run in runs]))
    if not job_rows:
        return created
    if not store.add_jobs(session, job_rows, run_rows):
        return None
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
        outputs = [params_from_dict(output) for output in request.run_params()]
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
            for params in outputs
        ]
        require_one_process(runs)  # refused now rather than failed by the worker
        estimates.append(cost.predict(outputs[0].backend, target.gpu_profile, runs))
    return estimates


def _prompt_videos(session: Session, prompt_ids: set[str]) -> dict[str, tuple[VideoInfo, str]]:
    found: dict[str, tuple[VideoInfo, str]] = {}
    for prompt_id, source in run_sources(session, prompt_ids).items():
        row = source.input
        video = VideoInfo(frames=row.frames, fps=row.fps, width=row.width, height=row.height)
        found[prompt_id] = (video, source.prompt.negative)
    return found


def _rounded(estimate: JobEstimate | None, field: str, share: int = 1) -> float | None:
    return None if estimate is None else round(getattr(estimate, field) / share, 3)


def _check_priority(priority: object) -> None:
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise InvalidInput(f"priority must be a whole number, got {priority!r}", field="priority")
    if not PRIORITY_RANGE[0] <= priority <= PRIORITY_RANGE[1]:
        raise InvalidInput(
            f"priority must be between {PRIORITY_RANGE[0]} and {PRIORITY_RANGE[1]}",
            field="priority",
        )


def enqueue_upscale(
    ctx: Context, run_id: str, *, weight: float = 0.5, priority: int = 0
) -> EnqueueResult:
    """Queue a 4K upscale of a finished run (Transfer1 `upscale` control; never batched)."""
    check_line(run_id, "run_id")
    _check_priority(priority)
    params = upscale_params(weight).to_dict()
    with ctx.db.write() as session:
        run = find_run(session, run_id)
        if run is None:
            raise NotFound(f"no run with id {run_id!r}; see `cosmos runs list`")
        if run.status != RunStatus.SUCCEEDED or not run.output_path:
            raise Conflict(f"run {run_id} is {run.status}; only a finished run can be upscaled")
        request = JobRequest((run.prompt_id,), {}, params, priority, None, JobKind.UPSCALE)
        return _created(insert_jobs(ctx, session, [request], parent_runs=[run_id]))


def enqueue_enhance(ctx: Context, prompt_id: str, *, priority: int = 0) -> EnqueueResult:
    """Queue prompt enhancement (Transfer1 prompt upsampler); it produces a new, linked prompt."""
    check_line(prompt_id, "prompt_id")
    _check_priority(priority)
    with ctx.db.write() as session:
        require_prompts(session, [prompt_id])
        params = validate_params({"backend": "transfer1"}).to_dict()
        request = JobRequest((prompt_id,), {}, params, priority, None, JobKind.ENHANCE)
        return _created(insert_jobs(ctx, session, [request]))


def _created(inserted: list[tuple[str, list[str]]] | None) -> EnqueueResult:
    """The one job a request without an idempotency key inserted (it cannot collide)."""
    assert inserted, "a job without an idempotency key is always inserted"
    job_id, run_ids = inserted[0]
    return EnqueueResult(job_id=job_id, run_ids=run_ids, created=True)


def list_queue(
    ctx: Context, *, include_history: bool = False, limit: int = 100, offset: int = 0
) -> JobList:
    """Jobs in execution order with their 1-based position; history (newest first) after."""
    if not 1 <= limit <= 100_000 or not 0 <= offset <= defaults.MAX_LIST_OFFSET:
        raise InvalidInput(
            f"limit must be 1 to 100000 and offset 0 to {defaults.MAX_LIST_OFFSET}", field="limit"
        )
    with ctx.db.read() as session:
        page = store.queue_page(
            session, include_history=include_history, limit=limit, offset=offset
        )
        runs = runs_of_jobs(session, [job.id for job, _ in page.jobs])
        # ETAs up to the page's last queued job: the jobs before it decide when it starts.
        etas = queue_etas(ctx, session, max((p for _, p in page.jobs if p is not None), default=0))
        labels = run_labels(session, [r for rs in runs.values() for r in rs])
        views = [
            JobView.of(job, runs[job.id], position, etas.get(job.id), labels)
            for job, position in page.jobs
        ]
    return JobList(jobs=views, total=page.total, predicted_for=planning_target(ctx).gpu_profile)


def live_jobs(ctx: Context) -> list[LiveJob]:
    """The running jobs with their latest progress, for a view that looks every second: only
    running jobs are read, so its cost does not grow with the queue or its history."""
    with ctx.db.read() as session:
        running = store.running_jobs(session)
        ids = [job.id for job in running]
        runs = runs_of_jobs(session, ids)
        progress = latest_events(session, "job.progress", ids)
        etas = queue_etas(ctx, session, 0)
        labels = run_labels(session, [r for rs in runs.values() for r in rs])
        return [
            LiveJob(
                job=JobView.of(job, runs[job.id], eta=etas.get(job.id), labels=labels),
                progress=dict(progress[job.id].data) if job.id in progress else None,
            )
            for job in running
        ]


def run_labels(session: Session, rows: Sequence[RunRow]) -> RunLabels:
    """The prompt texts and sweep names shown beside these runs (two statements)."""
    return RunLabels(
        prompts=prompt_texts(session, {r.prompt_id for r in rows}),
        sweeps=sweep_names(session, {r.sweep_id for r in rows}),
    )


def get_job(ctx: Context, job_id: str, *, eta: bool = True) -> JobView:
    """One job with its runs; `eta=False` skips the fleet simulation (a view of its runs)."""
    with ctx.db.read() as session:
        job = _job(session, job_id)
        # A merged job's runs are in its batch job now: show the ones it was created with.
        merged = job.status == JobStatus.MERGED.value
        runs = runs_of_job(session, job_id, created_in=merged)
        position = store.queue_place(session, job) if job.status == JobStatus.QUEUED.value else None
        active = eta and job.status in (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
        predicted = queue_etas(ctx, session, position or 0).get(job_id) if active else None
        return JobView.of(job, runs, position, predicted, run_labels(session, runs))


def _job(session: Session, job_id: str) -> JobRow:
    check_line(job_id, "job_id")
    job = store.find_job(session, job_id)
    if job is None:
        raise NotFound(f"no job with id {job_id!r}; see `cosmos queue list --all`")
    return job


def is_paused(ctx: Context) -> bool:
    """Whether the queue is paused (one row read, for a view that asks often)."""
    with ctx.db.read() as session:
        return store.is_paused(session)


def queue_status(ctx: Context) -> QueueStatus:
    with ctx.db.read() as session:
        jobs = store.job_counts(session)
        runs = run_counts(session)
        paused = store.is_paused(session)
    return QueueStatus(
        paused=paused,
        **{status.value: jobs.get(status.value, 0) for status in JobStatus},
        runs_queued=runs.get(RunStatus.QUEUED.value, 0),
        runs_running=runs.get(RunStatus.RUNNING.value, 0),
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
            cancel_queued(session, job)
        elif job.status == JobStatus.RUNNING.value:
            store.request_cancel(session, job)
        else:
            raise Conflict(
                f"job {job_id} is {job.status}; only queued or running jobs can be cancelled"
            )
    return get_job(ctx, job_id)


def cancel_queued(session: Session, job: JobRow) -> None:
    """Cancel a queued job and its runs at once (nothing runs it yet)."""
    stamp = now()
    store.set_job_status(
        session, job, JobStatus.CANCELLED, reason="cancelled by user", finished_at=stamp
    )
    set_runs_status(session, job.id, RunStatus.CANCELLED, finished_at=stamp)


def move_job(
    ctx: Context,
    job_id: str,
    where: Literal["top", "bottom", "before"],
    other_job_id: str | None = None,
) -> JobView:
    """Move a queued job; one update of its sparse position (priority still orders first).
    A move that renumbers every position can meet batching's locks: it is run again if
    PostgreSQL picks it as a deadlock victim."""

    def move(session: Session) -> None:
        job = _job(session, job_id)
        if job.status != JobStatus.QUEUED.value:
            raise Conflict(f"job {job_id} is {job.status}; only queued jobs can be moved")
        if where == "top":
            position = store.position_at_top(session)
        elif where == "bottom":
            position = store.position_at_bottom(session)
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
            position = store.position_before(session, other)
        store.move_to(session, job, position, where, other_job_id)

    ctx.db.write_retrying(move, what="queue move")
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
        runs = runs_to_retry(session, job_id)
        if not runs:
            where = f" ({job.error})" if job.error and "split into" in job.error else ""
            raise Conflict(f"job {job_id} has no failed or cancelled run to retry{where}")
        stamp = now()
        job_row = store.new_job_row(
            kind=job.kind,
            backend=job.backend,
            priority=job.priority,
            position=store.position_at_bottom(session),
            max_attempts=job.max_attempts,
            predicted_seconds=_share(
                job.predicted_seconds, len(runs), len(runs_of_job(session, job_id))
            ),
            gpu_batch_size=min(job.gpu_batch_size, len(runs)),
            retry_of_job_id=job.id,
        )
        run_rows = [
            new_run_row(
                job_id=job_row["id"],
                prompt_id=run.prompt_id,
                kind=run.kind,
                weights=dict(run.weights),
                params=dict(run.params),
                index=index,
                created_at=stamp,
                predicted_seconds=run.predicted_seconds,
                parent_run_id=run.parent_run_id,
                sweep_id=run.sweep_id,
            )
            for index, run in enumerate(runs)
        ]
        store.add_jobs(session, [job_row], run_rows)
        record_event(session, "job.retried", job_id=job_row["id"], retry_of=job.id)
    return EnqueueResult(
        job_id=job_row["id"], run_ids=[run["id"] for run in run_rows], created=True
    )


def _share(seconds: float | None, part: int, whole: int) -> float | None:
    """`part` of `whole` runs' share of a prediction (None stays None)."""
    return None if seconds is None else round(seconds * part / max(1, whole), 3)
