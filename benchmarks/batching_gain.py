"""Simulated end-to-end gain of smart batching on five workload shapes.

For each shape: queue the workload on a fresh home, run it as queued (one model process per job)
on the simulator, and sum the simulated GPU seconds the worker measured (load_seconds +
compute_seconds in the timings table, read from the simulator's own log clock); then queue the
same workload again, analyse it with mode auto under the default output rule (only batches that
keep every run's output), apply the plan, run and measure again; then once more with output
changes allowed (auto may GPU-batch and mix control sets). Printed: the measured speedup
(unbatched / batched) next to the plan's predicted speedup, and the prediction errors, for both
rules, the second labelled "output changes allowed". Predictions use the default (uncalibrated)
cost model: each shape starts on an empty home, and the predictions of an execution are made
before its measured timings exist (calibration is never run here).

    python -m benchmarks.batching_gain [--quick] [--time-scale S]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from benchmarks.common import make_context, quiet_logging, ratio_line, seed_prompts
from cosmos_workflow.services import batching, queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.models import RunRow, TimingRow
from cosmos_workflow.worker.loop import run_worker

# Real seconds slept per simulated GPU second: a Transfer1 run simulates several hundred GPU
# seconds, so 0.0005 keeps a shape's sleeping to a few seconds of wall time.
DEFAULT_TIME_SCALE = 0.0005
QUICK_TIME_SCALE = 0.0001

Workload = Callable[[list[str], bool], list[queue.JobRequest]]


def uniform(prompt_ids: list[str], quick: bool) -> list[queue.JobRequest]:
    """Many one-prompt jobs, all with the same control set, weights and parameters."""
    count = 4 if quick else 16
    return [
        queue.build_request([prompt_ids[i % len(prompt_ids)]], {"edge": 0.6}) for i in range(count)
    ]


MIXED: tuple[tuple[dict[str, float], dict[str, object], int], ...] = (
    ({"edge": 0.8}, {}, 0),
    ({"edge": 0.6}, {}, 0),
    ({"depth": 0.7}, {}, 0),
    ({"depth": 0.5, "seg": 0.5}, {}, 0),
    ({"depth": 0.4, "seg": 0.4}, {}, 0),
    ({"vis": 0.3, "edge": 0.5}, {}, 0),
    ({"edge": 0.5}, {"steps": 20}, 0),
    ({"edge": 0.7, "depth": 0.3}, {"guidance": 7.0}, 0),
    ({"depth": 0.9}, {"seed": 7}, 0),
    ({"seg": 0.8}, {}, 5),
    ({"seg": 0.6}, {}, 5),
    ({"edge": 0.9}, {"steps": 20}, 5),
)


def many_control_sets(prompt_ids: list[str], quick: bool) -> list[queue.JobRequest]:
    """Mixed control sets, a few parameter variations, two priorities; two prompts per job."""
    lines = MIXED[::3] if quick else MIXED
    return [
        queue.build_request(
            [prompt_ids[i % len(prompt_ids)], prompt_ids[(i + 1) % len(prompt_ids)]],
            weights,
            params,
            priority=priority,
        )
        for i, (weights, params, priority) in enumerate(lines)
    ]


def distilled(prompt_ids: list[str], quick: bool) -> list[queue.JobRequest]:
    """Transfer1 distilled edge (one diffusion step): the model load dominates each process."""
    count = 4 if quick else 16
    return [
        queue.build_request([prompt_ids[i % len(prompt_ids)]], {"edge": 1.0}, {"distilled": True})
        for i in range(count)
    ]


# A sweep over control mixes, one job per combination and prompt. No two mixes are proportional:
# Cosmos 3 normalises the weights of a sample to sum 1 (transfer.py L181-189), so proportional
# mixes would render alike there.
CONTROL_MIXES: tuple[dict[str, float], ...] = (
    {"edge": 1.0},
    {"depth": 1.0},
    {"seg": 1.0},
    {"vis": 1.0},
    {"edge": 0.5, "depth": 0.5},
    {"edge": 0.7, "depth": 0.3},
    {"depth": 0.5, "seg": 0.5},
    {"edge": 0.4, "depth": 0.3, "seg": 0.3},
    {"vis": 0.5, "edge": 0.5},
    {"vis": 0.3, "depth": 0.7},
)


def control_mix_sweep(backend: str) -> Workload:
    """The same sweep over control mixes on one backend. Transfer2.5 loads a model per control
    key set (several keys switch every sample to the multicontrol model), so it keeps outputs
    only by grouping equal key sets; Cosmos 3 serves every mix from one set of weights, so the
    whole sweep shares one process with every output unchanged."""

    def workload(prompt_ids: list[str], quick: bool) -> list[queue.JobRequest]:
        mixes, prompts = (CONTROL_MIXES[::3], 1) if quick else (CONTROL_MIXES, 2)
        return [
            queue.build_request([prompt_id], weights, {"backend": backend})
            for weights in mixes
            for prompt_id in prompt_ids[:prompts]
        ]

    return workload


SHAPES: dict[str, Workload] = {
    "uniform controls": uniform,
    "many control sets": many_control_sets,
    "distilled edge": distilled,
    "control-mix sweep, Transfer2.5": control_mix_sweep("transfer2.5"),
    "control-mix sweep, Cosmos 3": control_mix_sweep("cosmos3"),
}


@dataclass(frozen=True)
class Execution:
    runs: int
    processes: int  # model processes started (timing rows)
    gpu_seconds: float  # simulated, measured from the process logs
    wall_seconds: float


@dataclass(frozen=True)
class Batched:
    """One batched execution: the auto plan under one output rule, and what it measured."""

    execution: Execution
    predicted_after: float
    may_differ: int  # batches whose outputs may differ from each run alone


@dataclass(frozen=True)
class ShapeResult:
    name: str
    unbatched: Execution
    predicted_before: float
    kept: Batched  # the default rule: every output kept
    allowed: Batched  # output changes allowed

    def measured_speedup(self, batched: Batched) -> float:
        return self.unbatched.gpu_seconds / batched.execution.gpu_seconds

    def predicted_speedup(self, batched: Batched) -> float:
        return self.predicted_before / batched.predicted_after

    @staticmethod
    def error_pct(predicted: float, measured: float) -> float:
        return 100 * (predicted - measured) / measured


def succeeded_runs(ctx: Context) -> int:
    with ctx.db.read() as session:
        statement = select(func.count()).select_from(RunRow).where(RunRow.status == "succeeded")
        return int(session.scalar(statement) or 0)


def execute(ctx: Context, expected_runs: int) -> Execution:
    """Run the queue to empty with the real worker on the simulator; measure from timings."""
    since = time.time()
    before = succeeded_runs(ctx)
    started = time.perf_counter()
    run_worker(ctx, simulate=True, exit_when_idle=True)
    wall = time.perf_counter() - started
    ran = succeeded_runs(ctx) - before
    if ran != expected_runs:
        raise SystemExit(f"{expected_runs} runs were queued but {ran} succeeded")
    with ctx.db.read() as session:
        processes, seconds = session.execute(
            select(
                func.count(TimingRow.id),
                func.coalesce(func.sum(TimingRow.load_seconds + TimingRow.compute_seconds), 0.0),
            ).where(TimingRow.created_at >= since)
        ).one()
    return Execution(ran, int(processes), float(seconds), wall)


def enqueue(ctx: Context, requests: list[queue.JobRequest]) -> int:
    return queue.enqueue_many(ctx, requests).runs


def run_shape(name: str, workload: Workload, home: Path, quick: bool) -> ShapeResult:
    ctx = make_context(home)
    prompt_ids = seed_prompts(ctx, 6)
    requests = workload(prompt_ids, quick)
    runs = enqueue(ctx, requests)
    as_queued = batching.analyze(ctx, mode="auto")
    unbatched = execute(ctx, runs)
    kept = run_batched(ctx, requests, runs, as_queued, allow=False)
    allowed = run_batched(ctx, requests, runs, as_queued, allow=True)
    ctx.db.dispose()
    return ShapeResult(name, unbatched, as_queued.predicted_seconds_before, kept, allowed)


def run_batched(
    ctx: Context,
    requests: list[queue.JobRequest],
    runs: int,
    as_queued: batching.PlanView,
    *,
    allow: bool,
) -> Batched:
    """Queue the workload again, apply auto's plan under one output rule, run and measure."""
    enqueue(ctx, requests)
    plan = batching.analyze(ctx, mode="auto", allow_output_changes=allow)
    if as_queued.predicted_seconds_before != plan.predicted_seconds_before:
        raise SystemExit("the same queue was predicted two ways")
    batching.apply_plan(ctx, plan.plan_id)
    differ = sum(1 for batch in plan.batches if batch.verdict == "may_differ")
    return Batched(execute(ctx, runs), plan.predicted_seconds_after, differ)


def report(result: ShapeResult) -> list[str]:
    u = result.unbatched
    lines = [
        f"{result.name}: {u.runs} runs",
        f"  unbatched:          {u.processes:>3} processes, measured {u.gpu_seconds:>9.1f} GPU s "
        f"(predicted {result.predicted_before:>9.1f}), wall {u.wall_seconds:.1f} s",
    ]
    for label, batched, suffix in (
        ("outputs kept", result.kept, ""),
        ("changes allowed", result.allowed, ", output changes allowed"),
    ):
        lines.extend(_batched_lines(result, label, batched, suffix))
    return lines


def _batched_lines(result: ShapeResult, label: str, batched: Batched, suffix: str) -> list[str]:
    b, u = batched.execution, result.unbatched
    measured, predicted = result.measured_speedup(batched), result.predicted_speedup(batched)
    error = result.error_pct
    return [
        f"  {label + ':':<19} {b.processes:>3} processes, measured {b.gpu_seconds:>9.1f} GPU s "
        f"(predicted {batched.predicted_after:>9.1f}), wall {b.wall_seconds:.1f} s, "
        f"{batched.may_differ} batch(es) may differ",
        f"    speedup measured {measured:.3f}x, predicted {predicted:.3f}x; prediction error: "
        f"speedup {error(predicted, measured):+.1f}%, "
        f"batched GPU s {error(batched.predicted_after, b.gpu_seconds):+.1f}%, "
        f"unbatched GPU s {error(result.predicted_before, u.gpu_seconds):+.1f}%",
        ratio_line(f"{result.name} measured speedup{suffix}", u.gpu_seconds, b.gpu_seconds),
        ratio_line(
            f"{result.name} predicted speedup{suffix}",
            result.predicted_before,
            batched.predicted_after,
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small workloads, for a smoke run")
    parser.add_argument("--time-scale", type=float, default=None, help="real s per simulated s")
    args = parser.parse_args(argv)
    quiet_logging()
    scale = args.time_scale
    if scale is None:
        scale = QUICK_TIME_SCALE if args.quick else DEFAULT_TIME_SCALE
    os.environ["COSMOS_SIM_TIME_SCALE"] = str(scale)
    print(
        f"batching gain: {os.cpu_count()} CPUs, simulator time scale {scale}, mode auto, "
        "outputs kept (the default) and output changes allowed"
    )
    with tempfile.TemporaryDirectory(prefix="cosmos-bench-") as tmp:
        for index, (name, workload) in enumerate(SHAPES.items()):
            result = run_shape(name, workload, Path(tmp) / f"shape-{index}", args.quick)
            for line in report(result):
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
