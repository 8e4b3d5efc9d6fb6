"""What every tab shares: domain errors shown to the user, and short formats."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

import gradio as gr

from cosmos_workflow.domain.errors import CosmosError
from cosmos_workflow.services.views import RunView

P = ParamSpec("P")
R = TypeVar("R")


def shown_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Raise domain errors as gr.Error, so the browser shows the message instead of nothing."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except CosmosError as exc:
            raise gr.Error(exc.message, title="Refused") from None

    return wrapper


def live_trigger(tab: str) -> gr.Button:
    """A button nobody sees: the page's event-stream script (ui/app.py) clicks it when
    something the tab shows changed, so the tab re-reads through its own handler."""
    return gr.Button("Live update", visible="hidden", elem_id=f"live-{tab}")


def seconds_text(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 3600:
        return f"{value / 3600:.1f} h"
    if value >= 60:
        return f"{value / 60:.1f} min"
    return f"{value:.0f} s"


def when_text(stamp: float | None) -> str:
    return "" if stamp is None else datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S")


def controls_text(weights: dict[str, Any]) -> str:
    return "+".join(sorted(weights)) or "-"


def weights_text(weights: dict[str, Any]) -> str:
    return ", ".join(f"{k}={float(v):g}" for k, v in sorted(weights.items())) or "-"


def ranges_text(ranges: dict[str, list[float]]) -> str:
    """A job's weights over its runs: `depth 0.4-0.8, seg 0.3` (one value when all agree)."""
    parts = []
    for control, bounds in sorted(ranges.items()):
        low, high = (float(bounds[0]), float(bounds[-1])) if bounds else (0.0, 0.0)
        parts.append(f"{control} {low:g}" if low == high else f"{control} {low:g}-{high:g}")
    return ", ".join(parts) or "-"


def escaped(text: str) -> str:
    """Text shown as is in Markdown: its markup characters escaped."""
    return re.sub(r"([\\`*_\[\]<>|~#])", r"\\\1", text)


def short_text(text: str | None, limit: int = 60) -> str:
    """A prompt on one line, cut to `limit` characters: lists say which prompt, details say it
    all."""
    line = " ".join((text or "").split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def run_cells(run: RunView, prompt_chars: int = 60) -> list[Any]:
    """What a run is, as a table's first cells: id, status, prompt, its own weights, seed and
    sweep (the Jobs tab's runs of a job; the Runs tab's rows, which add more)."""
    return [
        run.id,
        run.status,
        short_text(run.prompt_text, prompt_chars),
        weights_text(run.weights),
        "" if run.seed is None else run.seed,
        run.sweep_name or "",
    ]


FINISHING_SECONDS = 10.0  # this close past its predicted end a job is finishing, not late


def remaining_text(finish_at: float | None, now: float) -> str:
    """Until a predicted end: `in 3.0 min`; `finishing` around it; `overdue by 2.0 min` past it.
    The ETA of a running job is its prediction, which a slow run outlives: never `in 0 s`."""
    if finish_at is None:
        return "no estimate"
    left = finish_at - now
    if left > 1:
        return f"in {seconds_text(left)}"
    if left > -FINISHING_SECONDS:
        return "finishing"
    return f"overdue by {seconds_text(-left)}"


def parse_date(text: str | None, field: str) -> float | None:
    """`YYYY-MM-DD` (local midnight) or empty; anything else is refused with the field's name."""
    if not text or not text.strip():
        return None
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d").timestamp()
    except ValueError:
        raise gr.Error(f"{field}: write the date as YYYY-MM-DD, got {text!r}") from None
