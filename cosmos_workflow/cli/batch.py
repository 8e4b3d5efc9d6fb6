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


VERDICT_TEXT = {"identical": "identical", "verified": "verified", "may_differ": "MAY DIFFER"}


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
                "unchanged" if batch.unchanged else "new",
                VERDICT_TEXT.get(batch.verdict, batch.verdict),
                _placement(batch),
            ]
        )
    console.print(
        table(
            f"Plan {plan.plan_id} ({plan.mode}, {plan.slots} slot(s), "
            f"{'/'.join(plan.gpu_profiles) or plan.gpu_profile})",
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
                "outputs",
                "slot, start-finish",
            ],
            rows,
        )
    )
    _render_reasons(plan)
    source = "calibrated on measured timings" if plan.calibrated else "default cost model"
    console.print(
        f"predicted GPU time: {_seconds(plan.predicted_seconds_before)} now -> "
        f"{_seconds(plan.predicted_seconds_after)} with the plan; "
        f"[bold]speedup {plan.speedup:.2f}x[/bold], {plan.loads_avoided} model load(s) avoided "
        f"({source}, predicted)"
    )
    if plan.drain_seconds_after:
        console.print(_drain_text(plan))
    console.print(_rule_text(plan))
    if plan.applied_at is None:
        console.print(f"apply it with: cosmos batch apply {plan.plan_id}")


def _placement(batch: Any) -> str:
    if batch.slot is None or batch.predicted_start is None:
        return ""
    return f"{batch.slot}, {_seconds(batch.predicted_start)}-{_seconds(batch.predicted_finish)}"


def _drain_text(plan: Any) -> str:
    """The plan's figures on its fleet: drain time before and after, and the lower bound."""
    return (
        f"predicted drain time on {plan.slots} slot(s): "
        f"{_seconds(plan.drain_seconds_before)} now -> {_seconds(plan.drain_seconds_after)} "
        f"with the plan ([bold]{plan.drain_speedup:.2f}x[/bold]); no plan can drain it in less "
        f"than {_seconds(plan.lower_bound_seconds)} (this plan is "
        f"{plan.above_bound_pct:.1f}% above that bound)"
    )


def _render_reasons(plan: Any) -> None:
    """Why each batch that is not `identical` is labelled as it is."""
    for index, batch in enumerate(plan.batches, start=1):
        if batch.verdict != "identical":
            label = VERDICT_TEXT.get(batch.verdict, batch.verdict)
            console.print(f"  batch {index} {label}: {batch.verdict_reason}", highlight=False)


def _rule_text(plan: Any) -> str:
    if plan.mode != "auto":
        return f"outputs: {plan.mode} forms its batches as they are; each is labelled above"
    if plan.allow_output_changes:
        return "outputs: changes allowed; batches marked MAY DIFFER can render differently"
    return (
        "outputs: kept; auto formed only identical or verified batches "
        "(--allow-output-changes lets it trade outputs for speed)"
    )


@app.command("analyze")
def analyze(
    mode: Annotated[
        str | None, typer.Option(help="strict, mixed or auto (default: config).")
    ] = None,
    max_batch_size: Annotated[
        int | None, typer.Option(help="At most this many runs per batch.")
    ] = None,
    allow_output_changes: Annotated[
        bool | None,
        typer.Option(
            "--allow-output-changes/--keep-outputs",
            help="Let auto form batches whose outputs may differ from each run alone (GPU "
            "batches, mixed control sets) where no verification covers them "
            "(default: planner.allow_output_changes).",
            show_default=False,
        ),
    ] = None,
    slots: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=4096,
            help="Plan for this many identical free GPU slots (default: the configured hosts' "
            "slots, busy while their running jobs last).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Plan the queued runs into batches for the fleet and store the plan (nothing changes
    yet). The plan minimises the predicted time until the queue is drained, then GPU time,
    then model loads."""
    from cosmos_workflow.services import batching

    plan = batching.analyze(
        context(),
        mode=mode,
        max_batch_size=max_batch_size,
        allow_output_changes=allow_output_changes,
        slots=slots,
    )
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
    plan_id: Annotated[str | None, typer.Argument()] = None,
    rebase: Annotated[
        bool,
        typer.Option(
            "--rebase",
            help="When workers claimed or finished some of the plan's runs since the analysis, "
            "apply the rest of it (any other change still refuses the plan).",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Apply a plan in one transaction; a plan made before the queue changed is refused."""
    from cosmos_workflow.services import batching

    emit(batching.apply_plan(context(), plan_id, rebase=rebase), as_json, render_applied)


def render_applied(result: Any) -> None:
    console.print(
        f"applied plan {result.plan_id}: {len(result.created_job_ids)} batch job(s) created, "
        f"{len(result.merged_job_ids)} job(s) merged into them"
    )
    for line in result.rebase_lines():
        console.print(f"  {line}", highlight=False)


@app.command("verdicts")
def verdicts(as_json: JsonOption = False) -> None:
    """The kinds of batching `cosmos verify-batching` measured, per GPU profile."""
    from cosmos_workflow.cli.common import compared_text, when
    from cosmos_workflow.services.verdicts import list_verdicts

    views = list_verdicts(context())

    def render(_: Any) -> None:
        if not views:
            console.print("Nothing verified yet: see `cosmos verify-batching --help`.")
            return
        columns = ["kind", "backend", "model", "controls", "GPU", "outputs", "compared", "when"]
        rows = (
            [
                v.kind,
                v.backend,
                v.variant,
                v.controls,
                v.gpu_profile + (" (simulated)" if v.simulated else ""),
                "verified" if v.verified else "differ",
                compared_text(v.bit_identical, v.min_psnr_db),
                when(v.verified_at),
            ]
            for v in views
        )
        console.print(table("Batching verifications", columns, rows))

    emit(views, as_json, render)


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
