"""Sweeps: the cartesian product of prompts, control-weight axes and seeds, as one named unit.

An axis is written as a user types it: `depth=0.2:0.8:0.2` (start:stop:step, stop included),
`seg=0.3,0.6` (a list) or `edge=0.5` (one value). A weight of 0 leaves the control out of that
combination (a control at weight 0 renders nothing); a combination with every weight 0 asks for
no control at all and is skipped (and counted, so a preview can say so)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cosmos_workflow.domain.controls import Control, parse_control, parse_weight
from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.domain.params import MAX_SEED

MAX_AXIS_VALUES = 1_000
MAX_SEEDS = 1_000
# Values of a stepped axis are rounded to this many decimals, so 0.2:0.8:0.2 gives 0.6, not
# 0.6000000000000001 (which would be a different weight to every comparison and every key).
AXIS_DECIMALS = 6


@dataclass(frozen=True)
class WeightAxis:
    control: Control
    values: tuple[float, ...]

    def describe(self) -> str:
        return f"{self.control.value}=" + ",".join(f"{v:g}" for v in self.values)


@dataclass(frozen=True)
class Combination:
    """One cell of a sweep's grid: the weights (controls at 0 left out) and the seed."""

    weights: Mapping[Control, float]
    seed: int | None


@dataclass(frozen=True)
class SweepGrid:
    axes: tuple[WeightAxis, ...]
    seeds: tuple[int, ...]  # empty: the parameters' own seed

    def combinations(self) -> tuple[list[Combination], int]:
        """Every combination in axis order (the first axis varies slowest), and how many were
        skipped because every weight in them is 0."""
        cells: list[Combination] = []
        skipped = 0
        seeds: Sequence[int | None] = self.seeds or (None,)
        for values in itertools.product(*(axis.values for axis in self.axes)):
            weights = {a.control: v for a, v in zip(self.axes, values, strict=True) if v > 0}
            if not weights:
                skipped += len(seeds)
                continue
            cells.extend(Combination(weights, seed) for seed in seeds)
        return cells, skipped

    def size(self, prompts: int) -> int:
        """Runs the sweep would queue for `prompts` prompts (skipped combinations excluded)."""
        cells, _ = self.combinations()
        return prompts * len(cells)


def parse_axis(text: str) -> WeightAxis:
    """`depth=0.2:0.8:0.2`, `seg=0.3,0.6` or `edge=0.5` as an axis."""
    if not isinstance(text, str) or "=" not in text:
        raise InvalidInput(
            f"a weight axis looks like depth=0.2:0.8:0.2 or seg=0.3,0.6; got {text!r}",
            field="weights",
        )
    name, spec = (part.strip() for part in text.split("=", 1))
    control = parse_control(name)
    if ":" in spec:
        return WeightAxis(control, _stepped(control, spec))
    return axis_of(control.value, [v.strip() for v in spec.split(",")])


def axis_of(name: str, values: Sequence[object]) -> WeightAxis:
    """An axis from a control name and a list of values (the API's and import's shape)."""
    control = parse_control(name)
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise InvalidInput(
            f"the {control.value} axis needs a list of weights, got {values!r}", field="weights"
        )
    if len(values) > MAX_AXIS_VALUES:
        raise InvalidInput(f"at most {MAX_AXIS_VALUES} values per axis", field="weights")
    numbers = tuple(_weight(control, v) for v in values)
    if len(set(numbers)) != len(numbers):
        raise InvalidInput(f"the {control.value} axis repeats a value", field="weights")
    return WeightAxis(control, numbers)


def _stepped(control: Control, spec: str) -> tuple[float, ...]:
    parts = spec.split(":")
    if len(parts) != 3:
        raise InvalidInput(
            f"a stepped axis is start:stop:step, e.g. {control.value}=0.2:0.8:0.2; got {spec!r}",
            field="weights",
        )
    start, stop, step = (_weight(control, p.strip()) for p in parts)
    if step <= 0:
        raise InvalidInput(f"the {control.value} axis needs a step above 0", field="weights")
    if stop < start:
        raise InvalidInput(
            f"the {control.value} axis stops ({stop:g}) before it starts ({start:g})",
            field="weights",
        )
    count = math.floor((stop - start) / step + 1e-9) + 1
    if count > MAX_AXIS_VALUES:
        raise InvalidInput(f"at most {MAX_AXIS_VALUES} values per axis", field="weights")
    return tuple(round(start + i * step, AXIS_DECIMALS) for i in range(count))


def _weight(control: Control, value: object) -> float:
    return parse_weight(value, f"a {control.value} axis value")


def check_axes(axes: Sequence[WeightAxis]) -> tuple[WeightAxis, ...]:
    if not axes:
        raise InvalidInput("give at least one weight axis, e.g. depth=0.2:0.8:0.2", field="weights")
    seen: set[Control] = set()
    for axis in axes:
        if axis.control in seen:
            raise InvalidInput(f"control {axis.control.value!r} has two axes", field="weights")
        seen.add(axis.control)
    return tuple(axes)


def parse_seeds(values: Sequence[object] | str | None) -> tuple[int, ...]:
    """Seeds as a list, or typed as `1,2,3` or a range `1:4` (1, 2, 3 and 4)."""
    if values is None:
        return ()
    if isinstance(values, str):
        text = values.strip()
        if ":" in text:
            low, _, high = text.partition(":")
            start, stop = _seed(low.strip()), _seed(high.strip())
            if stop < start or stop - start + 1 > MAX_SEEDS:
                raise InvalidInput(
                    f"seeds {text!r} must be a range of 1 to {MAX_SEEDS} seeds", field="seeds"
                )
            return tuple(range(start, stop + 1))
        values = [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(values, Sequence) or len(values) > MAX_SEEDS:
        raise InvalidInput(f"seeds must be a list of at most {MAX_SEEDS} numbers", field="seeds")
    seeds = tuple(_seed(v) for v in values)
    if len(set(seeds)) != len(seeds):
        raise InvalidInput("a seed is repeated", field="seeds")
    return seeds


def _seed(value: object) -> int:
    if isinstance(value, bool):
        raise InvalidInput(f"a seed must be a whole number, got {value!r}", field="seeds")
    try:
        number = int(value) if isinstance(value, int | str) else None
    except ValueError:
        number = None
    if number is None or not 0 <= number <= MAX_SEED:
        raise InvalidInput(
            f"a seed must be a whole number 0 to {MAX_SEED}, got {value!r}", field="seeds"
        )
    return number
