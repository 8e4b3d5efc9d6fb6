"""The demo flow: sample data, a realistic queue, its plans, three simulated executions,
calibration, and measured against predicted GPU time.

The queue runs as queued, then with the auto plan under the default output rule (only batches
that keep every run's output), then with the auto plan that may change outputs (GPU batches,
mixed control sets): each figure is reported for both, the second labelled as such.

Everything goes through the same services and worker a user drives; only the GPU program is the
simulator. GPU seconds are read from the timings the worker measured (the simulator's own log
clock), so the speedup is measured, not computed from the plan."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from cosmos_workflow.demo.samples import SCENES, make_scene
from cosmos_workflow.domain.sweeps import parse_axis
from cosmos_workflow.services import batching, calibration, inputs, prompts, queue, sweeps
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.runs import list_runs
from cosmos_workflow.worker.loop import run_worker

PROMPTS = {
    "warehouse": [
        "a sunlit warehouse with forklifts moving pallets, photorealistic",
        "the same warehouse at night under flickering sodium lamps",
        "an abandoned warehouse overgrown with ivy, morning fog",
    ],
    "street": [
        "a rainy city street at dusk, neon reflections on wet asphalt",
        "a snowy village street with warm lit windows",
        "a desert town main street at noon, heat haze",
    ],
    "orchard": [
        "an apple orchard in autumn, golden light",
        "the orchard in spring bloom, soft overcast",
    ],
}

# (scene, weights, extra parameters, priority): each line queues one job per prompt of its scene,
# the way a weight sweep is usually queued: 32 runs over 8 control sets and two priorities.
WORKLOAD: tuple[tuple[str, dict[str, float], dict[str, object], int], ...] = (
    ("warehouse", {"edge": 0.8}, {}, 0),
    ("street", {"edge": 0.6}, {}, 0),
    ("warehouse", {"depth": 0.7}, {}, 0),
    ("orchard", {"edge": 1.0}, {}, 0),
    ("street", {"depth": 0.5, "seg": 0.5}, {}, 0),
    ("warehouse", {"depth": 0.4, "seg": 0.4}, {}, 0),
    ("street", {"vis": 0.3, "edge": 0.5}, {}, 0),
    ("orchard", {"depth": 0.9}, {}, 0),
    ("warehouse", {"edge": 0.5}, {"steps": 20}, 0),
    ("street", {"seg": 0.8}, {}, 5),
    ("warehouse", {"seg": 0.6}, {}, 5),
    ("orchard", {"edge": 0.7, "depth": 0.3}, {}, 0),
)


class Execution(BaseModel):
    label: str
    jobs: int
    runs_succeeded: int
    predicted_seconds: float
    measured_seconds: float  # simulated GPU seconds measured from the process logs
    wall_seconds: float


class Cosmos3Part(BaseModel):
    """A Cosmos 3 sweep over control mixes: one set of weights serves every mix, so the whole
    sweep shares one process and every batch keeps each run's output (`identical`)."""

    sweep_name: str
    runs: int
    jobs_as_queued: int
    batches: int
    batches_identical: int
    predicted_seconds_as_queued: float
    predicted_speedup: float  # predicted by the cost model, not measured here
    execution: Execution


ALLOWED = "auto_output_changes_allowed"  # the plan, and figures, with output changes allowed


class DemoResult(BaseModel):
    home: str
    runs: int
    plans: dict[str, dict[str, float]]
    unbatched: Execution
    batched: Execution  # the auto plan under the default rule: every output kept
    batched_output_changes_allowed: Execution
    predicted_speedup: float
    measured_speedup: float
    measured_seconds_unbatched: float
    measured_seconds_batched: float
    calibration_error_pct: float
    prediction_error_pct: float
    predicted_speedup_output_changes_allowed: float
    measured_speedup_output_changes_allowed: float
    measured_seconds_batched_output_changes_allowed: float
    prediction_error_pct_output_changes_allowed: float
    batches_may_differ_output_changes_allowed: int  # batches whose outputs may differ
    # A small weight sweep rendered last, to look at in the review grid (`cosmos review`).
    sweep_id: str
    sweep_name: str
    sweep: Execution
    cosmos3: Cosmos3Part


@dataclass
class Hooks:
    """How the CLI shows progress; the flow itself prints nothing."""

    step: Callable[[str], None] = lambda _text: None
    plans: Callable[[dict[str, batching.PlanView]], None] = lambda _plans: None
    run_queue: Callable[[Callable[[], tuple[int, int]], threading.Thread], None] | None = None


def prepare(ctx: Context) -> list[str]:
    """Sample inputs and prompts; returns the prompt ids per workload line's scene."""
    scenes = ctx.settings.home / "samples"
    by_scene: dict[str, list[str]] = {}
    for scene in SCENES:
        folder = make_scene(scenes / scene.name, scene)
        inputs.add_input(ctx, folder, name=scene.name)
        by_scene[scene.name] = [
            prompts.create_prompt(ctx, scene.name, text).id for text in PROMPTS[scene.name]
        ]
    return [pid for name in PROMPTS for pid in by_scene[name]]


def enqueue_workload(ctx: Context) -> int:
    by_scene: dict[str, list[str]] = {}
    for prompt in prompts.list_prompts(ctx):
        by_scene.setdefault(inputs.show_input(ctx, prompt.input_id).name, []).append(prompt.id)
    requests = [
        queue.build_request([prompt_id], weights, params, priority=priority)
        for scene, weights, params, priority in WORKLOAD
        for prompt_id in (by_scene[scene][:2] if params else by_scene[scene])
    ]
    return queue.enqueue_many(ctx, requests).runs


def _measured(ctx: Context, since: float) -> tuple[int, float]:
    """Model processes measured since `since`, and their GPU seconds."""
    totals = calibration.measured_since(ctx, since)
    return totals.processes, totals.measured_seconds


def _succeeded(ctx: Context) -> int:
    return list_runs(ctx, status="succeeded", limit=1).total


def execute(ctx: Context, label: str, predicted: float, hooks: Hooks) -> Execution:
    import time

    started = time.time()
    before = _succeeded(ctx)
    total = queue.queue_status(ctx).runs_queued
    worker = threading.Thread(
        target=run_worker,
        args=(ctx,),
        kwargs={"simulate": True, "exit_when_idle": True},
        name=f"demo-worker-{label}",
    )
    worker.start()
    if hooks.run_queue is not None:
        hooks.run_queue(lambda: (_succeeded(ctx) - before, total), worker)
    worker.join()
    jobs, measured = _measured(ctx, started)
    return Execution(
        label=label,
        jobs=jobs,
        runs_succeeded=_succeeded(ctx) - before,
        predicted_seconds=round(predicted, 1),
        measured_seconds=round(measured, 1),
        wall_seconds=round(time.time() - started, 2),
    )


def run_demo(ctx: Context, hooks: Hooks) -> DemoResult:
    os.environ.setdefault("COSMOS_SIM_TIME_SCALE", "0.001")
    hooks.step("making sample inputs, prompts and a queue")
    prepare(ctx)
    runs = enqueue_workload(ctx)
    hooks.step("planning the queue: strict, mixed, auto, and auto allowed to change outputs")
    plans = {mode: batching.analyze(ctx, mode=mode) for mode in ("strict", "mixed", "auto")}
    plans[ALLOWED] = batching.analyze(ctx, mode="auto", allow_output_changes=True)
    hooks.plans(plans)
    baseline = plans["auto"].predicted_seconds_before
    hooks.step("running the queue as it stands (one model process per job)")
    unbatched = execute(ctx, "unbatched", baseline, hooks)
    hooks.step("calibrating the cost model on the measured timings")
    fitted = calibration.calibrate(ctx)
    kept, batched = _batched_run(ctx, hooks, allow=False)
    loose, batched_loose = _batched_run(ctx, hooks, allow=True)
    sweep_id, swept = _review_sweep(ctx, hooks)
    cosmos3 = _cosmos3_sweep(ctx, hooks)
    return DemoResult(
        home=str(ctx.settings.home),
        runs=runs,
        plans={mode: _plan_figures(plan) for mode, plan in plans.items()},
        unbatched=unbatched,
        batched=batched,
        batched_output_changes_allowed=batched_loose,
        predicted_speedup=_predicted_speedup(kept),
        measured_speedup=round(unbatched.measured_seconds / batched.measured_seconds, 3),
        measured_seconds_unbatched=unbatched.measured_seconds,
        measured_seconds_batched=batched.measured_seconds,
        calibration_error_pct=round(fitted.mean_abs_error_pct, 2),
        prediction_error_pct=_error_pct(kept, batched),
        predicted_speedup_output_changes_allowed=_predicted_speedup(loose),
        measured_speedup_output_changes_allowed=round(
            unbatched.measured_seconds / batched_loose.measured_seconds, 3
        ),
        measured_seconds_batched_output_changes_allowed=batched_loose.measured_seconds,
        prediction_error_pct_output_changes_allowed=_error_pct(loose, batched_loose),
        batches_may_differ_output_changes_allowed=_may_differ(loose),
        sweep_id=sweep_id,
        sweep_name=SWEEP_NAME,
        sweep=swept,
        cosmos3=cosmos3,
    )


SWEEP_NAME = "demo-depth-x-seg"
SWEEP_AXES = ("depth=0.2:0.8:0.2", "seg=0.3,0.6")


def _review_sweep(ctx: Context, hooks: Hooks) -> tuple[str, Execution]:
    """A 4 x 2 weight sweep over one prompt of the first scene, batched (outputs kept) and
    rendered: what a user then picks from in the review grid."""
    hooks.step(f"queueing and rendering a sweep for the review grid: {' x '.join(SWEEP_AXES)}")
    scene = SCENES[0].name
    prompt = prompts.list_prompts(ctx, input_name_or_id=scene)[0].id
    request = sweeps.build_sweep([prompt], [parse_axis(a) for a in SWEEP_AXES], name=SWEEP_NAME)
    result = sweeps.queue_sweep(ctx, request)
    plan = batching.analyze(ctx, mode="auto")
    batching.apply_plan(ctx, plan.plan_id)
    assert result.sweep is not None
    return result.sweep.id, execute(
        ctx, "sweep (auto, outputs kept)", plan.predicted_seconds_after, hooks
    )


COSMOS3_SWEEP_NAME = "demo-cosmos3-mix"
# No two combinations are proportional: Cosmos 3 normalises a sample's weights to sum 1, so
# proportional mixes would render alike.
COSMOS3_AXES = ("edge=0,0.5,1", "depth=0.5", "seg=0,0.5")


def _cosmos3_sweep(ctx: Context, hooks: Hooks) -> Cosmos3Part:
    """A Cosmos 3 sweep over control mixes on two prompts of the first scene: six mixes of
    edge, depth and seg, one job each as queued, then the auto plan (every batch identical)."""
    hooks.step(f"Cosmos 3: a sweep over control mixes, {' x '.join(COSMOS3_AXES)}")
    scene = SCENES[0].name
    prompt_ids = [p.id for p in prompts.list_prompts(ctx, input_name_or_id=scene)[:2]]
    request = sweeps.build_sweep(
        prompt_ids,
        [parse_axis(a) for a in COSMOS3_AXES],
        params={"backend": "cosmos3", "steps": 20},
        name=COSMOS3_SWEEP_NAME,
    )
    sweeps.queue_sweep(ctx, request)
    plan = batching.analyze(ctx, mode="auto")
    batching.apply_plan(ctx, plan.plan_id)
    execution = execute(
        ctx, "Cosmos 3 sweep (auto, outputs kept)", plan.predicted_seconds_after, hooks
    )
    return Cosmos3Part(
        sweep_name=COSMOS3_SWEEP_NAME,
        runs=request.runs,
        jobs_as_queued=len(request.jobs),
        batches=len(plan.batches),
        batches_identical=sum(1 for b in plan.batches if b.verdict == "identical"),
        predicted_seconds_as_queued=round(plan.predicted_seconds_before, 1),
        predicted_speedup=_predicted_speedup(plan),
        execution=execution,
    )


def _batched_run(ctx: Context, hooks: Hooks, *, allow: bool) -> tuple[batching.PlanView, Execution]:
    """Queue the same work again, apply auto's plan under the given output rule, run it."""
    rule = "allowed to change outputs" if allow else "keeping every output"
    hooks.step(f"queueing the same work again and applying the auto plan {rule}")
    enqueue_workload(ctx)
    plan = batching.analyze(ctx, mode="auto", allow_output_changes=allow)
    batching.apply_plan(ctx, plan.plan_id)
    hooks.step(f"running the batched queue (auto, {rule})")
    label = "batched (auto, output changes allowed)" if allow else "batched (auto, outputs kept)"
    return plan, execute(ctx, label, plan.predicted_seconds_after, hooks)


def _plan_figures(plan: batching.PlanView) -> dict[str, float]:
    return {
        "speedup": plan.speedup,
        "predicted_seconds_before": plan.predicted_seconds_before,
        "predicted_seconds_after": plan.predicted_seconds_after,
        "batches": len(plan.batches),
        "loads_avoided": plan.loads_avoided,
        "batches_may_differ": _may_differ(plan),
    }


def _may_differ(plan: batching.PlanView) -> int:
    return sum(1 for batch in plan.batches if batch.verdict == "may_differ")


def _predicted_speedup(plan: batching.PlanView) -> float:
    return round(plan.predicted_seconds_before / plan.predicted_seconds_after, 3)


def _error_pct(plan: batching.PlanView, measured: Execution) -> float:
    error = abs(plan.predicted_seconds_after - measured.measured_seconds)
    return round(100 * error / measured.measured_seconds, 2)


def demo_home(explicit: Path | None) -> Path:
    from cosmos_workflow.config import default_home

    return explicit or default_home().parent / "cosmos-workflow-demo"
