"""The fleet as a picture: an SVG Gantt chart with one row per GPU slot, its past attempts, the
job running there now and the jobs the ETA predicts for it, on one time axis with a "now" line.

Pure: no I/O and no gradio, so the same FleetView always gives the same SVG, unit tests read it
as XML, and the Fleet tab only has to put it in a gr.HTML. Every text taken from the view (host
names, job ids) is escaped: a host name is configuration, not markup."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from html import escape

from cosmos_workflow.services.fleet import FleetView, SlotView, TimelineSegment

WIDTH = 1000  # viewBox units; the SVG scales to its container's width
LABEL_WIDTH = 260  # the slot labels left of the time axis
RIGHT_PAD = 20
TOP = 30  # room above the rows for the tick labels
ROW_HEIGHT = 36
BAR_HEIGHT = 16
LEGEND_HEIGHT = 36
MIN_BAR = 3.0  # a job of a few seconds on an axis of hours is still seen, even beside now
UNKNOWN_BAR = 10.0  # a predicted job without an estimate: only its start is known
MIN_AHEAD_SECONDS = 3600.0  # the axis shows at least an hour past now
MAX_TICKS = 9
TICK_STEPS = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800)
LABEL_CHARS = 40  # longer slot labels are cut, whole in their tooltip
COLOURS = {
    "succeeded": "#2e7d32",
    "failed": "#c62828",
    "ended": "#9e9e9e",
    "running": "#1565c0",
    "predicted": "#7e57c2",
}
NOW_COLOUR = "#ef6c00"
HATCH_ID = "fleet-hatch"  # one chart per page, so one pattern id


@dataclass(frozen=True, slots=True)
class Axis:
    """Unix seconds to x: `start` at the left edge of the plot, `end` at its right edge."""

    start: float
    end: float
    now: float

    def x(self, stamp: float) -> float:
        clamped = min(max(stamp, self.start), self.end)
        plot = WIDTH - LABEL_WIDTH - RIGHT_PAD
        return LABEL_WIDTH + (clamped - self.start) / (self.end - self.start) * plot


def fleet_svg(view: FleetView, *, ahead_seconds: float | None = None) -> str:
    """The whole chart: from `view.since` to the later of an hour past now and the predicted
    drain of the queue, or exactly `ahead_seconds` past now when given."""
    axis = chart_axis(view, ahead_seconds)
    slots = [slot for host in view.hosts for slot in host.slots]
    height = TOP + max(len(slots), 1) * ROW_HEIGHT + LEGEND_HEIGHT
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="fleet-chart" width="100%" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12" '
        f'role="img" aria-label="Fleet timeline">',
        _defs(),
        f'<text x="8" y="{TOP - 10}" fill="#555">slot · profile · GPUs</text>',
        *_ticks(axis, len(slots)),
    ]
    for index, slot in enumerate(slots):
        parts.extend(_row(slot, TOP + index * ROW_HEIGHT, axis))
    if not slots:
        parts.append(f'<text x="8" y="{TOP + 22}" fill="#555">No slot is configured.</text>')
    parts.extend(_now_line(axis, len(slots)))
    parts.extend(_legend(height - LEGEND_HEIGHT + 14))
    parts.append("</svg>")
    return "\n".join(parts)


def chart_axis(view: FleetView, ahead_seconds: float | None = None) -> Axis:
    if ahead_seconds is not None and not ahead_seconds > 0:
        raise ValueError("ahead_seconds must be above 0")
    now = view.at
    if ahead_seconds is not None:
        end = now + ahead_seconds
    else:
        end = max(now + MIN_AHEAD_SECONDS, view.drain_at or now)
    start = min(view.since, now)
    return Axis(start=start, end=max(end, start + 1.0), now=now)


def offset_text(seconds: float) -> str:
    """A tick's distance from now, to the minute: "now", "-2 h", "+30 min", "+1 h 15 min"."""
    minutes = round(abs(seconds) / 60)
    if minutes == 0:
        return "now"
    hours, rest = divmod(minutes, 60)
    body = f"{rest} min" if not hours else f"{hours} h" + (f" {rest} min" if rest else "")
    return ("+" if seconds > 0 else "-") + body


def duration_text(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{max(seconds, 0.0):.0f} s"


def slot_label(slot: SlotView) -> str:
    devices = ",".join(str(device) for device in slot.devices) or "-"
    return f"{slot.name} · {slot.gpu_profile} · GPU {devices}"


def _defs() -> str:
    """Predicted jobs are hatched: they are a forecast, not something that happened."""
    colour = COLOURS["predicted"]
    return (
        f'<defs><pattern id="{HATCH_ID}" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{colour}" '
        f'fill-opacity="0.15"/><line x1="0" y1="0" x2="0" y2="6" stroke="{colour}" '
        f'stroke-width="2.5"/></pattern></defs>'
    )


def _ticks(axis: Axis, rows: int) -> list[str]:
    """Ticks at whole steps from now, so "now" is always one of them."""
    span = axis.end - axis.start
    step = next((s for s in TICK_STEPS if span / s <= MAX_TICKS - 1), TICK_STEPS[-1])
    first = math.ceil((axis.start - axis.now) / step)
    last = math.floor((axis.end - axis.now) / step)
    bottom = TOP + max(rows, 1) * ROW_HEIGHT
    parts = []
    for k in range(first, last + 1):
        x = axis.x(axis.now + k * step)
        parts.append(
            f'<line class="tick" x1="{x:.1f}" y1="{TOP - 4}" x2="{x:.1f}" y2="{bottom}" '
            f'stroke="#e0e0e0"/>'
            f'<text class="tick-label" x="{x:.1f}" y="{TOP - 10}" text-anchor="middle" '
            f'fill="#555">{escape(offset_text(k * step))}</text>'
        )
    return parts


def _row(slot: SlotView, y: float, axis: Axis) -> list[str]:
    """A slot's band: its label and state on the left, its segments on the axis."""
    idle = slot.job_id is None
    label = slot_label(slot)
    shown = label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"
    band = "#f1f1f1" if idle else "#ffffff"  # an idle slot reads grey at a glance
    parts = [
        f'<g class="slot-row{" idle" if idle else ""}" data-slot="{escape(slot.name)}">',
        f'<rect x="0" y="{y}" width="{WIDTH}" height="{ROW_HEIGHT}" fill="{band}" '
        f'stroke="#e6e6e6"/>',
        f'<text x="8" y="{y + 15}" fill="#222"><title>{escape(label)}</title>'
        f"{escape(shown)}</text>",
        f'<text class="slot-state" x="8" y="{y + 29}" font-size="10.5" fill="#666">'
        f"{escape(_state_text(slot))}</text>",
    ]
    bar_y = y + (ROW_HEIGHT - BAR_HEIGHT) / 2
    for segment in slot.timeline:
        parts.extend(_segment(segment, slot, bar_y, axis))
    parts.append("</g>")
    return parts


def _state_text(slot: SlotView) -> str:
    if slot.job_id:
        state = f"running {slot.job_id}"
    elif slot.idle_seconds is None:
        state = "idle, no job yet"
    else:
        state = f"idle for {duration_text(slot.idle_seconds)}"
    return state + ("" if slot.worker_alive else " · no worker")


def _segment(segment: TimelineSegment, slot: SlotView, y: float, axis: Axis) -> list[str]:
    """One bar; a running one ends at now, with its predicted rest dashed up to its ETA."""
    end = axis.now if segment.kind == "running" else segment.end_at
    if segment.start_at > axis.end or (end is not None and end < axis.start):
        return []  # wholly off the axis
    x0 = axis.x(segment.start_at)
    width = UNKNOWN_BAR if end is None else max(axis.x(end) - x0, MIN_BAR)
    colour = COLOURS[segment.kind]
    fill = f"url(#{HATCH_ID})" if segment.kind == "predicted" else colour
    job = escape(segment.job_id)
    parts = [
        f'<rect class="bar {segment.kind}" data-job="{job}" x="{x0:.1f}" y="{y:.1f}" '
        f'width="{width:.1f}" height="{BAR_HEIGHT}" rx="2" fill="{fill}" stroke="{colour}">'
        f"<title>{escape(_tooltip(segment, slot, axis.now))}</title></rect>"
    ]
    eta = slot.eta_finish_at
    if segment.kind == "running" and segment.job_id == slot.job_id and eta and eta > axis.now:
        x1 = axis.x(eta)
        parts.append(
            f'<rect class="eta" data-job="{job}" x="{axis.x(axis.now):.1f}" y="{y:.1f}" '
            f'width="{max(x1 - axis.x(axis.now), MIN_BAR):.1f}" height="{BAR_HEIGHT}" rx="2" '
            f'fill="none" stroke="{colour}" stroke-dasharray="4 3">'
            f"<title>{job}: predicted to end {_clock(eta)}</title></rect>"
        )
    return parts


def _tooltip(segment: TimelineSegment, slot: SlotView, now: float) -> str:
    lines = [
        f"{segment.job_id} · {segment.kind} · {slot.name}",
        f"start {_clock(segment.start_at)}",
    ]
    if segment.kind == "running":
        lines.append(f"running for {duration_text(now - segment.start_at)}")
        if segment.job_id == slot.job_id and slot.eta_finish_at is not None:
            lines.append(f"predicted end {_clock(slot.eta_finish_at)}")
    elif segment.end_at is None:
        lines.append("end unknown: no estimate")
    else:
        took = duration_text(segment.end_at - segment.start_at)
        lines.append(f"end {_clock(segment.end_at)} ({took})")
    return "\n".join(lines)


def _clock(stamp: float) -> str:
    """Local wall-clock time, as the rest of the UI shows it."""
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S")


def _now_line(axis: Axis, rows: int) -> list[str]:
    x = axis.x(axis.now)
    bottom = TOP + max(rows, 1) * ROW_HEIGHT
    return [
        f'<line class="now-line" x1="{x:.1f}" y1="{TOP - 4}" x2="{x:.1f}" y2="{bottom}" '
        # Thin and a little transparent: a job that has just ended still shows under it.
        f'stroke="{NOW_COLOUR}" stroke-width="1.5" stroke-opacity="0.8">'
        f"<title>now: {_clock(axis.now)}</title></line>"
    ]


def _legend(y: float) -> list[str]:
    """Swatches for every kind, the now line and the ETA outline; none is a `bar`."""
    items = [(kind, COLOURS[kind]) for kind in COLOURS]
    parts = ['<g class="legend">']
    x = float(LABEL_WIDTH)
    for kind, colour in items:
        fill = f"url(#{HATCH_ID})" if kind == "predicted" else colour
        parts.append(
            f'<rect x="{x:.0f}" y="{y - 10}" width="14" height="12" rx="2" fill="{fill}" '
            f'stroke="{colour}"/><text x="{x + 19:.0f}" y="{y}" fill="#333">{kind}</text>'
        )
        x += 100
    parts.append(
        f'<rect x="{x:.0f}" y="{y - 10}" width="14" height="12" rx="2" fill="none" '
        f'stroke="{COLOURS["running"]}" stroke-dasharray="4 3"/>'
        f'<text x="{x + 19:.0f}" y="{y}" fill="#333">until ETA</text>'
        f'<line x1="{x + 100:.0f}" y1="{y - 11}" x2="{x + 100:.0f}" y2="{y + 3}" '
        f'stroke="{NOW_COLOUR}" stroke-width="2"/>'
        f'<text x="{x + 106:.0f}" y="{y}" fill="#333">now</text>'
    )
    parts.append("</g>")
    return parts
