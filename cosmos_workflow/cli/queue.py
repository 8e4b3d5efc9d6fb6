"""`cosmos queue ...`: enqueue work and manage the queue."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from cosmos_workflow.cli.common import (
    BackendOption,
    BlurOption,
    CannyOption,
    CheckpointOption,
    ChunkFramesOption,
    ConditionalFramesOption,
    ControlGuidanceOption,
    DiffusionCacheOption,
    DistilledOption,
    FpsOption,
    GuidanceOption,
    JsonOption,
    MaxFramesOption,
    NumOutputsOption,
    PriorityOption,
    ResolutionOption,
    SamplerOption,
    ShiftOption,
    SigmaMaxOption,
    StepsOption,
    console,
    context,
    emit,
    job_params,
    new_app,
    ranges_text,
    table,
)

app = new_app("Queue inference and manage the queue: list, pause, cancel, move, retry.")


@app.command("add")
def add(
    prompt_ids: Annotated[list[str], typer.Argument(help="One run per prompt, in one job.")],
    weights: Annotated[str, typer.Option(help="Control weights, e.g. vis=0.3,edge=0.5.")] = (
        "edge=1.0"
    ),
    steps: StepsOption = None,
    guidance: GuidanceOption = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    sigma_max: SigmaMaxOption = None,
    fps: FpsOption = None,
    blur: BlurOption = None,
    canny: CannyOption = None,
    distilled: DistilledOption = False,
    priority: PriorityOption = 0,
    backend: BackendOption = "transfer1",
    checkpoint: CheckpointOption = None,
    sampler: SamplerOption = None,
    diffusion_cache: DiffusionCacheOption = None,
    control_guidance: ControlGuidanceOption = None,
    shift: ShiftOption = None,
    resolution: ResolutionOption = None,
    chunk_frames: ChunkFramesOption = None,
    conditional_frames: ConditionalFramesOption = None,
    max_frames: MaxFramesOption = None,
    num_outputs: NumOutputsOption = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Resubmitting the same key returns the same job.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Queue one job holding one run per prompt."""
    from cosmos_workflow.domain.controls import parse_weights_text
    from cosmos_workflow.services import queue

    params = job_params(
        backend=backend,
        steps=steps,
        guidance=guidance,
        seed=seed,
        sigma_max=sigma_max,
        fps=fps,
        blur=blur,
        canny=canny,
        distilled=distilled,
        checkpoint=checkpoint,
        sampler=sampler,
        diffusion_cache=diffusion_cache,
        control_guidance=control_guidance,
        shift=shift,
        resolution=resolution,
        chunk_frames=chunk_frames,
        conditional_frames=conditional_frames,
        max_frames=max_frames,
        num_outputs=num_outputs,
    )
    request = queue.build_request(
        prompt_ids,
        {c.value: w for c, w in parse_weights_text(weights).items()},
        params,
        priority=priority,
        idempotency_key=idempotency_key,
    )
    result = queue.enqueue(context(), request)
    data = {"job_id": result.job_id, "run_ids": result.run_ids, "created": result.created}
    emit(
        data,
        as_json,
        lambda d: console.print(
            f"{'queued' if d['created'] else 'already queued'} job [bold]{d['job_id']}[/bold] "
            f"with {len(d['run_ids'])} run(s)"
        ),
    )


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="JSONL: one job or one sweep per line.")],
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Queue sweeps even above max_sweep_runs.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Bulk enqueue: every line valid or nothing is queued. A line with a `sweep` object
    queues a sweep: {"sweep": {"weights": {"depth": "0.2:0.8:0.2"}, "seeds": [1, 2]},
    "prompt_ids": [...]}."""
    from cosmos_workflow.services import queue

    result = queue.import_jobs(context(), file, confirm=yes)
    emit(
        result,
        as_json,
        lambda r: console.print(f"queued {len(r.job_ids)} job(s) with {r.runs} run(s)"),
    )


def eta_text(job: Any, at: float) -> str:
    """`start -> finish` from now, as the fleet simulation predicts them (running: the finish)."""
    if job.eta_start_at is None:
        return ""
    finish = "?" if job.eta_finish_at is None else from_now(job.eta_finish_at - at)
    if job.status == "running":
        return f"done {finish}"
    return f"{from_now(job.eta_start_at - at)} -> {finish}"


def from_now(seconds: float) -> str:
    if seconds <= 1:
        return "now"
    if seconds >= 3600:
        return f"+{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"+{seconds / 60:.0f} min"
    return f"+{seconds:.0f} s"


def render_jobs(jobs: list[Any], predicted_for: str | None = None) -> None:
    rows = []
    at = time.time()
    for job in jobs:
        rows.append(
            [
                job.position or "",
                job.id,
                job.status,
                job.priority,
                job.kind,
                len(job.runs),
                ranges_text(job.weight_ranges),
                f"{job.predicted_seconds:.0f}s" if job.predicted_seconds else "",
                f"{job.eta_slot or ''} {eta_text(job, at)}".strip(),
            ]
        )
    headers = ["#", "job", "status", "prio", "kind", "runs", "weights (range)", "predicted"]
    title = f"Queue (predicted for {predicted_for})" if predicted_for else "Queue"
    console.print(table(title, [*headers, "ETA: slot start -> finish"], rows))


@app.command("list")
def list_(
    all_: Annotated[
        bool, typer.Option("--all", help="Include finished, failed, cancelled.")
    ] = False,
    limit: Annotated[int, typer.Option(help="At most this many jobs.")] = 100,
    offset: Annotated[int, typer.Option(help="Skip this many jobs.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Jobs in execution order."""
    from cosmos_workflow.services import queue

    result = queue.list_queue(context(), include_history=all_, limit=limit, offset=offset)
    emit(result, as_json, lambda r: render_jobs(r.jobs, r.predicted_for))


@app.command("status")
def status(as_json: JsonOption = False) -> None:
    """Counts of jobs per status and whether the queue is paused."""
    from cosmos_workflow.services import queue

    result = queue.queue_status(context())
    emit(
        result,
        as_json,
        lambda s: console.print(
            f"{'PAUSED' if s.paused else 'running'}: {s.queued} queued, {s.running} running, "
            f"{s.succeeded} succeeded, {s.failed} failed, {s.cancelled} cancelled "
            f"({s.runs_queued} runs queued)"
        ),
    )


@app.command("pause")
def pause(as_json: JsonOption = False) -> None:
    """Claim nothing new until resumed (a running job finishes); survives restarts."""
    from cosmos_workflow.services import queue

    emit(queue.set_paused(context(), True), as_json, lambda _: console.print("queue paused"))


@app.command("resume")
def resume(as_json: JsonOption = False) -> None:
    """Let workers claim jobs again."""
    from cosmos_workflow.services import queue

    emit(queue.set_paused(context(), False), as_json, lambda _: console.print("queue resumed"))


@app.command("cancel")
def cancel(job_id: str, as_json: JsonOption = False) -> None:
    """Cancel a queued job, or stop a running one (its process is killed)."""
    from cosmos_workflow.services import queue

    view = queue.cancel_job(context(), job_id)
    emit(
        view,
        as_json,
        lambda v: console.print(
            f"job {v.id}: {'cancel requested' if v.cancel_requested else v.status}"
        ),
    )


@app.command("move")
def move(
    job_id: str,
    top: Annotated[bool, typer.Option("--top", help="Run it next.")] = False,
    bottom: Annotated[bool, typer.Option("--bottom", help="Run it last.")] = False,
    before: Annotated[str | None, typer.Option(help="Run it right before this job.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Reorder a queued job (within its priority)."""
    from cosmos_workflow.services import queue

    if [top, bottom, before is not None].count(True) != 1:
        raise typer.BadParameter("give exactly one of --top, --bottom, --before JOB_ID")
    where: Literal["top", "bottom", "before"] = "top" if top else "bottom" if bottom else "before"
    view = queue.move_job(context(), job_id, where, before)
    emit(view, as_json, lambda v: console.print(f"job {v.id} is now #{v.position}"))


@app.command("retry")
def retry(job_id: str, as_json: JsonOption = False) -> None:
    """Queue a new job, linked to the failed or cancelled one."""
    from cosmos_workflow.services import queue

    result = queue.retry_job(context(), job_id)
    emit(result, as_json, lambda r: console.print(f"queued retry job {r.job_id}"))


@app.command("upscale")
def upscale(
    run_id: str,
    weight: Annotated[float, typer.Option(help="Upscale control weight.")] = 0.5,
    priority: Annotated[int, typer.Option(help="Higher runs first.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Queue a 4K upscale of a finished run (never batched)."""
    from cosmos_workflow.services import queue

    result = queue.enqueue_upscale(context(), run_id, weight=weight, priority=priority)
    emit(result, as_json, lambda r: console.print(f"queued upscale job {r.job_id}"))


@app.command("enhance")
def enhance(
    prompt_id: str,
    priority: Annotated[int, typer.Option(help="Higher runs first.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Queue prompt enhancement; the result is a new prompt linked to this one."""
    from cosmos_workflow.services import queue

    result = queue.enqueue_enhance(context(), prompt_id, priority=priority)
    emit(result, as_json, lambda r: console.print(f"queued enhance job {r.job_id}"))
