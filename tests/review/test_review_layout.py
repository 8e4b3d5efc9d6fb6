"""The grid layout's invariants over generated sweeps: every combination has one cell, every
run shows in its combination's cell unless a newer attempt of it does, and nothing else."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from cosmos_workflow.domain.review import Axis, Placed, axes_of_runs, layout

CONTROLS = ("depth", "seg", "edge", "vis")
weights = st.sampled_from([0.0, 0.2, 0.5, 0.8, 1.0])


@st.composite
def sweeps(draw: st.DrawFn) -> tuple[list[Axis], list[str], list[int], list[Placed]]:
    count = draw(st.integers(1, 3))
    axes = [
        Axis(c, tuple(sorted(draw(st.sets(weights, min_size=1, max_size=3)))))
        for c in CONTROLS[:count]
    ]
    prompts = [f"pr{i}" for i in range(draw(st.integers(1, 2)))]
    seeds = draw(st.lists(st.integers(0, 5), max_size=2, unique=True))
    combos = list(itertools.product(prompts, seeds or [None], *(a.values for a in axes)))
    chosen = draw(st.lists(st.sampled_from(combos), max_size=12)) if combos else []
    runs = [
        Placed(
            f"run{i}",
            prompt,
            {a.control: v for a, v in zip(axes, values, strict=True) if v},
            seed,
            float(draw(st.integers(0, 3))),
        )
        for i, (prompt, seed, *values) in enumerate(chosen)
    ]
    return axes, prompts, seeds, runs


@settings(max_examples=150, deadline=None)
@given(sweeps())
def test_every_run_lies_in_its_combination_or_behind_a_newer_attempt(
    sweep: tuple[list[Axis], list[str], list[int], list[Placed]],
) -> None:
    axes, prompts, seeds, runs = sweep
    pages = layout(runs, axes, prompts, seeds)
    extra = 1
    for axis in axes[2:]:
        extra *= len(axis.values)
    assert len(pages) == len(prompts) * max(len(seeds), 1) * extra
    shown: dict[str, tuple[str, int | None, dict[str, float]]] = {}
    for page in pages:
        rows = page.rows.values if page.rows else (None,)
        columns = page.columns.values if page.columns else (None,)
        assert len(page.cells) == len(rows) and all(len(r) == len(columns) for r in page.cells)
        for row in page.cells:
            for cell in row:
                assert set(cell.weights) == {a.control for a in axes}
                for run_id in (cell.run_id, *cell.earlier):
                    if run_id is not None:
                        assert run_id not in shown
                        shown[run_id] = (page.prompt_id, page.seed, dict(cell.weights))
    by_id = {r.run_id: r for r in runs}
    assert set(shown) == set(by_id)
    for run_id, (prompt, seed, cell_weights) in shown.items():
        run = by_id[run_id]
        assert (run.prompt_id, run.seed) == (prompt, seed)
        assert {c: w for c, w in cell_weights.items() if w} == dict(run.weights)
    for page in pages:
        for cell in (c for row in page.cells for c in row if c.run_id):
            newest = by_id[cell.run_id or ""]
            assert all(by_id[e].created_at <= newest.created_at for e in cell.earlier)


def test_axes_of_runs_are_the_controls_that_vary() -> None:
    runs = [
        Placed("a", "p", {"depth": 0.5, "edge": 0.2}, None, 0.0),
        Placed("b", "p", {"depth": 0.5, "edge": 0.4}, None, 1.0),
        Placed("c", "p", {"depth": 0.5}, None, 2.0),
    ]
    assert axes_of_runs(runs) == [Axis("edge", (0.0, 0.2, 0.4))]
    (page,) = layout(runs, axes_of_runs(runs), ["p"])
    assert [c.run_id for c in page.cells[0]] == ["c", "a", "b"]
