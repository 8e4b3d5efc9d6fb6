"""`cosmos fleet`: every host and GPU slot, what runs there, and a timeline in the terminal."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from cosmos_workflow.cli.common import JsonOption, console, context, emit, table
from cosmos_workflow.cli.queue import from_now

TIMELINE_CHARS = 60
# One character per kind of segment; later kinds win a shared cell.
MARKS = {"ended": "-", "succeeded": "#", "failed": "x", "running": "=", "predicted": "~"}


def fleet(
    hours: Annotated[
        float, typer.Option(min=0.01, max=168, help="Hours of history in the timeline.")
    ] = 6.0,
    as_json: JsonOption = False,
) -> None:
    """Every host and GPU slot: its profile and devices, its worker, the job it runs with its
    progress and ETA, how long it has been idle, and a timeline of the last hours and the
    predicted next ones (# succeeded, x failed, = running, ~ predicted, . idle, | now)."""
    from cosmos_workflow.services.fleet import fleet_view

    emit(fleet_view(context(), hours=hours), as_json, render_fleet)


def render_fleet(view: Any) -> None:
    rows = []
    for host in view.hosts:
        for slot in host.slots:
            rows.append(
                [
                    slot.name,
                    slot.gpu_profile + (" (sim)" if host.simulated else ""),
                    ",".join(str(d) for d in slot.devices),
                    "alive" if slot.worker_alive else ("stale" if slot.worker_id else "none"),
                    slot.job_id or "",
                    progress_text(slot.progress),
                    from_now(slot.eta_finish_at - view.at) if slot.eta_finish_at else "",
                    _idle(slot.idle_seconds),
                    slot.queued_next,
                ]
            )
    headers = ["slot", "GPU", "devices", "worker", "running", "progress", "done", "idle for"]
    console.print(table("Fleet", [*headers, "queued next"], rows))
    end = max(view.at + 3600, view.drain_at or 0.0)
    console.print(
        f"timeline {_clock(view.since)} .. {_clock(end)} (| now): "
        "# succeeded, x failed, - ended, = running, ~ predicted, . idle",
        highlight=False,
    )
    width = max(len(slot.name) for host in view.hosts for slot in host.slots)
    for host in view.hosts:
        for slot in host.slots:
            line = timeline_text(slot.timeline, view.since, end, view.at)
            console.print(f"{slot.name:<{width}} {line}", highlight=False, markup=False)
    drain = f"; queue drained {from_now(view.drain_at - view.at)}" if view.drain_at else ""
    console.print(
        f"{view.slots} slot(s): {view.busy} busy, {view.idle} idle; "
        f"{view.queued_jobs} job(s) queued{drain} (predicted)"
    )
    if view.elsewhere:
        console.print(f"running on slots not configured here: {', '.join(view.elsewhere)}")


def timeline_text(segments: list[Any], start: float, end: float, at: float) -> str:
    """One character per time cell from `start` to `end`: the kind of segment covering it."""
    cells = ["."] * TIMELINE_CHARS
    span = max(end - start, 1e-9)

    def cell(when: float) -> int:
        return min(TIMELINE_CHARS - 1, max(0, int((when - start) / span * TIMELINE_CHARS)))

    for segment in segments:
        finish = segment.end_at if segment.end_at is not None else at
        for index in range(cell(segment.start_at), cell(max(finish, segment.start_at)) + 1):
            cells[index] = MARKS.get(segment.kind, "?")
    cells[cell(at)] = "|"
    return "".join(cells)


def progress_text(progress: dict[str, Any] | None) -> str:
    """`step s of t` or `clip c of n`, only from what the backend reported."""
    if not progress:
        return ""
    step, total, clip = progress.get("step"), progress.get("total"), progress.get("clip")
    parts = []
    if clip is not None:
        parts.append(f"clip {clip}")
    if step is not None:
        parts.append(f"step {step}" + (f" of {total}" if total else ""))
    return ", ".join(parts)


def _idle(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return from_now(seconds).removeprefix("+")


def _clock(stamp: float) -> str:
    return time.strftime("%H:%M", time.localtime(stamp))
