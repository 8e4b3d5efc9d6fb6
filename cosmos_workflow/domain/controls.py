"""Control signals and control sets.

A control is one conditioning signal of Cosmos Transfer (blurred RGB `vis`, Canny `edge`, `depth`,
`seg`) and of Cosmos 3 (the same four, where `vis` is called `blur`, and the world-surface map
`wsm`). A run asks for a set of controls, each with a weight in [0, 1].

`vis` and Cosmos 3's `blur` are one control: both are the RGB video blurred (a bilateral blur
plus down- and up-scaling) at the same five strength presets, computed from the input video when
no control video is given (Transfer2.5 and Cosmos 3 alike), so an input's `vis` control video
serves as Cosmos 3's `blur` control video and `blur=0.5` and `vis=0.5` mean the same."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from enum import StrEnum

from cosmos_workflow.domain.errors import InvalidInput


class Control(StrEnum):
    VIS = "vis"
    EDGE = "edge"
    DEPTH = "depth"
    SEG = "seg"
    WSM = "wsm"  # Cosmos 3's world-surface map; always a precomputed control video


# File stems and spellings users write, mapped to the control they name.
CONTROL_ALIASES: dict[str, Control] = {
    "vis": Control.VIS,
    "blur": Control.VIS,
    "edge": Control.EDGE,
    "canny": Control.EDGE,
    "depth": Control.DEPTH,
    "seg": Control.SEG,
    "segmentation": Control.SEG,
    "wsm": Control.WSM,
}

ControlSet = frozenset[Control]
Weights = Mapping[Control, float]


def parse_control(name: str) -> Control:
    key = name.strip().lower()
    if key not in CONTROL_ALIASES:
        known = ", ".join(c.value for c in Control)
        raise InvalidInput(f"unknown control {name!r}; known controls: {known}", field="weights")
    return CONTROL_ALIASES[key]


def control_set_key(controls: Iterable[Control]) -> str:
    """A stable, readable key for a control set, e.g. 'depth+edge'."""
    return "+".join(sorted(c.value for c in controls))


def parse_control_set_key(key: str) -> ControlSet:
    if not key:
        return frozenset()
    return frozenset(parse_control(part) for part in key.split("+"))


def validate_weights(raw: Mapping[str, object]) -> dict[Control, float]:
    """Check control weights and return them keyed by Control.

    Weights must be finite numbers in [0, 1]. A weight of 0 asks for nothing, so it is dropped;
    at least one control must remain."""
    weights: dict[Control, float] = {}
    for name, value in raw.items():
        control = parse_control(str(name))
        number = parse_weight(value, f"weight of {name!r}")
        if control in weights:
            raise InvalidInput(f"control {control.value!r} is given twice", field="weights")
        if number > 0.0:
            weights[control] = number
    if not weights:
        raise InvalidInput(
            "at least one control needs a weight above 0, e.g. --weights edge=0.5",
            field="weights",
        )
    return weights


def parse_weight(value: object, what: str) -> float:
    """A weight as a number in [0, 1], from a number or its text; `what` names it in errors."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInput(f"{what} must be a number, got {value!r}", field="weights")
    try:
        number = float(value)
    except ValueError:
        raise InvalidInput(f"{what} must be a number, got {value!r}", field="weights") from None
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise InvalidInput(f"{what} must be between 0 and 1, got {value!r}", field="weights")
    return number


def parse_weights_text(text: str) -> dict[Control, float]:
    """Parse `vis=0.3,edge=0.5` as typed on the command line."""
    raw: dict[str, object] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise InvalidInput(
                f"weights must look like edge=0.5,depth=0.3; got {part!r}", field="weights"
            )
        name, value = part.split("=", 1)
        if name.strip() in raw:
            raise InvalidInput(f"control {name.strip()!r} is given twice", field="weights")
        raw[name.strip()] = value.strip()
    return validate_weights(raw)


def effective_weights(batch_controls: Iterable[Control], weights: Weights) -> dict[Control, float]:
    """The weights a run gets inside a process loaded with `batch_controls`.

    Every control of the process that the run did not ask for gets weight 0, so the run renders
    exactly what it asked for (a control at weight 0 contributes nothing)."""
    missing = set(weights) - set(batch_controls)
    if missing:
        raise ValueError(f"run asks for controls the batch lacks: {control_set_key(missing)}")
    return {control: float(weights.get(control, 0.0)) for control in batch_controls}
