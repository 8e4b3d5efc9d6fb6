"""Planner benchmark: plans of 1,000, 10,000 and 100,000 synthetic queued runs in every mode,
and auto with output changes allowed (`auto+chg`; plain `auto` keeps every output).

A realistic mix: 6 control sets, 2 priorities, a few parameter variants, both backends, jobs of
1-4 runs. Prints seconds per plan, runs per second, and the ratio against two baselines measured
in the same run: building the QueuedRun list, and a naive strict grouping (one dict pass).

Then auto planned for fleets of `--slots` identical slots (default 8 and 64): seconds per plan,
its ratio to the one-slot auto plan of the same queue measured in the same run, the batches,
and the predicted drain time before and after with its distance above the lower bound.

Run: python -m benchmarks.planner [--sizes 1000 10000 100000] [--slots 8 64]"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.fleet import Fleet
from cosmos_workflow.domain.params import Backend, ExecutionParams
from cosmos_workflow.domain.work import QueuedRun, VideoInfo
from cosmos_workflow.planner.cost import CostModel
from cosmos_workflow.planner.cost_defaults import default_cost_model
from cosmos_workflow.planner.plan import Plan, PlanMode, plan_batches

CONTROL_SETS = [
    {Control.EDGE: 0.5},
    {Control.DEPTH: 0.6},
    {Control.SEG: 0.4},
    {Control.VIS: 0.3},
    {Control.EDGE: 0.3, Control.DEPTH: 0.3},
    {Control.EDGE: 0.25, Control.DEPTH: 0.25, Control.SEG: 0.25, Control.VIS: 0.25},
]
SIZES = [(1280, 704), (960, 960), (704, 1280)]
# Every mode as a user runs it, then auto allowed to change outputs (GPU batches, mixing).
VARIANTS = [*((mode, False) for mode in PlanMode), (PlanMode.AUTO, True)]


def synthetic_queue(count: int, seed: int = 7) -> list[QueuedRun]:
    rng = random.Random(seed)
    runs: list[QueuedRun] = []
    job = 0
    while len(runs) < count:
        backend = Backend.TRANSFER1 if rng.random() < 0.7 else Backend.TRANSFER2_5
        params = ExecutionParams(
            backend=backend, seed=rng.choice([1, 2, 3]), steps=rng.choice([35, 20])
        )
        priority = rng.choice([0, 0, 0, 1])
        for index in range(min(rng.randint(1, 4), count - len(runs))):
            runs.append(
                QueuedRun(
                    run_id=f"run_{job}_{index}",
                    job_id=f"job_{job}",
                    priority=priority,
                    queue_index=job,
                    weights=rng.choice(CONTROL_SETS),
                    params=params,
                    negative_prompt="blurry",
                    video=VideoInfo(rng.choice([121, 121, 241]), 24.0, *rng.choice(SIZES)),
                )
            )
        job += 1
    return runs


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def naive_strict(runs: list[QueuedRun]) -> dict[tuple[object, ...], list[QueuedRun]]:
    groups: dict[tuple[object, ...], list[QueuedRun]] = {}
    for run in runs:
        key = (run.backend, run.priority, run.params, run.negative_prompt, run.controls)
        groups.setdefault(key, []).append(run)
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--slots", type=int, nargs="*", default=[8, 64])
    args = parser.parse_args()
    cost = default_cost_model()
    print(
        f"{'runs':>8} {'mode':>8} {'s/plan':>8} {'runs/s':>10} {'x build':>8} {'x naive':>8} "
        f"{'batches':>8} {'speedup':>8}"
    )
    for size in args.sizes:
        build = timed(lambda size=size: synthetic_queue(size))
        runs = synthetic_queue(size)
        naive = timed(lambda runs=runs: naive_strict(runs))
        for mode, allow in VARIANTS:
            start = time.perf_counter()
            plan = plan_batches(
                runs,
                mode=mode,
                cost=cost,
                gpu_profile="h100-80gb",
                gpu_memory_gb=80.0,
                allow_output_changes=allow,
            )
            seconds = time.perf_counter() - start
            name = f"{mode.value}+chg" if allow else mode.value
            print(
                f"{size:>8} {name:>8} {seconds:>8.3f} {size / seconds:>10.0f} "
                f"{seconds / build:>8.1f} {seconds / naive:>8.1f} {len(plan.batches):>8} "
                f"{plan.speedup:>8.3f}"
            )
    if args.slots:
        fleets(args.sizes, args.slots, cost)


def fleets(sizes: list[int], slot_counts: list[int], cost: CostModel) -> None:
    """Auto on fleets of identical slots, against auto on one slot of the same queue."""
    print(
        f"\n{'runs':>8} {'slots':>6} {'s/plan':>8} {'x 1 slot':>9} {'batches':>8} "
        f"{'drain before':>13} {'drain after':>12} {'above bound':>12}"
    )
    for size in sizes:
        runs = synthetic_queue(size)
        one = timed(lambda runs=runs: _auto(runs, cost, 1))
        for slots in slot_counts:
            start = time.perf_counter()
            plan = _auto(runs, cost, slots)
            seconds = time.perf_counter() - start
            above = 100 * (plan.drain_seconds_after / plan.lower_bound_seconds - 1)
            print(
                f"{size:>8} {slots:>6} {seconds:>8.3f} {seconds / one:>9.1f} "
                f"{len(plan.batches):>8} {plan.drain_seconds_before:>13.0f} "
                f"{plan.drain_seconds_after:>12.0f} {above:>11.1f}%"
            )


def _auto(runs: list[QueuedRun], cost: CostModel, slots: int) -> Plan:
    return plan_batches(
        runs,
        mode=PlanMode.AUTO,
        cost=cost,
        gpu_profile="h100-80gb",
        gpu_memory_gb=80.0,
        fleet=Fleet.uniform(slots, "h100-80gb", 80.0),
    )


if __name__ == "__main__":
    main()
