"""What every tab shares: domain errors shown to the user, and short formats."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

import gradio as gr

from cosmos_workflow.domain.errors import CosmosError

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


def parse_date(text: str | None, field: str) -> float | None:
    """`YYYY-MM-DD` (local midnight) or empty; anything else is refused with the field's name."""
    if not text or not text.strip():
        return None
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d").timestamp()
    except ValueError:
        raise gr.Error(f"{field}: write the date as YYYY-MM-DD, got {text!r}") from None
