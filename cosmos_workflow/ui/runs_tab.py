"""Runs: finished outputs in a gallery with a video player, filters (a sweep's among them),
details (prompt, parameters, predicted vs measured time, log tail, error), rating, retry and
upscale. Every thumbnail and row says what its run is: prompt, weights, seed, status, rating.

The filters apply when asked (Apply filters) and are kept in a gr.State: the live trigger
(ui/app.py) re-reads the list with the applied filters, never with a half-typed one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gradio as gr

from cosmos_workflow.domain.states import RunStatus
from cosmos_workflow.services import queue, sweeps
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.media import playable_video, previews_dir, served_dirs
from cosmos_workflow.services.views import RunView
from cosmos_workflow.ui.common import (
    live_trigger,
    parse_date,
    run_cells,
    seconds_text,
    short_text,
    shown_errors,
    weights_text,
    when_text,
)

HEADERS = [
    "run",
    "status",
    "prompt",
    "weights",
    "seed",
    "sweep",
    "rating",
    "kind",
    "predicted",
    "measured",
    "created",
]
LOG_TAIL_LINES = 60
SWEEP_CHOICES = 200  # the newest sweeps offered in the filter; an older one can be typed
DEFAULT_FILTERS = {"status": "succeeded", "prompt": "", "controls": "", "rating": "", "since": ""}


def _row(run: RunView) -> list[Any]:
    return [
        *run_cells(run, 50),
        run.rating or "",
        run.kind,
        seconds_text(run.predicted_seconds),
        seconds_text(run.compute_seconds),
        when_text(run.created_at),
    ]


def caption(run: RunView) -> str:
    """A thumbnail's caption: which prompt, weights and seed, its status and rating."""
    parts = [short_text(run.prompt_text, 40), weights_text(run.weights)]
    if run.seed is not None:
        parts.append(f"seed {run.seed}")
    parts.append(run.status)
    parts.append(f"{run.rating}/5" if run.rating else "unrated")
    return " · ".join(parts)


def _details(run: RunView) -> str:
    lines = [
        f"### Run `{run.id}`: {run.status}",
        f"- prompt `{run.prompt_id}`: {short_text(run.prompt_text, 400)}",
        f"- job `{run.job_id}` (queued in `{run.origin_job_id}`), kind {run.kind}"
        + (f", sweep {run.sweep_name}" if run.sweep_name else "")
        + (", **picked**" if run.picked else ""),
        f"- controls: {weights_text(run.weights)}"
        + ("" if run.seed is None else f"; seed {run.seed}"),
        f"- time: predicted {seconds_text(run.predicted_seconds)}, measured "
        f"{seconds_text(run.compute_seconds)}",
        f"- started {when_text(run.started_at) or '-'}, "
        f"finished {when_text(run.finished_at) or '-'}, attempts {run.attempts}",
        f"- parameters: `{json.dumps(run.params, sort_keys=True)}`",
        f"- guardrails: {run.guardrails_text()}",
    ]
    if run.error:
        lines.append(f"- **error** ({run.failure_class or 'unclassified'}): {run.error}")
    return "\n".join(lines)


def build(ctx: Context) -> dict[str, Any]:
    from cosmos_workflow.services import runs

    previews, served = previews_dir(ctx.settings), served_dirs(ctx.settings)
    with gr.Row():
        status = gr.Dropdown(
            ["", *[s.value for s in RunStatus]],
            value="succeeded",
            label="Status",
            elem_id="runs-status",
        )
        prompt = gr.Textbox(label="Prompt id", elem_id="runs-prompt")
        controls = gr.Textbox(label="Control set (e.g. depth+edge)", elem_id="runs-controls")
        rating = gr.Dropdown(
            ["", "1", "2", "3", "4", "5"], value="", label="Rating", elem_id="runs-rating-filter"
        )
        since = gr.Textbox(label="Created since (YYYY-MM-DD)", elem_id="runs-since")
        sweep = gr.Dropdown(
            [""],
            value="",
            label="Sweep",
            allow_custom_value=True,  # an older sweep than those offered, by name or id
            elem_id="runs-sweep",
        )
        refresh = gr.Button("Apply filters", elem_id="runs-refresh")
    live_button = live_trigger("runs")
    summary = gr.Markdown(elem_id="runs-summary")
    gallery = gr.Gallery(
        label="Finished outputs (click one to play it)",
        columns=5,
        height=300,
        allow_preview=False,
        elem_id="runs-gallery",
    )
    table = gr.Dataframe(headers=HEADERS, label="Runs", interactive=False, elem_id="runs-table")
    with gr.Row():
        with gr.Column(scale=3):
            video = gr.Video(label="Output", interactive=False, elem_id="runs-video")
        with gr.Column(scale=2):
            details = gr.Markdown("Select a run to see its details.", elem_id="runs-details")
            stars = gr.Slider(1, 5, value=3, step=1, label="Rating", elem_id="runs-stars")
            with gr.Row():
                rate = gr.Button("Rate", elem_id="runs-rate")
                retry = gr.Button("Retry its job", elem_id="runs-retry")
                upscale = gr.Button("Upscale to 4K", elem_id="runs-upscale")
    log_tail = gr.Textbox(label="Log tail", lines=10, max_lines=20, elem_id="runs-log")
    listed = gr.State([])
    current = gr.State(None)
    applied = gr.State(dict(DEFAULT_FILTERS, sweep=""))
    last_shown = gr.State(None)  # what the list shows now: a live update that changes nothing
    # leaves the gallery alone (a re-sent gallery flickers and loses its selection)

    def read(filters: dict[str, str]) -> list[Any]:
        found = runs.list_runs(
            ctx,
            status=filters["status"] or None,
            prompt_id=filters["prompt"] or None,
            controls=filters["controls"] or None,
            rating=int(filters["rating"]) if filters["rating"] else None,
            since=parse_date(filters["since"], "Created since"),
            sweep=filters["sweep"] or None,
            limit=500,
        )
        with_thumbs = [
            r for r in found.runs if r.thumbnail_path and Path(r.thumbnail_path).is_file()
        ]
        items = [(r.thumbnail_path, caption(r)) for r in with_thumbs]
        matched = f"{found.total}" if found.total_exact else f"more than {found.total:,}"
        text = f"{matched} run(s) match; {len(with_thumbs)} with an output shown below."
        return [items, [r.id for r in with_thumbs], [_row(r) for r in found.runs], text]

    def apply(
        state: str, prompt_id: str, control_set: str, stars: str, date: str, chosen: str
    ) -> tuple[Any, ...]:
        filters = {
            "status": state or "",
            "prompt": (prompt_id or "").strip(),
            "controls": (control_set or "").strip(),
            "rating": stars or "",
            "since": (date or "").strip(),
            "sweep": (chosen or "").strip(),
        }
        shown = read(filters)  # refused filters raise here: the applied ones stay
        return (*shown, filters, shown)

    def live(filters: dict[str, str], last: list[Any] | None) -> tuple[Any, ...]:
        shown = read(filters)
        if shown == last:
            return (*(gr.skip() for _ in shown), last)
        return (*shown, shown)

    def reload(filters: dict[str, str], last: list[Any] | None) -> tuple[Any, ...]:
        """On page load and when the tab is opened: the list, and the sweeps to filter by."""
        names = [s.name for s in sweeps.list_sweeps(ctx, limit=SWEEP_CHOICES).sweeps]
        return (*live(filters, last), gr.update(choices=["", *names]))

    def show(run_id: str) -> tuple[Any, ...]:
        run = runs.get_run(ctx, run_id)
        playable = (
            playable_video(Path(run.output_path), previews, served) if run.output_path else None
        )
        tail = runs.job_log(ctx, run.job_id, LOG_TAIL_LINES)
        return str(playable) if playable else None, _details(run), tail, run.id, run.rating or 3

    def pick_gallery(ids: list[str], event: gr.SelectData) -> tuple[Any, ...]:
        return show(ids[event.index])

    def pick_table(event: gr.SelectData) -> tuple[Any, ...]:
        row = event.row_value if event.row_value else None
        if not row:
            raise gr.Error("Select a run row.")
        return show(str(row[0]))

    def need(run_id: str | None) -> str:
        if not run_id:
            raise gr.Error("Select a run first (click an output or a table row).")
        return run_id

    def rate_it(run_id: str | None, value: float) -> str:
        run = runs.rate_run(ctx, need(run_id), int(value))
        gr.Info(f"Rated run {run.id}: {run.rating}/5.")
        return _details(run)

    def retry_it(run_id: str | None) -> None:
        run = runs.get_run(ctx, need(run_id))
        result = queue.retry_job(ctx, run.job_id)
        gr.Info(f"Queued retry job {result.job_id} for job {run.job_id}.")

    def upscale_it(run_id: str | None) -> None:
        result = queue.enqueue_upscale(ctx, need(run_id))
        gr.Info(f"Queued upscale job {result.job_id}.")

    filters = [status, prompt, controls, rating, since, sweep]
    outputs = [gallery, listed, table, summary]
    refresh.click(shown_errors(apply), inputs=filters, outputs=[*outputs, applied, last_shown])
    live_button.click(
        shown_errors(live),
        inputs=[applied, last_shown],
        outputs=[*outputs, last_shown],
        show_progress="hidden",
        trigger_mode="always_last",
    )
    shown = [video, details, log_tail, current, stars]
    gallery.select(shown_errors(pick_gallery), inputs=[listed], outputs=shown)
    table.select(shown_errors(pick_table), outputs=shown)
    rate.click(shown_errors(rate_it), inputs=[current, stars], outputs=[details])
    retry.click(shown_errors(retry_it), inputs=[current])
    upscale.click(shown_errors(upscale_it), inputs=[current])
    return {
        "load": (shown_errors(reload), [*outputs, last_shown, sweep]),
        "load_inputs": [applied, last_shown],
    }
