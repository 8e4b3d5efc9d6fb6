"""Drain time on simulated fleets: the queue as queued, the GPU-seconds plan, and the fleet plan.

Three workloads (a 64-run weight sweep over 4 control sets queued one run per job; 16 one-run
jobs; a queue of two priorities) run on simulated hosts of 1, 2, 4 and 8 GPU slots, each three
ways, one after the other on one home and database: as queued; then, after `cosmos calibrate`
fitted the cost model to that execution's measured timings (as a user's queue learns from its
first runs), with the plan made for one slot (the GPU-seconds plan: fewest loads); then with the
plan made for the fleet (least drain time), both from the same calibrated model. Every execution
is real: the workload queued afresh, the real worker driving every slot at once, the simulator
as the model process.

What is measured, per execution, in simulated GPU seconds (the simulator's own log clock, as
the worker records each process's load and compute in the timings table):
- drain: each slot's jobs, in the order the workers took them, back to back, each lasting its
  measured load + compute; the largest over the slots. All work is queued before the worker
  starts, so a slot is never idle before its last job: this is when the fleet would be done.
- GPU seconds: the sum of every process's measured load + compute;
- the lower bound (planner.schedule.drain_lower_bound) computed from the loads and per-run
  compute measured in that same execution, so prediction error does not count against a plan.
Wall seconds are printed beside them (they include this machine's process starts).

Targets checked and printed: the fleet plan never drains later than the queue as queued; on 4
and 8 slots its measured drain is within 10 % of the bound; on 1 slot it is the GPU-seconds
plan (the same batches).

    python -m benchmarks.fleet [--quick] [--time-scale S]
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

from sqlalchemy import select

from benchmarks.common import SCENE, quiet_logging, ratio_line, seed_prompts
from cosmos_workflow.config import load_settings
from cosmos_workflow.domain.fleet import Fleet
from cosmos_workflow.planner.schedule import RunBound, drain_lower_bound, list_schedule
from cosmos_workflow.services import batching, calibration, queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.views import ImportResult
from cosmos_workflow.store.models import AttemptRow, RunRow, TimingRow, WorkerRow
from cosmos_workflow.worker.loop import run_worker

PROFILE = "h100-80gb"
# Real seconds slept per simulated GPU second. A run here simulates about 115 GPU seconds
# (Transfer1, 10 steps, one clip) and a load about 105, so 0.002 makes a run 0.23 s of wall.
DEFAULT_TIME_SCALE = 0.002
QUICK_TIME_SCALE = 0.0003
STEPS = 10
PLANS = ("as queued", "GPU-seconds plan", "fleet plan")
TARGET_ABOVE_BOUND_PCT = 10.0

Workload = Callable[[list[str], bool], list[queue.JobRequest]]
Shape = tuple[tuple[tuple[int, ...], int], ...]


def sweep(prompt_ids: list[str], quick: bool) -> list[queue.JobRequest]:
    """A weight sweep over 4 control sets, one run per job as a script queues it."""
    sets = ("edge", "depth", "seg", "depth+edge")
    per_set = 4 if quick else 16
    requests = []
    for controls in sets:
        for step in range(per_set):
            weight = round(0.2 + 0.6 * step / max(1, per_set - 1), 3)
            weights = {control: weight for control in controls.split("+")}
            requests.append(queue.build_request([prompt_ids[0]], weights, {"steps": STEPS}))
    return requests


def one_run_jobs(prompt_ids: list[str], quick: bool) -> list[queue.JobRequest]:
    """Sixteen one-run jobs of one control set."""
    count = 8 if quick else 16
    return [
        queue.build_request([prompt_ids[i % len(prompt_ids)]], {"edge": 0.5}, {"steps": STEPS})
        for i in range(count)
    ]


def mixed_priorities(prompt_ids: list[str], quick: bool) -> list[queue.JobRequest]:
    """Urgent jobs queued behind ordinary ones: two priorities, two control sets, jobs of one
    and of three runs."""
    requests = []
    jobs = 4 if quick else 12
    for i in range(jobs):
        priority = 5 if i % 3 == 2 else 0
        controls = {"edge": 0.6} if i % 2 else {"depth": 0.5}
        runs = 3 if i % 4 == 0 else 1
        prompts = [prompt_ids[(i + k) % len(prompt_ids)] for k in range(runs)]
        requests.append(queue.build_request(prompts, controls, {"steps": STEPS}, priority=priority))
    return requests


WORKLOADS: dict[str, Workload] = {
    "64-run sweep over 4 control sets": sweep,
    "16 one-run jobs": one_run_jobs,
    "two priorities": mixed_priorities,
}


@dataclass(frozen=True)
class Measured:
    plan: str
    batches: Shape | None  # the applied plan's batches (None: as queued)
    processes: int
    drain: float
    gpu_seconds: float
    lower_bound: float
    predicted_drain: float
    wall: float

    @property
    def above_bound_pct(self) -> float:
        return 100 * (self.drain / self.lower_bound - 1) if self.lower_bound > 0 else 0.0


def fleet_context(home: Path, slots: int) -> Context:
    home.mkdir(parents=True, exist_ok=True)
    settings = load_settings(
        home=home,
        database_url=f"sqlite:///{home / 'cosmos.db'}",
        input_roots=[home],
        hosts=[{"name": "sim", "simulate": True, "gpus": slots, "gpu_profile": PROFILE}],
    )
    return Context(settings)


def execute_all(home: Path, workload: Workload, slots: int, quick: bool) -> list[Measured]:
    """The workload as queued, then (calibrated on that) with each plan, on one home."""
    ctx = fleet_context(home, slots)
    try:
        prompt_ids = seed_prompts(ctx, 4, SCENE)
        results = []
        for plan in PLANS:
            results.append(execute(ctx, workload(prompt_ids, quick), slots, plan))
            if plan == "as queued":
                calibration.calibrate(ctx)
        return results
    finally:
        ctx.db.dispose()


def execute(ctx: Context, requests: list[queue.JobRequest], slots: int, plan: str) -> Measured:
    queued = queue.enqueue_many(ctx, requests)
    view = _apply(ctx, plan)
    started = time.perf_counter()
    run_worker(ctx, exit_when_idle=True)
    wall = time.perf_counter() - started
    shape = None if plan == "as queued" else _shape(view, queued.job_ids)
    return _measure(ctx, plan, view, shape, queued, slots, wall)


def _apply(ctx: Context, plan: str) -> batching.PlanView:
    """Analyse for one slot (the GPU-seconds plan) or for the fleet, and apply it unless the
    queue is to run as queued; the view says what was predicted."""
    view = batching.analyze(ctx, mode="auto", slots=1 if plan == "GPU-seconds plan" else None)
    if plan != "as queued" and any(not batch.unchanged for batch in view.batches):
        batching.apply_plan(ctx, view.plan_id)
    return view


def _measure(
    ctx: Context,
    plan: str,
    view: batching.PlanView,
    shape: Shape | None,
    queued: ImportResult,
    slots: int,
    wall: float,
) -> Measured:
    """This execution's processes only: the jobs that ran its queued runs."""
    with ctx.db.read() as session:
        jobs = set(
            session.scalars(
                select(RunRow.job_id).where(RunRow.origin_job_id.in_(queued.job_ids))
            ).all()
        )
        timings = {
            row.job_id: row
            for row in session.scalars(select(TimingRow).where(TimingRow.job_id.in_(jobs)))
        }
        placed = session.execute(
            select(WorkerRow.slot, AttemptRow.job_id)
            .join(WorkerRow, WorkerRow.id == AttemptRow.worker_id)
            .where(AttemptRow.job_id.in_(jobs))
            .order_by(AttemptRow.started_at)
        ).all()
    if sum(t.runs for t in timings.values()) != queued.runs:
        raise SystemExit(f"{queued.runs} runs were queued but the timings hold a different count")
    per_slot: dict[str, float] = {}
    for slot, job_id in placed:
        timing = timings[job_id]
        per_slot[slot or "?"] = (
            per_slot.get(slot or "?", 0.0) + timing.load_seconds + timing.compute_seconds
        )
    bounds = [
        RunBound({PROFILE: t.compute_seconds / t.runs}, {PROFILE: t.load_seconds})
        for t in timings.values()
        for _ in range(t.runs)
    ]
    predicted = _predicted_drain(view, plan, slots)
    return Measured(
        plan=plan,
        batches=shape,
        processes=len(timings),
        drain=max(per_slot.values()),
        gpu_seconds=sum(t.load_seconds + t.compute_seconds for t in timings.values()),
        lower_bound=drain_lower_bound(bounds, Fleet.uniform(slots, PROFILE, 80.0)),
        predicted_drain=predicted,
        wall=wall,
    )


def _predicted_drain(view: batching.PlanView, plan: str, slots: int) -> float:
    """What the planner predicts for this execution's fleet. The GPU-seconds plan was made for
    one slot: its batches, in execution order, list-scheduled over this fleet."""
    if plan == "as queued":
        return view.drain_seconds_before
    if plan == "fleet plan":
        return view.drain_seconds_after
    seconds = [{PROFILE: batch.predicted_seconds} for batch in view.batches]
    return list_schedule(seconds, Fleet.uniform(slots, PROFILE, 80.0)).drain_seconds


def _shape(view: batching.PlanView, job_ids: list[str]) -> Shape:
    """A plan's batches by the places of their jobs in the workload and their run counts, so
    plans made in two executions (two databases, other ids) compare."""
    place = {job_id: index for index, job_id in enumerate(job_ids)}
    return tuple(
        sorted(
            (tuple(sorted(place[j] for j in batch.source_job_ids)), len(batch.run_ids))
            for batch in view.batches
        )
    )


def report(name: str, slots: int, results: list[Measured]) -> list[str]:
    lines = [f"{name}, {slots} slot(s):"]
    for m in results:
        lines.append(
            f"  {m.plan:<17} {m.processes:>3} processes  drain {m.drain:>8.0f} s  "
            f"GPU {m.gpu_seconds:>8.0f} s  bound {m.lower_bound:>8.0f} s "
            f"(+{m.above_bound_pct:4.1f}%)  predicted drain {m.predicted_drain:>8.0f} s  "
            f"wall {m.wall:5.1f} s"
        )
    queued, gpu, fleet = results
    lines.append(
        ratio_line(f"{name} {slots} slots fleet plan drain vs as queued", fleet.drain, queued.drain)
    )
    lines.append(
        ratio_line(
            f"{name} {slots} slots fleet plan drain vs GPU-seconds plan", fleet.drain, gpu.drain
        )
    )
    lines.extend(_checks(slots, results))
    return lines


def _checks(slots: int, results: list[Measured]) -> list[str]:
    queued, gpu, fleet = results
    checks = [
        _check(
            "the fleet plan drains no later than the queue as queued",
            fleet.drain <= queued.drain * 1.001,
        )
    ]
    if slots >= 4:
        checks.append(
            _check(
                f"the fleet plan is within {TARGET_ABOVE_BOUND_PCT:g}% of the bound "
                f"(+{fleet.above_bound_pct:.1f}%)",
                fleet.above_bound_pct <= TARGET_ABOVE_BOUND_PCT,
            )
        )
    if slots == 1:
        checks.append(
            _check(
                "on one slot the fleet plan is the GPU-seconds plan", fleet.batches == gpu.batches
            )
        )
    return checks


def _check(what: str, ok: bool) -> str:
    return f"  check: {what}: {'yes' if ok else 'NO'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller workloads, 1 and 4 slots")
    parser.add_argument("--time-scale", type=float, default=None)
    args = parser.parse_args(argv)
    scale = args.time_scale or (QUICK_TIME_SCALE if args.quick else DEFAULT_TIME_SCALE)
    os.environ["COSMOS_SIM_TIME_SCALE"] = str(scale)
    quiet_logging()
    sizes = (1, 4) if args.quick else (1, 2, 4, 8)
    failed = 0
    with tempfile.TemporaryDirectory(prefix="cosmos-bench-fleet-") as folder:
        for name, workload in WORKLOADS.items():
            for slots in sizes:
                home = Path(folder) / f"home{len(os.listdir(folder))}"
                results = execute_all(home, workload, slots, args.quick)
                lines = report(name, slots, results)
                failed += sum(1 for line in lines if line.endswith(": NO"))
                print("\n".join(lines), flush=True)
    print(f"checks failed: {failed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
