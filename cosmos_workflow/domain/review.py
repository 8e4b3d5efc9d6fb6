"""How a sweep's runs lie out as review grids, one page per prompt and seed.

The first weight axis runs down the rows and the second across the columns; with one axis the
grid is a single row, and a third axis or more turns each of its combinations into a page of
its own (beside the prompt and the seed), so a page is always two-dimensional at most. A weight
of 0 is a value like any other on an axis: the run simply has no such control.

A combination may hold several runs: a retry repeats a failed run's prompt, weights and seed.
The newest shows; the older ones are listed, so nothing is silently lost."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

# Weights are compared at the precision sweeps store them with (domain.sweeps.AXIS_DECIMALS).
WEIGHT_DECIMALS = 6

T = TypeVar("T")


@dataclass(frozen=True)
class Axis:
    control: str
    values: tuple[float, ...]


@dataclass(frozen=True)
class Placed:
    """What the layout needs to know of a run."""

    run_id: str
    prompt_id: str
    weights: Mapping[str, float]  # controls at 0 left out, as runs store them
    seed: int | None
    created_at: float


@dataclass(frozen=True)
class Cell:
    weights: Mapping[str, float]  # the combination, every axis' control (0 included)
    run_id: str | None  # the newest run of the combination; None: no run (yet, or skipped)
    earlier: tuple[str, ...]  # older runs of the same combination, newest first


@dataclass(frozen=True)
class Page:
    prompt_id: str
    seed: int | None
    fixed: Mapping[str, float]  # the values of the axes past the second, on this page
    rows: Axis | None  # None: a single row
    columns: Axis | None  # None: a single column
    cells: tuple[tuple[Cell, ...], ...]  # [row][column]


def weight_key(value: float) -> float:
    return round(float(value), WEIGHT_DECIMALS)


def axes_of_runs(runs: Iterable[Placed]) -> list[Axis]:
    """Axes for runs that no sweep laid out: every control whose weight varies among them (a
    run without the control counts 0), most values first, then by name. A control at one weight
    throughout is no axis: every page would show it alike."""
    listed = list(runs)
    controls = sorted({c for run in listed for c in run.weights})
    axes = []
    for control in controls:
        values = sorted({weight_key(run.weights.get(control, 0.0)) for run in listed})
        if len(values) > 1:
            axes.append(Axis(control, tuple(values)))
    return sorted(axes, key=lambda a: (-len(a.values), a.control))


def layout(
    runs: Sequence[Placed],
    axes: Sequence[Axis],
    prompt_ids: Sequence[str] = (),
    seeds: Sequence[int | None] = (),
) -> list[Page]:
    """Pages for every prompt and seed given (a sweep's, in its order; empty cells where runs are
    missing) and for any others the runs hold, after them. A run at a value no axis holds is left
    out; controls no axis names do not place a run (runs laid out by `axes_of_runs` hold each
    such control at one weight throughout)."""
    prompts = _ordered(prompt_ids, (r.prompt_id for r in runs))
    seed_order = _ordered(seeds, (r.seed for r in runs)) or [None]
    newest = _newest_first(runs, axes)
    extras = [tuple(v) for v in itertools.product(*(a.values for a in axes[2:]))]
    return [
        _page(prompt, seed, extra, axes, newest)
        for prompt in prompts
        for seed in seed_order
        for extra in extras
    ]


Key = tuple[str, int | None, tuple[float, ...]]


def _newest_first(runs: Sequence[Placed], axes: Sequence[Axis]) -> dict[Key, list[str]]:
    placed: dict[Key, list[Placed]] = {}
    for run in runs:
        values = tuple(weight_key(run.weights.get(a.control, 0.0)) for a in axes)
        if any(v not in a.values for v, a in zip(values, axes, strict=True)):
            continue
        placed.setdefault((run.prompt_id, run.seed, values), []).append(run)
    return {
        key: [r.run_id for r in sorted(group, key=lambda r: (r.created_at, r.run_id), reverse=True)]
        for key, group in placed.items()
    }


def _page(
    prompt: str,
    seed: int | None,
    extra: tuple[float, ...],
    axes: Sequence[Axis],
    newest: Mapping[Key, list[str]],
) -> Page:
    rows, columns = _plane(axes)
    grid = tuple(
        tuple(
            _cell(prompt, seed, (*row_value, *column_value, *extra), axes, newest)
            for column_value in _steps(columns)
        )
        for row_value in _steps(rows)
    )
    fixed = {a.control: v for a, v in zip(axes[2:], extra, strict=True)}
    return Page(prompt, seed, fixed, rows, columns, grid)


def _plane(axes: Sequence[Axis]) -> tuple[Axis | None, Axis | None]:
    if not axes:
        return None, None
    if len(axes) == 1:
        return None, axes[0]  # one axis: a single row, easier to compare side by side
    return axes[0], axes[1]


def _steps(axis: Axis | None) -> list[tuple[float, ...]]:
    return [()] if axis is None else [(v,) for v in axis.values]


def _cell(
    prompt: str,
    seed: int | None,
    values: tuple[float, ...],
    axes: Sequence[Axis],
    newest: Mapping[Key, list[str]],
) -> Cell:
    found = newest.get((prompt, seed, values), [])
    weights = {a.control: v for a, v in zip(axes, values, strict=True)}
    return Cell(weights, found[0] if found else None, tuple(found[1:]))


def _ordered(given: Sequence[T], found: Iterable[T]) -> list[T]:
    """`given` in its order, then whatever else `found` holds, in first-seen order."""
    return list(dict.fromkeys(itertools.chain(given, found)))
