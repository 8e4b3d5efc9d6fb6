"""The REST routes. Each one calls the same service function the CLI calls, nothing else.

Every route names its `operation_id` (part of the API's contract: clients generated from
/openapi.json use it, so it never follows a Python function's name) and its answer: a service's
view model, a file or a stream with its media type, and the errors it can give (api/errors.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi import Path as InPath
from fastapi.responses import FileResponse, PlainTextResponse, StreamingResponse

from cosmos_workflow import __version__, defaults
from cosmos_workflow.api import models
from cosmos_workflow.api.errors import error_responses
from cosmos_workflow.api.files import IMAGE_TYPES, VIDEO_TYPES, confined_file, media_type_of
from cosmos_workflow.api.models import NO_NUL
from cosmos_workflow.api.review_routes import add_review_routes
from cosmos_workflow.api.stream import event_stream, frame_schema, start_of_stream
from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.domain.text import MAX_NAME_CHARS, MAX_SEARCH_CHARS
from cosmos_workflow.services import (
    batching,
    fleet,
    inputs,
    prompts,
    queue,
    runs,
    sweeps,
    verdicts,
    workers,
)
from cosmos_workflow.services.batching import ApplyResult, PlanView, UndoResult
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.events import MAX_EVENT_ID
from cosmos_workflow.services.inputs import InputRemoval
from cosmos_workflow.services.prompts import PromptDeletion
from cosmos_workflow.services.runs import RunList
from cosmos_workflow.services.verdicts import VerdictView
from cosmos_workflow.services.views import (
    EnqueueResult,
    ImportResult,
    InputView,
    JobList,
    JobView,
    PromptView,
    QueueStatus,
    RunView,
)
from cosmos_workflow.services.workers import WorkerView

if TYPE_CHECKING:
    from cosmos_workflow.worker.embedded import EmbeddedWorker

Limit = Annotated[int, Query(ge=1, le=10_000, description="At most this many items.")]
Offset = Annotated[
    int, Query(ge=0, le=defaults.MAX_LIST_OFFSET, description="Skip this many items.")
]
# Path ids and names: NUL refused (models.NO_NUL), no longer than a name may be.
Id = Annotated[str, InPath(pattern=NO_NUL, max_length=MAX_NAME_CHARS)]


def text_query(description: str | None = None, max_chars: int = MAX_NAME_CHARS) -> Any:
    """An optional query string, NUL refused like every string the API takes."""
    return Query(pattern=NO_NUL, max_length=max_chars, description=description)


OptionalText = Annotated[str | None, text_query()]


# Routes that answer a file, text or a stream name a response class without a media type
# (FileResponse, Response), so FastAPI documents their errors as JSON, which they are, and
# their 200 with the media types given here.
def _file_answer(media_types: tuple[str, ...]) -> dict[int | str, dict[str, Any]]:
    """A file route's 200 (the media types it may send) and its errors."""
    content = {media: {"schema": {"type": "string", "format": "binary"}} for media in media_types}
    return {
        200: {"content": content, "description": "The file."},
        **error_responses(403, 404, 422),
    }


TEXT_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "The log."},
    **error_responses(404, 422),
}


EXISTING_JOB: dict[int | str, dict[str, Any]] = {
    200: {
        "model": EnqueueResult,
        "description": "The idempotency key was used before: the job it created, unchanged "
        "(`created` is false).",
    }
}


def build_router(ctx: Context, worker: EmbeddedWorker | None = None) -> APIRouter:
    router = APIRouter(prefix="/api")
    _system_routes(router, ctx, worker)
    _input_routes(router, ctx)
    _prompt_routes(router, ctx)
    _queue_routes(router, ctx)
    _batch_routes(router, ctx)
    _run_routes(router, ctx)
    _sweep_routes(router, ctx)
    add_review_routes(router, ctx)
    _event_routes(router, ctx)
    return router


def _system_routes(router: APIRouter, ctx: Context, worker: EmbeddedWorker | None) -> None:
    @router.get("/health", tags=["system"], operation_id="get_health", responses=error_responses())
    def health() -> models.Health:
        """Liveness plus what a user must know: is work real or simulated, is a worker alive."""
        alive = [w for w in workers.list_workers(ctx) if w.alive]
        return models.Health(
            status="ok",
            version=__version__,
            database="sqlite" if ctx.db.is_sqlite else "postgresql",
            paused=queue.queue_status(ctx).paused,
            workers_alive=len(alive),
            simulated=any(w.simulate for w in alive),
        )

    @router.get(
        "/workers", tags=["system"], operation_id="list_workers", responses=error_responses(422)
    )
    def list_workers(include_stopped: bool = False) -> list[WorkerView]:
        return workers.list_workers(ctx, include_stopped=include_stopped)

    @router.get(
        "/fleet", tags=["system"], operation_id="get_fleet", responses=error_responses(400, 422)
    )
    def get_fleet(
        hours: Annotated[float, Query(gt=0, le=fleet.MAX_HOURS)] = 6.0,
    ) -> fleet.FleetView:
        """Every host and GPU slot: its profile and devices, its worker, the job it runs with
        progress and ETA, its idle time, and a timeline of the last `hours` and the jobs the
        ETA places on it next."""
        return fleet.fleet_view(ctx, hours=hours)

    @router.get(
        "/worker",
        tags=["system"],
        operation_id="get_embedded_worker",
        responses=error_responses(),
    )
    def embedded_worker() -> models.EmbeddedWorkerStatus:
        """This server's own worker: running, restarting after an error, or none (`--no-worker`)."""
        return models.EmbeddedWorkerStatus.of(worker)


def _input_routes(router: APIRouter, ctx: Context) -> None:
    @router.get("/inputs", tags=["inputs"], operation_id="list_inputs", responses=error_responses())
    def list_inputs() -> list[InputView]:
        return inputs.list_inputs(ctx)

    @router.post(
        "/inputs",
        status_code=201,
        tags=["inputs"],
        operation_id="create_input",
        responses=error_responses(400, 422),
    )
    def add_input(body: models.InputCreate) -> InputView:
        """Register an input folder; it must lie under a configured input root."""
        return inputs.add_input(
            ctx,
            Path(body.path),
            name=body.name,
            video=Path(body.video) if body.video else None,
        )

    @router.get(
        "/inputs/{name_or_id}",
        tags=["inputs"],
        operation_id="get_input",
        responses=error_responses(404, 422),
    )
    def show_input(name_or_id: Id) -> InputView:
        return inputs.show_input(ctx, name_or_id)

    @router.get(
        "/inputs/{name_or_id}/thumbnail",
        tags=["inputs"],
        operation_id="get_input_thumbnail",
        response_class=FileResponse,
        responses=_file_answer(IMAGE_TYPES),
    )
    def input_thumbnail(name_or_id: Id) -> FileResponse:
        view = inputs.show_input(ctx, name_or_id)
        path = confined_file(ctx, view.thumbnail_path, f"thumbnail of input {view.id}")
        return FileResponse(path, media_type=media_type_of(path))

    @router.post(
        "/inputs/{name_or_id}/rename",
        tags=["inputs"],
        operation_id="rename_input",
        responses=error_responses(404, 409, 422),
    )
    def rename_input(name_or_id: Id, body: models.InputRename) -> InputView:
        """Rename an input (409 naming the input that has the name already)."""
        return inputs.rename_input(ctx, name_or_id, body.name)

    @router.delete(
        "/inputs/{name_or_id}",
        tags=["inputs"],
        operation_id="delete_input",
        responses=error_responses(404, 409, 422),
    )
    def remove_input(name_or_id: Id, force: bool = False, dry_run: bool = False) -> InputRemoval:
        """Remove an input; its folder stays. 409 while queued or running work uses it, and,
        unless force, while it has prompts or runs (which force deletes too); dry_run answers
        what would go and changes nothing."""
        return inputs.remove_input(ctx, name_or_id, force=force, dry_run=dry_run)


def _prompt_routes(router: APIRouter, ctx: Context) -> None:
    @router.get(
        "/prompts",
        tags=["prompts"],
        operation_id="list_prompts",
        responses=error_responses(404, 422),
    )
    def list_prompts(
        input: OptionalText = None, limit: Limit = 1000, offset: Offset = 0
    ) -> list[PromptView]:
        return prompts.list_prompts(ctx, input_name_or_id=input, limit=limit, offset=offset)

    @router.get(
        "/prompts/search",
        tags=["prompts"],
        operation_id="search_prompts",
        responses=error_responses(422),
    )
    def search_prompts(
        q: Annotated[str, text_query("Words to look for.", MAX_SEARCH_CHARS)], limit: Limit = 100
    ) -> list[PromptView]:
        return prompts.search_prompts(ctx, q, limit=limit)

    @router.post(
        "/prompts",
        status_code=201,
        tags=["prompts"],
        operation_id="create_prompt",
        responses=error_responses(400, 404, 422),
    )
    def create_prompt(body: models.PromptCreate) -> PromptView:
        return prompts.create_prompt(
            ctx, body.input, body.text, name=body.name, negative=body.negative
        )

    @router.get(
        "/prompts/{prompt_id}",
        tags=["prompts"],
        operation_id="get_prompt",
        responses=error_responses(404, 422),
    )
    def show_prompt(prompt_id: Id) -> PromptView:
        return prompts.get_prompt(ctx, prompt_id)

    @router.delete(
        "/prompts/{prompt_id}",
        tags=["prompts"],
        operation_id="delete_prompt",
        responses=error_responses(404, 409, 422),
    )
    def delete_prompt(prompt_id: Id, force: bool = False, dry_run: bool = False) -> PromptDeletion:
        """Refused (409) while the prompt has queued or running work, unless force."""
        return prompts.delete_prompt(ctx, prompt_id, force=force, dry_run=dry_run)

    @router.post(
        "/prompts/{prompt_id}/enhance",
        status_code=201,
        tags=["prompts"],
        operation_id="enhance_prompt",
        responses=error_responses(400, 404, 409, 422),
    )
    def enhance_prompt(prompt_id: Id, body: models.PriorityRequest | None = None) -> EnqueueResult:
        """Queue prompt enhancement; it produces a new prompt linked to this one."""
        priority = body.priority if body else 0
        return queue.enqueue_enhance(ctx, prompt_id, priority=priority)


def _request_of(job: models.JobCreate) -> queue.JobRequest:
    return queue.build_request(
        job.prompt_ids,
        job.weights,
        job.params.given(),
        priority=job.priority,
        idempotency_key=job.idempotency_key,
    )


def _queue_routes(router: APIRouter, ctx: Context) -> None:
    @router.post(
        "/queue",
        status_code=201,
        tags=["queue"],
        operation_id="create_job",
        responses={**EXISTING_JOB, **error_responses(400, 404, 409, 422)},
        response_description="The job was created (`created` is true).",
    )
    def add_job(body: models.JobCreate, response: Response) -> EnqueueResult:
        """Queue one job holding one run per prompt (as `cosmos queue add`). 201 when a job was
        created; 200 when `idempotency_key` matched an earlier job, which is returned as is."""
        result = queue.enqueue(ctx, _request_of(body))
        if not result.created:
            response.status_code = 200
        return result

    @router.post(
        "/queue/bulk",
        status_code=201,
        tags=["queue"],
        operation_id="create_jobs",
        responses=error_responses(400, 404, 409, 422),
    )
    def add_jobs(body: models.BulkCreate) -> ImportResult:
        """Queue many jobs in one transaction: every job valid or nothing is queued. Jobs whose
        idempotency key was used before are skipped (not listed in `job_ids`)."""
        requests = []
        for index, job in enumerate(body.jobs):
            try:
                requests.append(_request_of(job))
            except InvalidInput as exc:
                field = f"jobs.{index}.{exc.field}" if exc.field else f"jobs.{index}"
                raise InvalidInput(f"job {index}: {exc.message}", field=field) from None
        return queue.enqueue_many(ctx, requests)

    @router.get(
        "/queue",
        tags=["queue"],
        operation_id="list_queue",
        responses=error_responses(422),
    )
    def list_queue(history: bool = False, limit: Limit = 100, offset: Offset = 0) -> JobList:
        """Jobs in execution order with their 1-based position; `history` adds finished ones."""
        return queue.list_queue(ctx, include_history=history, limit=limit, offset=offset)

    @router.get(
        "/queue/status",
        tags=["queue"],
        operation_id="get_queue_status",
        responses=error_responses(),
    )
    def queue_status() -> QueueStatus:
        return queue.queue_status(ctx)

    @router.post(
        "/queue/pause", tags=["queue"], operation_id="pause_queue", responses=error_responses()
    )
    def pause() -> QueueStatus:
        """Claim nothing new until resumed; stored, so it survives restarts."""
        return queue.set_paused(ctx, True)

    @router.post(
        "/queue/resume", tags=["queue"], operation_id="resume_queue", responses=error_responses()
    )
    def resume() -> QueueStatus:
        return queue.set_paused(ctx, False)

    @router.get(
        "/jobs/{job_id}",
        tags=["queue"],
        operation_id="get_job",
        responses=error_responses(404, 422),
    )
    def show_job(job_id: Id) -> JobView:
        return queue.get_job(ctx, job_id)

    @router.post(
        "/jobs/{job_id}/cancel",
        tags=["queue"],
        operation_id="cancel_job",
        responses=error_responses(404, 409, 422),
    )
    def cancel_job(job_id: Id) -> JobView:
        return queue.cancel_job(ctx, job_id)

    @router.post(
        "/jobs/{job_id}/move",
        tags=["queue"],
        operation_id="move_job",
        responses=error_responses(400, 404, 409, 422),
    )
    def move_job(job_id: Id, body: models.MoveRequest) -> JobView:
        return queue.move_job(ctx, job_id, body.where, body.before)

    @router.post(
        "/jobs/{job_id}/retry",
        status_code=201,
        tags=["queue"],
        operation_id="retry_job",
        responses=error_responses(404, 409, 422),
    )
    def retry_job(job_id: Id) -> EnqueueResult:
        return queue.retry_job(ctx, job_id)

    @router.get(
        "/jobs/{job_id}/log",
        tags=["queue"],
        operation_id="get_job_log",
        response_class=Response,
        responses=TEXT_ANSWER,
    )
    def job_log(
        job_id: Id, tail: Annotated[int | None, Query(ge=1, le=100_000)] = None
    ) -> PlainTextResponse:
        return PlainTextResponse(runs.job_log(ctx, job_id, tail))


def _batch_routes(router: APIRouter, ctx: Context) -> None:
    @router.post(
        "/batch/analyze",
        tags=["batching"],
        operation_id="analyze_queue",
        responses=error_responses(400, 422),
    )
    def analyze(body: models.AnalyzeRequest | None = None) -> PlanView:
        """Plan the queued runs into batches for the fleet and store the plan; nothing else
        changes. The plan minimises the predicted drain time, then GPU time, then model loads,
        and reports both before and after and the lower bound no plan can beat. Every batch
        carries its output verdict (identical, verified or may_differ) and the reason, and its
        predicted slot, start and finish."""
        body = body or models.AnalyzeRequest()
        return batching.analyze(
            ctx,
            mode=body.mode,
            max_batch_size=body.max_batch_size,
            allow_output_changes=body.allow_output_changes,
            slots=body.slots,
            fleet=body.fleet,
        )

    @router.get(
        "/batch/plan",
        tags=["batching"],
        operation_id="get_plan",
        responses=error_responses(404, 422),
    )
    def show_plan(plan_id: OptionalText = None) -> PlanView:
        """A stored plan; the newest when no id is given."""
        return batching.get_plan(ctx, plan_id)

    @router.post(
        "/batch/apply",
        tags=["batching"],
        operation_id="apply_plan",
        responses=error_responses(400, 404, 409, 422),
    )
    def apply(body: models.ApplyRequest | None = None) -> ApplyResult:
        """Apply a plan atomically; 409 when the queue changed since it was analysed. With
        `rebase`, runs claimed or finished meanwhile are dropped from it and the rest is
        applied; the result lists them and the batches that shrank or vanished."""
        body = body or models.ApplyRequest()
        return batching.apply_plan(ctx, body.plan_id, rebase=body.rebase)

    @router.get(
        "/batch/verdicts",
        tags=["batching"],
        operation_id="list_verdicts",
        responses=error_responses(),
    )
    def list_verdicts() -> list[VerdictView]:
        """What `cosmos verify-batching` measured: which kinds of batch keep outputs where."""
        return verdicts.list_verdicts(ctx)

    @router.post(
        "/batch/undo",
        tags=["batching"],
        operation_id="undo_batch",
        responses=error_responses(400, 404, 409, 422),
    )
    def undo(body: models.UndoRequest) -> UndoResult:
        return batching.undo_batch(ctx, body.batch_job_id)


def _run_routes(router: APIRouter, ctx: Context) -> None:
    @router.get(
        "/runs",
        tags=["runs"],
        operation_id="list_runs",
        responses=error_responses(404, 422),
    )
    def list_runs(
        status: OptionalText = None,
        job_id: OptionalText = None,
        prompt_id: OptionalText = None,
        controls: Annotated[str | None, text_query("A control set like depth+edge.")] = None,
        rating: Annotated[int | None, Query(ge=1, le=5)] = None,
        since: Annotated[
            float | None,
            Query(
                ge=0, le=1e11, allow_inf_nan=False, description="UNIX time: created at or after."
            ),
        ] = None,
        sweep: Annotated[str | None, text_query("A sweep's id or name.")] = None,
        picked: bool | None = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> RunList:
        return runs.list_runs(
            ctx,
            status=status,
            job_id=job_id,
            prompt_id=prompt_id,
            controls=controls,
            rating=rating,
            since=since,
            sweep=sweep,
            picked=picked,
            limit=limit,
            offset=offset,
        )

    @router.get(
        "/runs/{run_id}",
        tags=["runs"],
        operation_id="get_run",
        responses=error_responses(404, 422),
    )
    def show_run(run_id: Id) -> RunView:
        return runs.get_run(ctx, run_id)

    @router.post(
        "/runs/{run_id}/rating",
        tags=["runs"],
        operation_id="rate_run",
        responses=error_responses(400, 404, 422),
    )
    def rate_run(run_id: Id, body: models.RatingRequest) -> RunView:
        return runs.rate_run(ctx, run_id, body.rating)

    @router.post(
        "/runs/{run_id}/upscale",
        status_code=201,
        tags=["runs"],
        operation_id="upscale_run",
        responses=error_responses(400, 404, 409, 422),
    )
    def upscale_run(run_id: Id, body: models.UpscaleRequest | None = None) -> EnqueueResult:
        """Queue a 4K upscale of a finished run (never batched)."""
        body = body or models.UpscaleRequest()
        return queue.enqueue_upscale(ctx, run_id, weight=body.weight, priority=body.priority)

    @router.get(
        "/runs/{run_id}/video",
        tags=["runs"],
        operation_id="get_run_video",
        response_class=FileResponse,
        responses=_file_answer(VIDEO_TYPES),
    )
    def run_video(run_id: Id) -> FileResponse:
        """The output video; served only from under COSMOS_HOME."""
        view = runs.get_run(ctx, run_id)
        path = confined_file(ctx, view.output_path, f"output video of run {run_id}")
        return FileResponse(path, media_type=media_type_of(path), filename=path.name)

    @router.get(
        "/runs/{run_id}/thumbnail",
        tags=["runs"],
        operation_id="get_run_thumbnail",
        response_class=FileResponse,
        responses=_file_answer(IMAGE_TYPES),
    )
    def run_thumbnail(run_id: Id) -> FileResponse:
        view = runs.get_run(ctx, run_id)
        path = confined_file(ctx, view.thumbnail_path, f"thumbnail of run {run_id}")
        return FileResponse(path, media_type=media_type_of(path))

    @router.get(
        "/runs/{run_id}/log",
        tags=["runs"],
        operation_id="get_run_log",
        response_class=Response,
        responses=TEXT_ANSWER,
    )
    def run_log(
        run_id: Id, tail: Annotated[int | None, Query(ge=1, le=100_000)] = None
    ) -> PlainTextResponse:
        """The log of the job that ran (or runs) this run."""
        view = runs.get_run(ctx, run_id)
        return PlainTextResponse(runs.job_log(ctx, view.job_id, tail))


def _event_routes(router: APIRouter, ctx: Context) -> None:
    @router.get(
        "/events",
        tags=["events"],
        operation_id="stream_events",
        response_class=Response,
        responses={
            200: {
                "content": {"text/event-stream": {"schema": frame_schema()}},
                "description": "Frames `id: N` / `data: {event as JSON}`, one per event.",
            },
            **error_responses(422),
        },
    )
    async def stream_events(
        request: Request,
        after: Annotated[
            int | None, Query(ge=0, le=MAX_EVENT_ID, description="Send events after this id.")
        ] = None,
        follow: Annotated[bool, Query(description="Keep the stream open for new events.")] = True,
        job_id: OptionalText = None,
        kinds: Annotated[
            str | None, text_query("Comma-separated kinds, e.g. job.log", MAX_SEARCH_CHARS)
        ] = None,
        last_event_id: Annotated[
            str | None,
            Header(
                alias="Last-Event-ID",
                max_length=40,
                description=f"Resume after this event id (0 to {MAX_EVENT_ID}); wins over `after`.",
            ),
        ] = None,
    ) -> StreamingResponse:
        """Server-sent events (job and run state changes, progress, log lines), each with its
        monotonic id. Reconnecting with `Last-Event-ID` (or `?after=`) sends what was missed;
        with neither, the stream starts at the newest event."""
        start = _start_id(last_event_id, after)
        if start is None:
            # The newest id is a database read: off the event loop, like every read the
            # stream makes, so one slow database cannot stall every other request.
            start = await start_of_stream(ctx)
        wanted = frozenset(k.strip() for k in kinds.split(",") if k.strip()) if kinds else None
        frames = event_stream(
            ctx,
            start,
            follow=follow,
            job_id=job_id,
            kinds=wanted,
            disconnected=request.is_disconnected,
        )
        return StreamingResponse(
            frames,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


def _start_id(last_event_id: str | None, after: int | None) -> int | None:
    """The header wins: a reconnecting EventSource sends it while its URL keeps the old `after`."""
    if last_event_id is None or not last_event_id.strip():
        return after
    try:
        value = int(last_event_id.strip())
    except ValueError:
        raise InvalidInput(
            "Last-Event-ID must be an event id (a whole number)", field="Last-Event-ID"
        ) from None
    if not 0 <= value <= MAX_EVENT_ID:
        raise InvalidInput(f"Last-Event-ID must be 0 to {MAX_EVENT_ID}", field="Last-Event-ID")
    return value


def _sweep_request(body: models.SweepCreate) -> sweeps.SweepRequest:
    return sweeps.build_sweep(
        body.prompt_ids,
        sweeps.axes_from_mapping(body.weights),
        seeds=body.seeds,
        params=body.params.given(),
        name=body.name,
        priority=body.priority,
    )


def _sweep_routes(router: APIRouter, ctx: Context) -> None:
    @router.post(
        "/sweeps",
        status_code=201,
        tags=["sweeps"],
        operation_id="create_sweep",
        responses=error_responses(400, 404, 409, 422),
        response_description="The sweep was queued (or, with dry_run, previewed).",
    )
    def create_sweep(body: models.SweepCreate, response: Response) -> sweeps.SweepResult:
        """Queue prompts x weight axes x seeds as one named sweep (as `cosmos sweep`). The
        preview says how many runs and the predicted GPU time and finish; above
        max_sweep_runs it is refused (422, field `confirm`) unless `confirm`. `dry_run`: 200
        with the preview only; nothing changes."""
        result = sweeps.queue_sweep(
            ctx, _sweep_request(body), confirm=body.confirm, dry_run=body.dry_run
        )
        if body.dry_run:
            response.status_code = 200
        return result

    @router.get(
        "/sweeps", tags=["sweeps"], operation_id="list_sweeps", responses=error_responses(422)
    )
    def list_sweeps(limit: Limit = 100, offset: Offset = 0) -> sweeps.SweepList:
        return sweeps.list_sweeps(ctx, limit=limit, offset=offset)

    @router.get(
        "/sweeps/{id_or_name}",
        tags=["sweeps"],
        operation_id="get_sweep",
        responses=error_responses(404, 422),
    )
    def get_sweep(id_or_name: Id) -> sweeps.SweepView:
        return sweeps.get_sweep(ctx, id_or_name)

    @router.post(
        "/sweeps/{id_or_name}/cancel",
        tags=["sweeps"],
        operation_id="cancel_sweep",
        responses=error_responses(400, 404, 409, 422),
    )
    def cancel_sweep(id_or_name: Id) -> sweeps.SweepCancel:
        """Cancel the sweep's unfinished runs as a unit; a running job that also holds other
        work is left to finish and listed in `shared_running_jobs`."""
        return sweeps.cancel_sweep(ctx, id_or_name)
