"""ETAs that simulate the fleet: the queue list-scheduled over the configured slots.

Each queued job, in queue order, is taken by the slot that is free first (a slot running a job
is free when that job's predicted time is up), as the workers take them, and lasts its
predicted seconds scaled to that slot's GPU profile. Predictions are the cost model's
(calibrated where measured timings exist) for the fleet's slowest profile, stored with each
job; a faster slot takes the share the cost model gives its profile, and a simulated host's
slot its time scale of it (ETAs are wall-clock times, predictions GPU time). A job without a
prediction (upscale, enhance) is scheduled as taking no time and has no predicted finish.
A paused queue is scheduled as if it were resumed now."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from cosmos_workflow.domain.fleet import Fleet
from cosmos_workflow.planner.cost import CostModel
from cosmos_workflow.planner.schedule import list_schedule
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.estimates import PlanningTarget, planning_target, profile_scale
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


def queue_etas(
    ctx: Context, session: Session, upto: int, running: Sequence[SlotJob] | None = None
) -> dict[str, Eta]:
    """ETAs of the running jobs and of the first `upto` queued jobs, by job id; `running`: the
    running jobs when the caller read them already."""
    running = running_on_slots(session) if running is None else running
    target = planning_target(ctx)
    cost, _ = target.cost_model(session)
    target = target.with_busy_slots(session, running, cost)
    stamp = now()
    etas = _running(running, target, cost, stamp)
    queued = store.queued_predictions(session, min(max(0, upto), MAX_ETA_JOBS))
    scale = {
        (backend, profile): profile_scale(cost, backend, profile, target.gpu_profile)
        for backend in {backend for _, backend, _ in queued}
        for profile in target.fleet.profiles
    }
    fleet, paced = _wall_clock(target)
    seconds = [
        {key: (predicted or 0.0) * scale[(backend, p)] * pace for key, (p, pace) in paced.items()}
        for _, backend, predicted in queued
    ]
    schedule = list_schedule(seconds, fleet)
    for (job_id, _, predicted), at in zip(queued, schedule.placements, strict=True):
        finish = stamp + at.finish if predicted is not None else None
        etas[job_id] = Eta(at.slot, stamp + at.start, finish)
    return etas


def _wall_clock(target: PlanningTarget) -> tuple[Fleet, dict[str, tuple[str, float]]]:
    """The fleet in wall-clock time: a simulated host's slots run at its pace, so each is
    scheduled under a profile key of its own (profile and pace), with its busy time paced too;
    the keys map back to (profile, pace)."""
    keys: dict[str, tuple[str, float]] = {}
    slots = []
    for slot in target.fleet.slots:
        pace = target.pace(slot)
        key = slot.gpu_profile if pace == 1.0 else f"{slot.gpu_profile}@{pace:g}"
        keys[key] = (slot.gpu_profile, pace)
        slots.append(replace(slot, gpu_profile=key, busy_for_seconds=slot.busy_for_seconds * pace))
    return Fleet.of(slots), keys


def _running(
    running: Sequence[SlotJob], target: PlanningTarget, cost: CostModel, stamp: float
) -> dict[str, Eta]:
    """Running jobs end when their prediction, scaled to their slot's profile, is up (a slot
    the configuration does not list: unscaled)."""
    etas = {}
    for job in running:
        started = job.started_at or stamp
        slot = target.fleet.slot(job.slot) if job.slot else None
        finish = target.finish_of(job, slot, cost) if slot else None
        if slot is None and job.predicted_seconds is not None:
            finish = started + job.predicted_seconds
        etas[job.job_id] = Eta(job.slot, started, finish)
    return etas
