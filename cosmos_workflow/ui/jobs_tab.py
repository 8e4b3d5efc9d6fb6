"""Jobs: the queue (paginated, with ETA), pause/resume, cancel and move, a selected job's runs,
the running job's live progress and log, and the smart-batching panel.

The queue table, the counts, the running panel and the selected job's runs are read by one
handler (`refresh`), which the page's event stream triggers (ui/app.py): they never show two
different moments of the queue. The live log is per browser session: each session keeps its own
cursor into the events table in a gr.State, so two browsers never share or steal each other's
lines."""

from __future__ import annotations

import time
from typing import Any

import gradio as gr

from cosmos_workflow.domain.errors import CosmosError
from cosmos_workflow.services import events, queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.views import JobView
from cosmos_workflow.ui.common import (
    live_trigger,
    ranges_text,
    remaining_text,
    run_cells,
    seconds_text,
    shown_errors,
)

QUEUE_HEADERS = [
    "#",
    "job",
    "status",
    "kind",
    "priority",
    "runs",
    "weights",
    "predicted",
    "ETA (slot: start -> finish)",
]
PLAN_HEADERS = [
    "batch",
    "runs",
    "from jobs",
    "controls",
    "backend",
    "GPU batch",
    "predicted",
    "change",
    "outputs",
    "why",
    "slot: start-finish",
]
JOB_RUN_HEADERS = ["run", "status", "prompt", "weights", "seed", "sweep"]
VERDICT_TEXT = {"identical": "identical", "verified": "verified", "may_differ": "MAY DIFFER"}
PAGE_SIZES = [10, 25, 50, 100]
LOG_KEEP_LINES = 400  # lines of the running job's log a session keeps on screen
LIVE_KINDS = frozenset({"job.log", "job.progress", "job.status", "run.status"})


def _queue_rows(jobs: list[JobView], at: float) -> list[list[Any]]:
    """ETA: the fleet simulation's (services.eta): the slot each job runs or is predicted to
    run on, and when it starts and finishes, from now."""
    rows = []
    for job in jobs:
        predicted = job.predicted_seconds
        if predicted is None and job.runs and all(r.predicted_seconds for r in job.runs):
            predicted = sum(r.predicted_seconds or 0.0 for r in job.runs)
        rows.append(
            [
                job.position or "",
                job.id,
                job.status,
                job.kind,
                job.priority,
                len(job.runs),
                ranges_text(job.weight_ranges),
                seconds_text(predicted),
                _eta_text(job, at),
            ]
        )
    return rows


def _eta_text(job: JobView, at: float) -> str:
    """`slot: start -> finish` from now; running jobs show their finish only, and one past its
    predicted time says it is finishing or overdue (services.eta keeps a running job's
    prediction: the clock passes it when the job runs slower than predicted)."""
    if job.eta_start_at is None:
        return "-" if job.status == "queued" else ""
    if job.status == "running":
        when = _done_text(job.eta_finish_at, at)
    else:
        finish = "?" if job.eta_finish_at is None else _from_now(job.eta_finish_at - at)
        when = f"{_from_now(job.eta_start_at - at)} -> {finish}"
    return f"{job.eta_slot}: {when}" if job.eta_slot else when


def _from_now(seconds: float) -> str:
    return "now" if seconds <= 1 else f"in {seconds_text(seconds)}"


def _done_text(finish_at: float | None, at: float) -> str:
    """A running job's end: `done in 3.0 min`, `finishing`, `overdue by 2.0 min`."""
    left = remaining_text(finish_at, at)
    return f"done {left}" if left.startswith("in ") else left


def job_run_rows(job: JobView) -> list[list[Any]]:
    """What each run of a job is: its prompt, own weights, seed, status and sweep."""
    return [run_cells(run) for run in job.runs]


def _plan_rows(plan: Any) -> list[list[Any]]:
    rows = []
    for index, batch in enumerate(plan.batches, start=1):
        rows.append(
            [
                index,
                len(batch.run_ids),
                len(batch.source_job_ids),
                "+".join(batch.controls),
                batch.backend,
                batch.gpu_batch_size,
                seconds_text(batch.predicted_seconds),
                "unchanged" if batch.unchanged else "new batch",
                VERDICT_TEXT.get(batch.verdict, batch.verdict),
                batch.verdict_reason,
                _placement_text(batch),
            ]
        )
    return rows


def _placement_text(batch: Any) -> str:
    """`slot: start-finish` from the analysis, as the fleet schedule predicts it."""
    if batch.slot is None or batch.predicted_start is None:
        return ""
    finish = seconds_text(batch.predicted_finish)
    return f"{batch.slot}: {seconds_text(batch.predicted_start)}-{finish}"


def plan_summary(plan: Any) -> str:
    if not plan.batches:
        return "The queue holds no batchable runs: **there is nothing to batch**."
    source = "calibrated on measured timings" if plan.calibrated else "default cost model"
    return (
        f"Plan `{plan.plan_id}` ({plan.mode}): {plan.runs} run(s) in {len(plan.batches)} "
        f"batch(es). Predicted GPU time: **{seconds_text(plan.predicted_seconds_before)}** now "
        f"-> **{seconds_text(plan.predicted_seconds_after)}** with the plan; "
        f"**speedup {plan.speedup:.2f}x**, {plan.loads_avoided} model load(s) avoided "
        f"({source}). {_drain_text(plan)}{_outputs_text(plan)} Upscale and enhance jobs are "
        "never batched." + (" Applied." if plan.applied_at else "")
    )


def _drain_text(plan: Any) -> str:
    """The plan on its fleet: when the queue is drained before and after, and the bound."""
    if not plan.drain_seconds_after:
        return ""
    return (
        f"On {plan.slots} slot(s) the queue drains in "
        f"**{seconds_text(plan.drain_seconds_before)}** now -> "
        f"**{seconds_text(plan.drain_seconds_after)}** with the plan "
        f"({plan.drain_speedup:.2f}x); no plan can beat "
        f"{seconds_text(plan.lower_bound_seconds)} ({plan.above_bound_pct:.1f}% above it). "
    )


def _outputs_text(plan: Any) -> str:
    differ = sum(1 for b in plan.batches if b.verdict == "may_differ")
    if plan.mode == "auto" and not plan.allow_output_changes:
        rule = "Outputs kept: auto formed only identical or verified batches."
    elif plan.mode == "auto":
        rule = "Output changes allowed."
    else:
        rule = f"{plan.mode.capitalize()} forms its batches whatever they do to outputs."
    if differ:
        rule += f" **{differ} batch(es) MAY DIFFER** from each run alone (see why)."
    return rule


def build(ctx: Context) -> dict[str, Any]:
    with gr.Row():
        status_text = gr.Markdown(elem_id="jobs-status")
        pause = gr.Button("Pause queue", elem_id="jobs-pause", size="sm")
        resume = gr.Button("Resume queue", elem_id="jobs-resume", size="sm")
    with gr.Row():
        page_size = gr.Dropdown(PAGE_SIZES, value=25, label="Jobs per page", elem_id="jobs-size")
        page = gr.Number(1, precision=0, minimum=1, label="Page", elem_id="jobs-page")
        history = gr.Checkbox(False, label="Show finished jobs", elem_id="jobs-history")
        refresh = gr.Button("Refresh", elem_id="jobs-refresh")
    live_button = live_trigger("jobs")
    table = gr.Dataframe(
        headers=QUEUE_HEADERS,
        label="Queue (click a row to select a job and list its runs)",
        interactive=False,
        elem_id="jobs-table",
    )
    with gr.Row():
        selected = gr.Textbox(label="Selected job id", elem_id="jobs-selected", scale=3)
        cancel = gr.Button("Cancel job", variant="stop", elem_id="jobs-cancel")
        top = gr.Button("Move to top", elem_id="jobs-top")
        bottom = gr.Button("Move to bottom", elem_id="jobs-bottom")
    job_runs = gr.Dataframe(
        headers=JOB_RUN_HEADERS,
        label="Runs of the selected job",
        interactive=False,
        elem_id="jobs-runs",
    )
    with gr.Accordion("Running job: live progress and log", open=True):
        running = gr.Markdown("Nothing is running.", elem_id="jobs-running")
        live_log = gr.Textbox(
            label="Log", lines=12, max_lines=12, autoscroll=True, elem_id="jobs-log"
        )
    with gr.Accordion("Smart batching", open=True):
        gr.Markdown(
            "Regroup queued runs that can share one model process. **strict**: one control "
            "set per batch. **mixed**: different control sets in one batch. **auto**: the "
            "cheapest plan whose batches keep every run's output, unless you allow output "
            "changes. Each batch says whether its outputs are **identical** to each run alone "
            "(proven from NVIDIA's code), **verified** (`cosmos verify-batching` found them "
            "identical on this GPU profile) or **MAY DIFFER**, and why."
        )
        with gr.Row():
            mode = gr.Radio(
                ["strict", "mixed", "auto"],
                value=ctx.settings.planner.mode,
                label="Mode",
                elem_id="batch-mode",
            )
            allow = gr.Checkbox(
                ctx.settings.planner.allow_output_changes,
                label="Allow output changes (auto may GPU-batch and mix control sets unverified)",
                elem_id="batch-allow-changes",
            )
            analyze = gr.Button("Analyze", variant="primary", elem_id="batch-analyze")
            apply = gr.Button("Apply plan", elem_id="batch-apply")
            # One step while workers are busy: the plan is shown, then applied at once,
            # rebased past the runs they claimed in between.
            analyze_apply = gr.Button("Analyze and apply", elem_id="batch-analyze-apply")
        summary = gr.Markdown(elem_id="batch-summary")
        plan_table = gr.Dataframe(
            headers=PLAN_HEADERS,
            label="Plan",
            interactive=False,
            wrap=True,  # the "why" of a batch that may differ is a sentence
            elem_id="batch-table",
        )
        with gr.Row():
            undo_id = gr.Textbox(label="Batch job id to undo", elem_id="batch-undo-id", scale=3)
            undo = gr.Button("Undo batch", elem_id="batch-undo")
    plan_id = gr.State(None)
    live = gr.State({"job_id": None, "after": 0, "lines": []})

    def load(size: float, number: float | None, with_history: bool) -> tuple[Any, ...]:
        per_page = int(size or 25)
        offset = (max(int(number or 1), 1) - 1) * per_page
        found = queue.list_queue(ctx, include_history=with_history, limit=per_page, offset=offset)
        status = queue.queue_status(ctx)
        pages = max(1, -(-found.total // per_page))
        state = "**PAUSED**: no new job starts until you resume" if status.paused else "running"
        text = (
            f"Queue {state}. {status.queued} queued, {status.running} running, "
            f"{status.succeeded} succeeded, {status.failed} failed; page "
            f"{max(int(number or 1), 1)} of {pages}. Predicted times are for "
            f"{found.predicted_for} (the fleet's slowest GPU)."
        )
        return _queue_rows(found.jobs, time.time()), text

    def runs_of(job_id: str | None) -> list[list[Any]]:
        chosen = (job_id or "").strip()
        return job_run_rows(queue.get_job(ctx, chosen, eta=False)) if chosen else []

    def pick(event: gr.SelectData) -> tuple[str, list[list[Any]]]:
        job_id = str(event.row_value[1]) if event.row_value else ""
        return job_id, runs_of(job_id)

    def refresh_all(
        size: float, number: float | None, with_history: bool, job_id: str, state: dict[str, Any]
    ) -> tuple[Any, ...]:
        """Everything the tab shows of the queue, read at one moment: the live trigger's and
        the page load's handler."""
        rows, text = load(size, number, with_history)
        state, running_text, log_text = follow_running(ctx, state)
        try:
            chosen = runs_of(job_id)
        except CosmosError:  # the selected job was pruned meanwhile
            chosen = []
        return rows, text, state, running_text, log_text, chosen

    def need(job_id: str | None) -> str:
        if not (job_id or "").strip():
            raise gr.Error("Selected job id: click a job row first.")
        return str(job_id).strip()

    def set_paused(paused: bool) -> Any:
        def handler(size: float, number: float | None, with_history: bool) -> tuple[Any, ...]:
            queue.set_paused(ctx, paused)
            gr.Info("Queue paused." if paused else "Queue resumed.")
            return load(size, number, with_history)

        return shown_errors(handler)

    def act(action: str) -> Any:
        def handler(
            job_id: str, size: float, number: float | None, with_history: bool
        ) -> tuple[Any, ...]:
            target = need(job_id)
            if action == "cancel":
                view = queue.cancel_job(ctx, target)
                gr.Info(
                    f"Job {view.id}: "
                    + ("cancel requested" if view.cancel_requested else view.status)
                )
            else:
                view = queue.move_job(ctx, target, "top" if action == "top" else "bottom")
                gr.Info(f"Job {view.id} is now #{view.position}.")
            return load(size, number, with_history)

        return shown_errors(handler)

    def analyze_queue(chosen: str, allowed: bool) -> tuple[Any, ...]:
        from cosmos_workflow.services import batching

        plan = batching.analyze(ctx, mode=chosen, allow_output_changes=bool(allowed))
        return plan_summary(plan), _plan_rows(plan), plan.plan_id

    def apply_plan(
        current: str | None, size: float, number: float | None, with_history: bool
    ) -> tuple[Any, ...]:
        from cosmos_workflow.services import batching

        if not current:
            raise gr.Error("Analyze the queue first; then apply the plan you see.")
        plan = batching.get_plan(ctx, current)
        if not plan.batches:
            raise gr.Error("There is nothing to batch: the plan is empty.")
        # Rebased: runs that workers claimed since the analysis are left out and said so;
        # any other change to the queue is still refused as stale.
        result = batching.apply_plan(ctx, current, rebase=True)
        changes = result.rebase_lines()
        gr.Info(
            f"Applied: {len(result.created_job_ids)} batch job(s), "
            f"{len(result.merged_job_ids)} job(s) merged into them."
            + "".join(f" {line.capitalize()}." for line in changes)
        )
        rows, text = load(size, number, with_history)
        applied = plan_summary(batching.get_plan(ctx, current))
        return rows, text, applied + "".join(f"\n\n{line.capitalize()}." for line in changes)

    def undo_batch(
        job_id: str, size: float, number: float | None, with_history: bool
    ) -> tuple[Any, ...]:
        from cosmos_workflow.services import batching

        result = batching.undo_batch(ctx, need(job_id))
        gr.Info(f"Undone: {len(result.restored_job_ids)} job(s) restored.")
        return load(size, number, with_history)

    view_inputs = [page_size, page, history]
    queue_outputs = [table, status_text]
    for trigger in (refresh.click, page.submit, page_size.change, history.change):
        trigger(shown_errors(load), inputs=view_inputs, outputs=queue_outputs)
    table.select(shown_errors(pick), outputs=[selected, job_runs])
    selected.submit(shown_errors(runs_of), inputs=[selected], outputs=[job_runs])
    pause.click(set_paused(True), inputs=view_inputs, outputs=queue_outputs)
    resume.click(set_paused(False), inputs=view_inputs, outputs=queue_outputs)
    cancel.click(act("cancel"), inputs=[selected, *view_inputs], outputs=queue_outputs)
    top.click(act("top"), inputs=[selected, *view_inputs], outputs=queue_outputs)
    bottom.click(act("bottom"), inputs=[selected, *view_inputs], outputs=queue_outputs)
    analyze.click(
        shown_errors(analyze_queue),
        inputs=[mode, allow],
        outputs=[summary, plan_table, plan_id],
    )
    apply.click(
        shown_errors(apply_plan), inputs=[plan_id, *view_inputs], outputs=[*queue_outputs, summary]
    )
    analyze_apply.click(
        shown_errors(analyze_queue),
        inputs=[mode, allow],
        outputs=[summary, plan_table, plan_id],
    ).success(
        shown_errors(apply_plan), inputs=[plan_id, *view_inputs], outputs=[*queue_outputs, summary]
    )
    undo.click(shown_errors(undo_batch), inputs=[undo_id, *view_inputs], outputs=queue_outputs)
    live_inputs = [*view_inputs, selected, live]
    live_outputs = [*queue_outputs, live, running, live_log, job_runs]
    shown_refresh = shown_errors(refresh_all)
    live_button.click(
        shown_refresh,
        inputs=live_inputs,
        outputs=live_outputs,
        show_progress="hidden",
        trigger_mode="always_last",
    )
    return {"load": (shown_refresh, live_outputs), "load_inputs": live_inputs}


def progress_text(progress: dict[str, Any] | None, logged: bool = False) -> str:
    """What the worker recorded in the job's latest `job.progress` event (worker/execute.py:
    `step`, `total`, `clip`). Transfer1's only bar counts finished clips (`clip == step`), so
    it shows the clip being generated; Transfer2.5's bars count denoising steps (`clip` None).
    Before the first bar: `loading model` once the process logged anything, else `starting`."""
    step, total = _count(progress, "step"), _count(progress, "total")
    if step is None or not total:
        return "loading model" if logged else "starting"
    if progress and progress.get("clip") is not None:
        return f"clip {step + 1} of {total}" if step < total else f"{total} of {total} clips done"
    return f"step {min(step, total)} of {total}"


def _count(progress: dict[str, Any] | None, key: str) -> int | None:
    value = (progress or {}).get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def follow_running(ctx: Context, state: dict[str, Any]) -> tuple[Any, ...]:
    """This session's live view: the running job, its progress and ETA, new log lines."""
    live = queue.live_jobs(ctx)  # only running jobs are read: cheap on every event
    job = live[0].job if live else None
    if job is None:
        text = (
            "Nothing is running."
            if not state.get("job_id")
            else (f"Job `{state['job_id']}` finished; nothing is running now.")
        )
        return state, text, "\n".join(state.get("lines", []))
    if job.id != state.get("job_id"):
        state = {"job_id": job.id, "after": 0, "lines": [], "progress": {}}
    new = events.events_since(ctx, state["after"], 500, job_id=job.id, kinds=LIVE_KINDS)
    lines = list(state["lines"])
    progress = live[0].progress or dict(state.get("progress") or {})
    for event in new:
        if event.kind == "job.log":
            lines.extend(str(line) for line in event.data.get("lines", []))
    after = new[-1].id if new else state["after"]
    state = {
        "job_id": job.id,
        "after": after,
        "lines": lines[-LOG_KEEP_LINES:],
        "progress": progress,
    }
    text = running_text(job, progress, bool(lines), time.time(), len(live) - 1)
    return state, text, "\n".join(state["lines"])


def running_text(
    job: JobView, progress: dict[str, Any] | None, logged: bool, at: float, others: int = 0
) -> str:
    """The running panel's line: the job, its runs' weight ranges (a batch's first run says
    nothing of the others), where it runs, its progress and when it should be done."""
    eta = f"; {_done_text(job.eta_finish_at, at)}" if job.eta_start_at is not None else ""
    more = f" {others} more job(s) running (Fleet tab)." if others > 0 else ""
    return (
        f"Running job `{job.id}` ({len(job.runs)} run(s), {ranges_text(job.weight_ranges)}) "
        f"on {job.host_name or 'a worker'}: {progress_text(progress, logged)}{eta}.{more}"
    )
