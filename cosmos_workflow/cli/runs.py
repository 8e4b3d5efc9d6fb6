"""`cosmos runs ...`, `cosmos job ...`, `cosmos logs`: what ran, how it went, and its log."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from cosmos_workflow.cli.common import (
    JsonOption,
    console,
    context,
    emit,
    new_app,
    ranges_text,
    shortened,
    table,
    weights_text,
)

runs_app = new_app("Runs: one output video each.")
job_app = new_app("Jobs: one model process each.")


def render_runs(runs: list[Any], title: str = "Runs") -> None:
    """Each run as what it is: its prompt, its own weights and seed, its status and sweep."""
    console.print(
        table(
            title,
            [
                "run",
                "status",
                "prompt",
                "weights",
                "seed",
                "sweep",
                "job",
                "rating",
                "output / error",
            ],
            (
                [
                    r.id,
                    r.status,
                    shortened(r.prompt_text) or r.prompt_id,
                    weights_text(r.weights),
                    "" if r.seed is None else r.seed,
                    r.sweep_name or "",
                    r.job_id,
                    ("*" * r.rating if r.rating else "") + (" picked" if r.picked else ""),
                    r.output_path or r.error or "",
                ]
                for r in runs
            ),
        )
    )


@runs_app.command("list")
def list_(
    status: Annotated[
        str | None, typer.Option(help="queued, running, succeeded, failed, cancelled.")
    ] = None,
    job: Annotated[str | None, typer.Option(help="Only this job's runs.")] = None,
    sweep: Annotated[str | None, typer.Option(help="Only this sweep's runs (id or name).")] = None,
    picked: Annotated[
        bool | None, typer.Option("--picked/--not-picked", help="Only picked (or unpicked) runs.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Runs, newest first."""
    from cosmos_workflow.services import runs

    result = runs.list_runs(
        context(), status=status, job_id=job, sweep=sweep, picked=picked, limit=limit
    )
    emit(result, as_json, lambda r: render_runs(r.runs))


@runs_app.command("show")
def show(run_id: str, as_json: JsonOption = False) -> None:
    """One run with its parameters, timings, output and error, and its guardrail posture."""
    from cosmos_workflow.services import runs

    def render(r: Any) -> None:
        console.print_json(r.model_dump_json())
        console.print(f"guardrails: {r.guardrails_text()}", soft_wrap=True)

    emit(runs.get_run(context(), run_id), as_json, render)


@runs_app.command("pick")
def pick(
    run_id: str,
    undo: Annotated[bool, typer.Option("--undo", help="Unpick the run.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Pick a run (the review export takes the picked runs)."""
    from cosmos_workflow.services import runs

    emit(
        runs.pick_run(context(), run_id, not undo),
        as_json,
        lambda r: console.print(f"run {r.id} {'picked' if r.picked else 'not picked'}"),
    )


@runs_app.command("rate")
def rate(
    run_id: str, rating: Annotated[int, typer.Argument(help="1 to 5.")], as_json: JsonOption = False
) -> None:
    """Rate a run's output from 1 to 5."""
    from cosmos_workflow.services import runs

    emit(
        runs.rate_run(context(), run_id, rating),
        as_json,
        lambda r: console.print(f"run {r.id} rated {r.rating}"),
    )


@job_app.command("show")
def job_show(job_id: str, as_json: JsonOption = False) -> None:
    """One job with its runs."""
    from cosmos_workflow.services import queue

    view = queue.get_job(context(), job_id)

    def render(v: Any) -> None:
        console.print(
            f"[bold]{v.id}[/bold] {v.kind} {v.status} priority={v.priority} "
            f"attempts={v.attempts} gpu_batch={v.gpu_batch_size} runs={len(v.runs)} "
            f"weights={ranges_text(v.weight_ranges)}"
        )
        if v.error:
            console.print(f"error: {v.error}")
        render_runs(v.runs)

    emit(view, as_json, render)


@job_app.command("render")
def job_render(
    job_id: str,
    out: Annotated[Path, typer.Option("--out", help="Folder to write the files into.")],
    host: Annotated[str | None, typer.Option(help="Render for this configured host.")] = None,
    target_dir: Annotated[
        str | None,
        typer.Option(help="The folder's absolute path on the target host (default: --out)."),
    ] = None,
    code_dir: Annotated[
        str | None,
        typer.Option(help="Absolute path of NVIDIA's checkout there (default: the host's)."),
    ] = None,
    stage: Annotated[
        bool, typer.Option("--stage", help="Also copy the input videos into the folder.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Write exactly what would be sent for a job: spec/JSONL files, argv.json, and a command.sh
    that runs it on the target host from any directory."""
    from cosmos_workflow.services import rendering

    result = rendering.render_job(
        context(),
        job_id,
        out,
        host_name=host,
        target_dir=target_dir,
        code_dir=code_dir,
        stage=stage,
    )
    emit(result, as_json, lambda r: console.print(f"wrote {len(r.files)} file(s) to {r.out}"))


def logs(
    job_id: str,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines.")
    ] = False,
    tail: Annotated[int | None, typer.Option(help="Only the last N lines.")] = None,
) -> None:
    """Print a job's log (every attempt)."""
    from cosmos_workflow.services import queue, runs

    ctx = context()
    typer.echo(runs.job_log(ctx, job_id, tail), nl=False)
    if not follow:
        return
    path = runs.job_log_path(ctx, job_id)
    offset = path.stat().st_size if path.exists() else 0
    while True:
        if path.exists() and path.stat().st_size > offset:
            with path.open(encoding="utf-8", errors="replace") as handle:
                handle.seek(offset)
                typer.echo(handle.read(), nl=False)
                offset = handle.tell()
        if queue.get_job(ctx, job_id).status not in ("queued", "running"):
            return
        time.sleep(0.5)
