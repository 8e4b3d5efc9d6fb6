"""`cosmos batch ...`: analyse the queue into a plan, apply it, undo a batch."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cosmos_workflow.cli.common import JsonOption, console, context, emit, new_app, table

app = new_app("Smart batching: see what regrouping the queue would save, apply it, undo it.")


def _seconds(value: float) -> str:
    if value >= 3600:
        return f"{value / 3600:.1f} h"
    if value >= 60:
        return f"{value / 60:.1f} min"
    return f"{value:.0f} s"


def render_plan(plan: Any) -> None:
    if not plan.batches:
        console.print("The queue holds no batchable runs: there is nothing to batch.")
        return
    rows = []
    for index, batch in enumerate(plan.batches, start=1):
        rows.append(
            [
                index,
                len(batch.run_ids),
                len(batch.source_job_ids),
                "+".join(batch.controls),
                batch.backend,
                batch.priority,
                batch.gpu_batch_size,
                _seconds(batch.predicted_seconds),
                f"{batch.predicted_memory_gb:.0f} GB",
                "unchanged"
                if batch.unchanged
                else ("CHANGES OUTPUTS" if batch.changes_outputs else "new"),
            ]
        )
    console.print(
        table(
            f"Plan {plan.plan_id} ({plan.mode}, GPU profile {plan.gpu_profile})",
            [
                "batch",
                "runs",
                "from jobs",
                "controls",
                "backend",
                "prio",
                "GPU batch",
                "predicted",
                "memory",
                "change",
            ],
            rows,
        )
    )
    source = "calibrated on measured timings" if plan.calibrated else "default cost model"
    console.print(
        f"predicted GPU time: {_seconds(plan.predicted_seconds_before)} now -> "
        f"{_seconds(plan.predicted_seconds_after)} with the plan; "
        f"[bold]speedup {plan.speedup:.2f}x[/bold], {plan.loads_avoided} model load(s) avoided "
        f"({source}, predicted)"
    )
    if plan.applied_at is None:
        console.print(f"apply it with: cosmos batch apply {plan.plan_id}")


@app.command("analyze")
def analyze(
    mode: Annotated[
        str | None, typer.Option(help="strict, mixed or auto (default: config).")
    ] = None,
    max_batch_size: Annotated[
        int | None, typer.Option(help="At most this many runs per batch.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Plan the queued runs into batches and store the plan (nothing changes yet)."""
    from cosmos_workflow.services import batching

    plan = batching.analyze(context(), mode=mode, max_batch_size=max_batch_size)
    emit(plan, as_json, render_plan)


@app.command("show")
def show(
    plan_id: Annotated[str | None, typer.Argument()] = None, as_json: JsonOption = False
) -> None:
    """Show a stored plan (the newest by default)."""
    from cosmos_workflow.services import batching

    emit(batching.get_plan(context(), plan_id), as_json, render_plan)


@app.command("apply")
def apply(
    plan_id: Annotated[str | None, typer.Argument()] = None, as_json: JsonOption = False
) -> None:
    """Apply a plan in one transaction; a plan made before the queue changed is refused."""
    from cosmos_workflow.services import batching

    result = batching.apply_plan(context(), plan_id)
    emit(
        result,
        as_json,
        lambda r: console.print(
            f"applied plan {r.plan_id}: {len(r.created_job_ids)} batch job(s) created, "
            f"{len(r.merged_job_ids)} job(s) merged into them"
        ),
    )


@app.command("undo")
def undo(batch_job_id: str, as_json: JsonOption = False) -> None:
    """Give a not-yet-started batch's runs back to their original jobs."""
    from cosmos_workflow.services import batching

    result = batching.undo_batch(context(), batch_job_id)
    emit(
        result,
        as_json,
        lambda r: console.print(
            f"undid batch {r.batch_job_id}: restored {len(r.restored_job_ids)} job(s)"
        ),
    )
