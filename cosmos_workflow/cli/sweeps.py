"""`cosmos sweep ...` and `cosmos sweeps ...`: queue a grid of weights and seeds as one named
sweep, then list, show and cancel sweeps."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

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
    table,
    when,
)

app = new_app("Sweeps: list, show and cancel grids of weights and seeds queued as one unit.")


def sweep(
    prompt_ids: Annotated[list[str], typer.Argument(help="The prompts every combination runs.")],
    weights: Annotated[
        list[str],
        typer.Option(
            "--weights",
            "-w",
            help="An axis per control: depth=0.2:0.8:0.2 (start:stop:step) or seg=0.3,0.6.",
        ),
    ],
    seeds: Annotated[
        str | None, typer.Option(help="Seeds as 1,2,3 or a range 1:4 (default: one seed).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="The sweep's name (default: dated).")] = None,
    steps: StepsOption = None,
    guidance: GuidanceOption = None,
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
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Queue it even above max_sweep_runs.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what it would queue; change nothing.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Queue prompts x weight axes x seeds as one named sweep: prints how many runs, the
    predicted GPU time and finish, then queues (above max_sweep_runs only with --yes)."""
    from cosmos_workflow.domain.sweeps import parse_axis
    from cosmos_workflow.services import sweeps

    params = job_params(
        backend=backend,
        steps=steps,
        guidance=guidance,
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
    request = sweeps.build_sweep(
        prompt_ids,
        [parse_axis(axis) for axis in weights],
        seeds=seeds,
        params=params,
        name=name,
        priority=priority,
    )
    ctx = context()
    preview = sweeps.queue_sweep(ctx, request, dry_run=True)
    if not as_json:
        _print_preview(preview.preview)
    if dry_run:
        emit(preview, as_json, lambda _: console.print("dry run: nothing was queued"))
        return
    result = sweeps.queue_sweep(ctx, request, confirm=yes)
    emit(result, as_json, _print_queued)


def _print_preview(p: Any) -> None:
    axes = " x ".join(f"{len(v)} {c}" for c, v in p.axes.items())
    seeds = f" x {len(p.seeds)} seeds" if p.seeds else ""
    skipped = f" ({p.skipped} all-zero combination(s) left out)" if p.skipped else ""
    console.print(
        f"sweep {escape(p.name)}: {p.prompts} prompt(s) x {axes}{seeds} = "
        f"[bold]{p.runs} runs[/bold] in {p.jobs} job(s){skipped}"
    )
    gpu = _duration(p.predicted_gpu_seconds) if p.predicted_gpu_seconds else "unknown"
    finish = when(p.predicted_finish_at) if p.predicted_finish_at else "unknown"
    console.print(
        f"predicted GPU time {gpu} as queued (for {p.predicted_for}; `cosmos batch analyze` "
        f"can regroup it), finish around {finish}"
    )
    if p.over_limit:
        console.print(f"[yellow]above max_sweep_runs ({p.limit})[/yellow]")
    if p.duplicates:
        console.print(
            f"[yellow]{p.duplicates} combination(s) render the same video as another: Cosmos 3 "
            "normalises the control weights to sum 1, so only their proportions count[/yellow]"
        )


def _print_queued(result: Any) -> None:
    view = result.sweep
    console.print(
        f"queued sweep [bold]{escape(view.name)}[/bold] ({view.id}): {view.runs} runs in "
        f"{len(result.job_ids)} job(s); review it with `cosmos review {view.id}`"
    )


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "-"


def _render_sweeps(views: list[Any]) -> None:
    console.print(
        table(
            "Sweeps",
            ["id", "name", "status", "runs", "by status", "axes", "seeds", "created"],
            (
                [
                    v.id,
                    v.name,
                    v.status,
                    v.runs,
                    _counts(v.counts),
                    " x ".join(f"{c}={','.join(f'{x:g}' for x in xs)}" for c, xs in v.axes.items()),
                    ",".join(str(s) for s in v.seeds) or "-",
                    when(v.created_at),
                ]
                for v in views
            ),
        )
    )


@app.command("list")
def list_(
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Sweeps, newest first, with their runs counted by status."""
    from cosmos_workflow.services import sweeps

    result = sweeps.list_sweeps(context(), limit=limit)
    emit(result, as_json, lambda r: _render_sweeps(r.sweeps))


@app.command("show")
def show(id_or_name: str, as_json: JsonOption = False) -> None:
    """One sweep and its runs."""
    from cosmos_workflow.cli.runs import render_runs
    from cosmos_workflow.services import runs, sweeps

    ctx = context()
    view = sweeps.get_sweep(ctx, id_or_name)
    listed = runs.list_runs(ctx, sweep=view.id, limit=10_000)

    def render(_: Any) -> None:
        _render_sweeps([view])
        render_runs(listed.runs, title=f"Runs of {view.name}")

    data = {
        "sweep": view.model_dump(mode="json"),
        "runs": [r.model_dump(mode="json") for r in listed.runs],
    }
    emit(data, as_json, render)


@app.command("cancel")
def cancel(id_or_name: str, as_json: JsonOption = False) -> None:
    """Cancel a sweep's unfinished runs as a unit (running work of other sweeps is kept)."""
    from cosmos_workflow.services import sweeps

    result = sweeps.cancel_sweep(context(), id_or_name)

    def render(r: Any) -> None:
        console.print(
            f"sweep {escape(r.sweep.name)}: {r.cancelled_runs} queued run(s) cancelled, "
            f"{len(r.stopping_jobs)} running job(s) asked to stop"
        )
        for job_id in r.shared_running_jobs:
            console.print(
                f"job {job_id} also runs other work: it finishes, with this sweep's runs in it"
            )

    emit(result, as_json, render)
