"""Fleet: every GPU slot of the configured hosts at a glance. A one-line summary, the slots as a
Gantt chart (what ran, what runs now, what the ETA predicts next; ui.fleet_chart) and a table of
what each slot does, all read from one services.fleet.fleet_view and refreshed when the page's
event stream says a job, run or worker changed (ui/app.py), and now and then for the clock."""

from __future__ import annotations

from typing import Any

import gradio as gr

from cosmos_workflow.services.context import Context
from cosmos_workflow.services.fleet import FleetView, SlotView, fleet_view
from cosmos_workflow.ui.common import live_trigger, remaining_text, seconds_text, shown_errors
from cosmos_workflow.ui.fleet_chart import fleet_svg, slot_label
from cosmos_workflow.ui.jobs_tab import progress_text

HOURS = [("1 h", 1), ("6 h", 6), ("24 h", 24)]
DEFAULT_HOURS = 6
SLOT_HEADERS = ["slot", "worker", "running", "progress", "ETA", "idle for", "queued here"]


def summary_text(view: FleetView) -> str:
    """Slots, busy, idle, queued and the predicted drain, measured from now."""
    if view.drain_at is not None:
        left = remaining_text(view.drain_at, view.at)
        if left.startswith("in "):
            drain = f"predicted drain in **{left.removeprefix('in ')}**"
        elif left.startswith("overdue"):  # the last running job is slower than predicted
            drain = f"predicted drain: {left}"
        else:  # about now (a simulated host's queue drains in a blink)
            drain = "predicted drain in **under 1 s**"
    elif view.queued_jobs:
        drain = "drain time unknown (no estimate)"
    else:
        drain = "nothing to drain"
    text = (
        f"**{view.slots}** slot(s): **{view.busy}** busy, **{view.idle}** idle; "
        f"**{view.queued_jobs}** queued job(s); {drain}."
    )
    slots = [slot for host in view.hosts for slot in host.slots]
    unattended = sum(1 for slot in slots if not slot.worker_alive)
    if unattended:
        # Queued work waits on these slots until a worker runs there (`cosmos worker`).
        text += f" {unattended} slot(s) without a live worker."
    if view.elsewhere:
        # Still running on a slot that cosmos.toml no longer lists: worth knowing, not drawn.
        text += " Running on slots not configured here: " + ", ".join(view.elsewhere) + "."
    return text


def slot_rows(view: FleetView) -> list[list[Any]]:
    return [_slot_row(slot, view.at) for host in view.hosts for slot in host.slots]


def _slot_row(slot: SlotView, now: float) -> list[Any]:
    eta = slot.eta_finish_at
    if slot.idle_seconds is not None:
        idle = seconds_text(slot.idle_seconds)
    else:
        idle = "" if slot.job_id else "never used"
    return [
        slot_label(slot),
        _worker_text(slot),
        slot.job_id or "",
        _progress(slot.progress),
        remaining_text(eta, now) if eta is not None else "",
        idle,
        slot.queued_next,
    ]


def _worker_text(slot: SlotView) -> str:
    if slot.worker_id is None:
        return "none"
    return "alive" if slot.worker_alive else "not heard from"


def _progress(progress: dict[str, Any] | None) -> str:
    """Only what the job reported: nothing before its first step or clip."""
    if not progress or progress.get("step") is None or progress.get("total") is None:
        return ""
    return progress_text(progress)


def build(ctx: Context) -> dict[str, Any]:
    summary = gr.Markdown(elem_id="fleet-summary")
    with gr.Row():
        hours = gr.Radio(
            HOURS, value=DEFAULT_HOURS, label="Hours of history", elem_id="fleet-hours", scale=4
        )
        refresh = gr.Button("Refresh", elem_id="fleet-refresh", size="sm", scale=1)
    live_button = live_trigger("fleet")
    chart = gr.HTML(elem_id="fleet-chart")
    table = gr.Dataframe(
        headers=SLOT_HEADERS, label="Slots", interactive=False, elem_id="fleet-slots"
    )

    def load(shown_hours: float | None) -> tuple[str, str, list[list[Any]]]:
        view = fleet_view(ctx, hours=float(shown_hours or DEFAULT_HOURS))
        return summary_text(view), fleet_svg(view), slot_rows(view)

    outputs = [summary, chart, table]
    shown = shown_errors(load)
    refresh.click(shown, inputs=[hours], outputs=outputs)
    hours.change(shown, inputs=[hours], outputs=outputs)
    live_button.click(
        shown, inputs=[hours], outputs=outputs, show_progress="hidden", trigger_mode="always_last"
    )
    return {"load": (shown, outputs), "load_inputs": [hours]}
