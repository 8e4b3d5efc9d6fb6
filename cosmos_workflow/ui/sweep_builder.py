"""The Prompts tab's sweep builder: prompts x weight axes x seeds queued as one named sweep, a
live count of what it would queue, and the list of sweeps with cancel and review links.

The live count is the service's own dry run (the real insert, rolled back), so the number of
runs, jobs and the predicted GPU time are exactly what Queue sweep would queue."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import gradio as gr

from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.errors import CosmosError, InvalidInput
from cosmos_workflow.domain.sweeps import WeightAxis, parse_axis
from cosmos_workflow.services import sweeps
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.sweeps import SweepCancel, SweepPreview, SweepResult, SweepView
from cosmos_workflow.services.views import PromptView
from cosmos_workflow.ui import job_params
from cosmos_workflow.ui.common import escaped, shown_errors, when_text

# One row per control, in the order people usually sweep them; each row's control can be changed.
AXIS_CONTROLS = [Control.EDGE.value, Control.DEPTH.value, Control.SEG.value, Control.VIS.value]
AXIS_CHOICES = [*AXIS_CONTROLS, Control.WSM.value]  # wsm: Cosmos 3 only
SWEEP_HEADERS = ["id", "name", "status", "runs by status", "created", "review"]
START_TEXT = "Pick prompts and type weights for at least one control to see what it queues."


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def duration_text(seconds: float) -> str:
    """A duration as people say it: `45 s`, `12 min`, `1 h 20 min`."""
    if seconds < 59.5:
        return f"{seconds:.0f} s"
    hours, minutes = divmod(round(seconds / 60), 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def clock_text(stamp: float, now: float) -> str:
    """A time of day today; with its date on another day."""
    moment = datetime.fromtimestamp(stamp)
    same_day = moment.date() == datetime.fromtimestamp(now).date()
    return moment.strftime("%H:%M" if same_day else "%Y-%m-%d %H:%M")


def count_text(preview: SweepPreview, now: float) -> str:
    """`2 prompts x 2 depth x 2 seg = 8 runs in 4 jobs; predicted GPU time ...`."""
    factors = [plural(preview.prompts, "prompt")]
    factors += [f"{len(values)} {control}" for control, values in preview.axes.items()]
    factors += [plural(len(preview.seeds), "seed")] if preview.seeds else []
    skipped = (
        f" ({plural(preview.skipped, 'combination')} with every weight 0 left out)"
        if preview.skipped
        else ""
    )
    gpu = (
        f"predicted GPU time {duration_text(preview.predicted_gpu_seconds)}"
        if preview.predicted_gpu_seconds is not None
        else "predicted GPU time unknown"
    )
    profile = f" (for {preview.predicted_for})" if preview.predicted_for else ""
    finish = (
        f", finish around {clock_text(preview.predicted_finish_at, now)}"
        if preview.predicted_finish_at is not None
        else ""
    )
    text = (
        f"Sweep **{escaped(preview.name)}**: {' x '.join(factors)} = "
        f"**{plural(preview.runs, 'run')}** in {plural(preview.jobs, 'job')}{skipped}; "
        f"{gpu}{profile}{finish}"
    )
    if preview.over_limit:
        text += (
            f"\n\nAbove the limit of {preview.limit} runs (max_sweep_runs): "
            f'tick "{confirm_label(preview.runs)}" to queue it.'
        )
    if preview.duplicates:
        text += (
            f"\n\n**{plural(preview.duplicates, 'combination')} render the same video as "
            "another**: Cosmos 3 normalises the control weights to sum 1, so only their "
            "proportions count."
        )
    return text


def confirm_label(runs: int) -> str:
    return f"queue {runs} runs anyway"


def refusal_text(runs: int, limit: int) -> str:
    return (
        f"**Refused**: the sweep has {runs} runs, above the limit of {limit} (max_sweep_runs). "
        f'Tick "{confirm_label(runs)}" and press Queue sweep again.'
    )


def review_link(sweep_id: str) -> str:
    return f"/review?sweep={quote(sweep_id, safe='')}"


def queued_text(result: SweepResult) -> str:
    view = result.sweep
    assert view is not None, "a queued sweep, not a dry run"
    return (
        f"Queued sweep **{escaped(view.name)}** (`{view.id}`): "
        f"{plural(view.runs, 'run')} in {plural(len(result.job_ids), 'job')}. "
        f"[Open its review grid]({review_link(view.id)})"
    )


def counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()) if n) or "-"


def cancel_text(cancel: SweepCancel) -> str:
    """What a cancel did: queued runs cancelled at once, running jobs asked to stop, and running
    jobs shared with other work, which finish (this sweep's runs in them included)."""
    parts = [f"{plural(cancel.cancelled_runs, 'queued run')} cancelled"]
    if cancel.stopping_jobs:
        ids = ", ".join(f"`{j}`" for j in cancel.stopping_jobs)
        parts.append(f"{plural(len(cancel.stopping_jobs), 'running job')} stopping ({ids})")
    if cancel.shared_running_jobs:
        ids = ", ".join(f"`{j}`" for j in cancel.shared_running_jobs)
        parts.append(
            f"{plural(len(cancel.shared_running_jobs), 'running job')} shared with other work "
            f"left to finish, with this sweep's runs in them ({ids})"
        )
    head = f"Sweep **{escaped(cancel.sweep.name)}**: "
    if not (cancel.cancelled_runs or cancel.stopping_jobs or cancel.shared_running_jobs):
        return head + "nothing left to cancel (its runs had all finished)."
    return head + "; ".join(parts) + "."


def sweep_rows(views: Sequence[SweepView]) -> list[list[str]]:
    return [
        [
            v.id,
            v.name,
            v.status,
            counts_text(v.counts),
            when_text(v.created_at),
            f"[review]({review_link(v.id)})",
        ]
        for v in views
    ]


def prompt_choices(views: Sequence[PromptView]) -> list[tuple[str, str]]:
    """Each prompt as its name and shortened text, with its id (texts can repeat)."""

    def label(v: PromptView) -> str:
        short = textwrap.shorten(v.text, 50, placeholder="...")
        return f"{v.name}: {short} ({v.id})" if v.name else f"{short} ({v.id})"

    return [(label(v), v.id) for v in views]


def axes_of(rows: Sequence[tuple[str | None, str | None]]) -> list[WeightAxis]:
    """The axes of the rows whose values are filled in, as `control=values`."""
    given = [(control or "", (values or "").strip()) for control, values in rows]
    filled = [(control, values) for control, values in given if values]
    if not filled:
        raise InvalidInput(
            "type the weights of at least one control, e.g. 0.2:0.8:0.2 or 0.3,0.6",
            field="weights",
        )
    return [parse_axis(f"{control}={values}") for control, values in filled]


@dataclass(frozen=True)
class SweepForm:
    """The builder's fields, in the order the form's inputs are wired."""

    prompt_ids: list[str]
    rows: list[tuple[str | None, str | None]]
    seeds: str | None
    name: str | None
    priority: float | None
    params: dict[str, Any]

    @classmethod
    def of(cls, values: Sequence[Any]) -> SweepForm:
        rows = len(AXIS_CONTROLS)
        controls, texts = values[1 : 1 + rows], values[1 + rows : 1 + 2 * rows]
        seeds, name, priority, *params = values[1 + 2 * rows :]
        return cls(
            list(values[0] or []),
            list(zip(controls, texts, strict=True)),
            seeds,
            name,
            priority,
            job_params.chosen(params),
        )

    def request(self) -> sweeps.SweepRequest:
        if not self.prompt_ids:
            raise InvalidInput("pick at least one prompt", field="prompts")
        return sweeps.build_sweep(
            self.prompt_ids,
            axes_of(self.rows),
            seeds=(self.seeds or "").strip() or None,
            params=self.params,
            name=(self.name or "").strip() or None,
            priority=int(self.priority or 0),
        )


def live_count(ctx: Context, form: SweepForm, now: float) -> tuple[str, bool, int]:
    """The count text (or why the input is refused), whether it is over the limit, and runs.

    Never raises a domain error: this runs as the user types, where a popup per keystroke
    would be noise; the message is shown in place of the count instead."""
    try:
        preview = sweeps.queue_sweep(ctx, form.request(), dry_run=True).preview
    except CosmosError as exc:
        return f"**Cannot queue this yet**: {escaped(exc.message)}", False, 0
    return count_text(preview, now), preview.over_limit, preview.runs


def listing(ctx: Context) -> tuple[list[list[str]], Any]:
    """The sweeps table and the cancel dropdown's choices (newest first)."""
    views = sweeps.list_sweeps(ctx).sweeps
    choices = [(f"{v.name} ({v.status})", v.id) for v in views]
    return sweep_rows(views), gr.update(choices=choices)


@dataclass(frozen=True)
class SweepParts:
    prompts: Any  # the prompts multi-select, filled by the tab's load
    table: Any
    pick: Any


def _axis_rows() -> tuple[list[Any], list[Any]]:
    """One row per control: the control (changeable) and the values typed for it."""
    controls, texts = [], []
    for index, control in enumerate(AXIS_CONTROLS):
        with gr.Row():
            controls.append(
                gr.Dropdown(
                    AXIS_CHOICES,
                    value=control,
                    label="Control",
                    scale=1,
                    elem_id=f"sweep-control-{index}",
                )
            )
            texts.append(
                gr.Textbox(
                    label="Weights",
                    placeholder="0.2:0.8:0.2 or 0.3,0.6",
                    scale=4,
                    elem_id=f"sweep-weights-{index}",
                )
            )
    return controls, texts


def _form() -> list[Any]:
    """The builder's fields in SweepForm's order."""
    chosen = gr.Dropdown(
        [],
        multiselect=True,
        label="Prompts (type to filter; pick several)",
        elem_id="sweep-prompts",
    )
    gr.Markdown(
        "Weights per control, as `0.2:0.8:0.2` (start:stop:step, stop included) or `0.3,0.6`; "
        "leave a row empty to leave that control out. A weight of 0 leaves the control out of "
        "that combination."
    )
    controls, texts = _axis_rows()
    with gr.Row():
        seeds = gr.Textbox(label="Seeds (optional: 1,2,3 or 1:4)", elem_id="sweep-seeds", scale=2)
        name = gr.Textbox(label="Name (optional, default: dated)", elem_id="sweep-name", scale=2)
        priority = gr.Number(
            value=0, precision=0, label="Priority (higher runs first)", elem_id="sweep-priority"
        )
    return [chosen, *controls, *texts, seeds, name, priority, *job_params.fields("sweep")]


def _sweeps_list() -> tuple[Any, ...]:
    table = gr.Dataframe(
        headers=SWEEP_HEADERS,
        datatype=["str", "str", "str", "str", "str", "markdown"],
        label="Sweeps (newest first; click a row to pick it)",
        interactive=False,
        wrap=True,
        elem_id="sweeps-table",
    )
    with gr.Row():
        pick = gr.Dropdown([], label="Sweep", scale=3, elem_id="sweeps-pick")
        refresh = gr.Button("Refresh", scale=1, elem_id="sweeps-refresh")
        cancel = gr.Button("Cancel sweep", variant="stop", scale=1, elem_id="sweeps-cancel")
    cancelled = gr.Markdown(elem_id="sweeps-cancelled")
    return table, pick, refresh, cancel, cancelled


def build(ctx: Context) -> SweepParts:
    with gr.Column(elem_id="sweep-section"):
        with gr.Accordion("Queue a sweep: prompts x weights x seeds", open=True):
            form = _form()
            count = gr.Markdown(START_TEXT, elem_id="sweep-count")
            confirm = gr.Checkbox(
                False, label=confirm_label(0), visible=False, elem_id="sweep-confirm"
            )
            queue_button = gr.Button("Queue sweep", variant="primary", elem_id="sweep-queue")
            result = gr.Markdown(elem_id="sweep-result")
        with gr.Accordion("Sweeps", open=True):
            table, pick, refresh, cancel, cancelled = _sweeps_list()

    def update_count(*values: Any) -> tuple[str, Any]:
        text, over, runs = live_count(ctx, SweepForm.of(values), time.time())
        shown = gr.update(visible=True, label=confirm_label(runs))
        return text, shown if over else gr.update(visible=False, value=False)

    @shown_errors
    def submit(ticked: bool, *values: Any) -> tuple[Any, ...]:
        request = SweepForm.of(values).request()
        try:
            queued = sweeps.queue_sweep(ctx, request, confirm=bool(ticked))
        except InvalidInput as exc:
            if exc.field != "confirm":
                raise
            limit = ctx.settings.max_sweep_runs
            shown = gr.update(visible=True, value=False, label=confirm_label(request.runs))
            return refusal_text(request.runs, limit), shown, gr.update(), gr.update()
        assert queued.sweep is not None
        gr.Info(f"Queued sweep {queued.sweep.name}: {plural(queued.sweep.runs, 'run')}.")
        rows, choices = listing(ctx)
        return queued_text(queued), gr.update(visible=False, value=False), rows, choices

    @shown_errors
    def cancel_picked(sweep_id: str | None) -> tuple[Any, ...]:
        if not sweep_id:
            raise gr.Error("Sweep: choose the sweep to cancel.")
        done = sweeps.cancel_sweep(ctx, sweep_id)
        gr.Info(f"Cancelled sweep {done.sweep.name}.")
        return cancel_text(done), *listing(ctx)

    def picked(rows: Any, event: gr.SelectData) -> Any:
        """A click on a table row picks that sweep for Cancel."""
        return gr.update(value=rows.iloc[event.index[0], 0])

    # `always_last`: while one count is computed, keystrokes only queue the latest form. The
    # count is left as it is after queueing: it describes what was just queued.
    gr.on(
        [f.change for f in form],
        update_count,
        inputs=form,
        outputs=[count, confirm],
        trigger_mode="always_last",
        show_progress="hidden",
    )
    queue_button.click(submit, inputs=[confirm, *form], outputs=[result, confirm, table, pick])
    refresh.click(shown_errors(lambda: listing(ctx)), outputs=[table, pick])
    cancel.click(cancel_picked, inputs=[pick], outputs=[cancelled, table, pick])
    table.select(picked, inputs=[table], outputs=[pick])
    return SweepParts(form[0], table, pick)
