"""ETAs that simulate the fleet: the queue list-scheduled over the configured slots.

Each queued job, in queue order, is taken by the slot that is free first (a slot running a job
is free when that job's predicted time is up), as the workers take them, and lasts its
predicted seconds scaled to that slot's GPU profile. Predictions are the cost model's
(calibrated where measured timings exist) for the fleet's slowest profile, stored with each
job; a faster slot takes the share the cost model gives its profile. A job without a
prediction (upscale, enhance) is scheduled as taking no time and has no predicted finish.
A paused queue is scheduled as if it were resumed now."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cosmos_workflow.domain.params import Backend, default_params
from cosmos_workflow.domain.work import QueuedRun
from cosmos_workflow.planner.cost import CostModel
from cosmos_workflow.planner.schedule import list_schedule
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.estimates import REFERENCE_RUN, PlanningTarget, planning_target
from cosmos_workflow.store import jobs as store
from cosmos_workflow.store.db import now
from cosmos_workflow.store.session import Session
from cosmos_workflow.store.workers import SlotJob, running_on_slots

# Queues longer than this get ETAs for their first jobs only: each list stays bounded.
MAX_ETA_JOBS = 20_000


@dataclass(frozen=True, slots=True)
class Eta:
    slot: str | None  # where it runs (running) or is predicted to run (queued)
    start_at: float  # Unix seconds
    finish_at: float | None  # None: no prediction for the job


def queue_etas(ctx: Context, session: Session, upto: int) -> dict[str, Eta]:
    """ETAs of the running jobs and of the first `upto` queued jobs, by job id."""
    running = running_on_slots(session)
    target = planning_target(ctx).with_busy_slots(session, running)
    cost, _ = target.cost_model(session)
    stamp = now()
    etas = _running(running, stamp)
    queued = store.queued_predictions(session, min(max(0, upto), MAX_ETA_JOBS))
    scale = _profile_scale(cost, target, {backend for _, backend, _ in queued})
    seconds = [
        {p: (predicted or 0.0) * scale[(backend, p)] for p in target.fleet.profiles}
        for _, backend, predicted in queued
    ]
    schedule = list_schedule(seconds, target.fleet)
    for (job_id, _, predicted), at in zip(queued, schedule.placements, strict=True):
        finish = stamp + at.finish if predicted is not None else None
        etas[job_id] = Eta(at.slot, stamp + at.start, finish)
    return etas


def _running(running: Sequence[SlotJob], stamp: float) -> dict[str, Eta]:
    etas = {}
    for job in running:
        started = job.started_at or stamp
        finish = started + job.predicted_seconds if job.predicted_seconds is not None else None
        etas[job.job_id] = Eta(job.slot, started, finish)
    return etas


def _profile_scale(
    cost: CostModel, target: PlanningTarget, backends: set[str]
) -> dict[tuple[str, str], float]:
    """Per (backend, profile): a job's seconds there over its seconds on the planned profile."""
    scale = {}
    for name in backends:
        backend = Backend(name)
        run = _reference(backend)
        base = cost.predict(backend, target.gpu_profile, [run]).total_seconds
        for profile in target.fleet.profiles:
            there = cost.predict(backend, profile, [run]).total_seconds
            scale[(name, profile)] = there / base if base > 0 else 1.0
    return scale


def _reference(backend: Backend) -> QueuedRun:
    return QueuedRun(
        run_id=REFERENCE_RUN.run_id,
        job_id=REFERENCE_RUN.job_id,
        priority=0,
        queue_index=0,
        weights=REFERENCE_RUN.weights,
        params=default_params(backend),
        negative_prompt=None,
        video=REFERENCE_RUN.video,
    )


def last_position(positions: Sequence[int | None]) -> int:
    return max((p for p in positions if p is not None), default=0)
