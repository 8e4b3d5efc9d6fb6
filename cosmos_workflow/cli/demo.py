"""`cosmos demo`: the product's value in two minutes on any machine, no GPU needed."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from cosmos_workflow.cli.common import JsonOption, console, err_console, print_json, table
from cosmos_workflow.cli.review import DEFAULT_SERVER, review_url


def demo(
    home: Annotated[
        Path | None, typer.Option(help="Data folder for the demo (default: its own, beside yours).")
    ] = None,
    time_scale: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Real seconds per simulated GPU second.")
    ] = 0.0005,
    as_json: JsonOption = False,
) -> None:
    """Sample inputs, a realistic queue, its plans, and three simulated executions: unbatched,
    with the auto plan keeping every output, and with the auto plan allowed to change outputs,
    measured against predicted."""
    from cosmos_workflow.config import load_settings
    from cosmos_workflow.demo import scenario
    from cosmos_workflow.services.context import Context

    folder = scenario.demo_home(home)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    os.environ["COSMOS_SIM_TIME_SCALE"] = str(time_scale)
    settings = load_settings(
        home=folder,
        database_url=f"sqlite:///{folder / 'cosmos.db'}",
        input_roots=[folder],
        hosts=[],
    )
    hooks = scenario.Hooks() if as_json else _rich_hooks()
    result = scenario.run_demo(Context(settings), hooks)
    if as_json:
        print_json(result)
        return
    _summary(result, folder)


def _rich_hooks() -> Any:
    from cosmos_workflow.demo.scenario import Hooks

    def step(text: str) -> None:
        console.print(f"[bold cyan]>[/bold cyan] {text}")

    return Hooks(step=step, plans=_print_plans, run_queue=_progress)


PLAN_LABELS = {"auto_output_changes_allowed": "auto, output changes allowed"}


def _print_plans(plans: dict[str, Any]) -> None:
    rows = []
    for mode, plan in plans.items():
        differ = sum(1 for batch in plan.batches if batch.verdict == "may_differ")
        rows.append(
            [
                PLAN_LABELS.get(mode, mode),
                len(plan.batches),
                plan.loads_avoided,
                f"{plan.predicted_seconds_before / 60:.1f} min",
                f"{plan.predicted_seconds_after / 60:.1f} min",
                f"{plan.speedup:.2f}x",
                differ,
            ]
        )
    console.print(
        table(
            "Smart-batching plans (predicted by the default cost model)",
            [
                "mode",
                "batches",
                "loads avoided",
                "GPU time now",
                "with plan",
                "speedup",
                "may differ",
            ],
            rows,
        )
    )


def _progress(done_and_total: Callable[[], tuple[int, int]], worker: threading.Thread) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
    ) as bar:
        task = bar.add_task("runs finished", total=done_and_total()[1])
        while worker.is_alive():
            bar.update(task, completed=done_and_total()[0])
            time.sleep(0.2)
        bar.update(task, completed=done_and_total()[0])


def _summary(result: Any, folder: Path) -> None:
    executions = (
        result.unbatched,
        result.batched,
        result.batched_output_changes_allowed,
        result.sweep,
        result.cosmos3.execution,
    )
    rows = [
        [
            e.label,
            e.jobs,
            e.runs_succeeded,
            f"{e.predicted_seconds / 60:.1f} min",
            f"{e.measured_seconds / 60:.1f} min",
            f"{e.wall_seconds:.1f} s",
        ]
        for e in executions
    ]
    console.print(
        table(
            "Simulated GPU time: predicted vs measured",
            ["execution", "processes", "runs", "predicted", "measured", "wall"],
            rows,
        )
    )
    console.print(
        f"keeping every output: measured speedup [bold]{result.measured_speedup:.2f}x[/bold] "
        f"(predicted {result.predicted_speedup:.2f}x after calibration; calibration fit error "
        f"{result.calibration_error_pct:.1f}%, batched prediction off by "
        f"{result.prediction_error_pct:.1f}%)"
    )
    console.print(
        "output changes allowed: measured speedup "
        f"[bold]{result.measured_speedup_output_changes_allowed:.2f}x[/bold] (predicted "
        f"{result.predicted_speedup_output_changes_allowed:.2f}x, off by "
        f"{result.prediction_error_pct_output_changes_allowed:.1f}%); "
        f"{result.batches_may_differ_output_changes_allowed} batch(es) may render differently "
        "from each run alone"
    )
    c3 = result.cosmos3
    console.print(
        f"Cosmos 3: {c3.runs} runs of a sweep over control mixes ({c3.jobs_as_queued} jobs as "
        f"queued) ran as {c3.batches} process(es), {c3.batches_identical} of them identical "
        "(every output as if rendered alone: one set of weights serves every control); "
        f"predicted speedup {c3.predicted_speedup:.2f}x (predicted, not measured here; "
        "`python -m benchmarks.batching_gain` measures it); review it with "
        f"`COSMOS_HOME={folder} cosmos review {c3.sweep_name} --open`"
    )
    console.print(
        "\nOpen the web UI on the demo data:\n"
        f"  COSMOS_HOME={folder} cosmos serve\n"
        "then browse http://127.0.0.1:7860, and review the sweep it rendered last (pick the "
        "weights that look right, compare two side by side, export the picks):\n"
        f"  {review_url(DEFAULT_SERVER, result.sweep_name)}\n"
        f"  (COSMOS_HOME={folder} cosmos review {result.sweep_name} --open)"
    )
