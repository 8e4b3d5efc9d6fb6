"""The fleet view: every configured host and slot, what runs there now with its progress and ETA,
how long it has been idle, and its timeline: the attempts of the last hours and the jobs the ETA
predicts for it next (services.eta)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.domain.fleet import Slot
from cosmos_workflow.domain.states import AttemptEnd
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.eta import Eta, queue_etas
from cosmos_workflow.services.targets import HostChoice, choose_hosts
from cosmos_workflow.store import jobs as store
from cosmos_workflow.store.db import now
from cosmos_workflow.store.events import latest_events
from cosmos_workflow.store.models import WorkerRow
from cosmos_workflow.store.runs import runs_of_jobs
from cosmos_workflow.store.session import Session
from cosmos_workflow.store.workers import (
    SlotAttempt,
    SlotJob,
    last_attempt_ends,
    running_on_slots,
    slot_attempts,
    slot_workers,
)

MAX_HOURS = 168.0  # a week of timeline at most
MAX_PAST_SEGMENTS = 5_000  # attempts read for the timeline, newest first
MAX_PREDICTED_JOBS = 1_000  # queued jobs placed on the predicted part of the timeline

Segment = Literal["succeeded", "failed", "ended", "running", "predicted"]


class TimelineSegment(BaseModel):
    job_id: str
    start_at: float  # Unix seconds
    end_at: float | None  # None: running, or predicted without an estimate
    kind: Segment


class SlotView(BaseModel):
    name: str  # `host/index`
    index: int
    devices: list[int]
    gpu_profile: str
    gpu_memory_gb: float
    worker_id: str | None  # the worker registered on this slot, if one runs
    worker_alive: bool  # heard from within one lease
    job_id: str | None  # the job running here now
    job_runs: int
    progress: dict[str, Any] | None  # the running job's latest progress event
    started_at: float | None
    eta_finish_at: float | None
    idle_seconds: float | None  # since its last job ended; None while busy or never used
    queued_next: int  # queued jobs the ETA places here
    timeline: list[TimelineSegment]


class HostView(BaseModel):
    name: str
    remote: bool  # over SSH
    container: str
    simulated: bool
    gpu_profile: str
    gpus: list[int]
    gpus_per_job: int
    slots: list[SlotView]


class FleetView(BaseModel):
    at: float  # when the view was read (Unix seconds)
    since: float  # the timeline's start
    hosts: list[HostView]
    slots: int
    busy: int
    idle: int
    queued_jobs: int
    drain_at: float | None  # when the ETA predicts the last queued job ends
    elsewhere: list[str]  # running jobs on slots this configuration does not list


def fleet_view(ctx: Context, *, hours: float = 6.0) -> FleetView:
    """Every configured slot now, with `hours` of history and what the ETA predicts next."""
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 < hours <= MAX_HOURS:
        raise InvalidInput(
            f"hours must be a number above 0 and at most {MAX_HOURS:g}", field="hours"
        )
    stamp = now()
    since = stamp - hours * 3600
    choices = choose_hosts(ctx.settings, (), simulate=False)
    with ctx.db.read() as session:
        running = running_on_slots(session)
        queued = store.job_counts(session).get("queued", 0)
        etas = queue_etas(ctx, session, min(queued, MAX_PREDICTED_JOBS), running)
        facts = _SlotFacts.read(session, running, since)
    lease = ctx.settings.lease_seconds
    hosts = [_host(choice, facts, etas, stamp, lease) for choice in choices]
    slots = [slot for host in hosts for slot in host.slots]
    configured = {slot.name for slot in slots}
    finishes = [eta.finish_at for eta in etas.values() if eta.finish_at is not None]
    return FleetView(
        at=stamp,
        since=since,
        hosts=hosts,
        slots=len(slots),
        busy=sum(1 for slot in slots if slot.job_id),
        idle=sum(1 for slot in slots if not slot.job_id),
        queued_jobs=queued,
        drain_at=max(finishes) if finishes else None,
        elsewhere=sorted(job.job_id for job in running if job.slot not in configured),
    )


class _SlotFacts:
    """What the store says about slots, read in one session."""

    def __init__(
        self,
        running: dict[str, SlotJob],
        runs: dict[str, int],
        progress: dict[str, dict[str, Any]],
        attempts: list[SlotAttempt],
        last_ended: dict[str, float],
        workers: dict[str, WorkerRow],
    ) -> None:
        self.running = running
        self.runs = runs
        self.progress = progress
        self.attempts = attempts
        self.last_ended = last_ended
        self.workers = workers

    @classmethod
    def read(cls, session: Session, running: list[SlotJob], since: float) -> _SlotFacts:
        ids = [job.job_id for job in running]
        events = latest_events(session, "job.progress", ids)
        return cls(
            running={job.slot: job for job in running if job.slot},
            runs={job_id: len(rows) for job_id, rows in runs_of_jobs(session, ids).items()},
            progress={job_id: dict(event.data) for job_id, event in events.items()},
            attempts=slot_attempts(session, since, MAX_PAST_SEGMENTS),
            last_ended=last_attempt_ends(session),
            workers=slot_workers(session),
        )


def _host(
    choice: HostChoice, facts: _SlotFacts, etas: dict[str, Eta], stamp: float, lease: float
) -> HostView:
    config = choice.config
    return HostView(
        name=config.name,
        remote=config.ssh is not None,
        container=config.container,
        simulated=choice.simulate,
        gpu_profile=config.gpu_profile,
        gpus=list(config.devices),
        gpus_per_job=config.gpus_per_job,
        slots=[_slot(slot, facts, etas, stamp, lease) for slot in choice.slots],
    )


def _slot(
    slot: Slot, facts: _SlotFacts, etas: dict[str, Eta], stamp: float, lease: float
) -> SlotView:
    job = facts.running.get(slot.name)
    worker = facts.workers.get(slot.name)
    eta = etas.get(job.job_id) if job else None
    ended = facts.last_ended.get(slot.name)
    past = [
        TimelineSegment(
            job_id=a.job_id,
            start_at=a.started_at,
            end_at=a.ended_at,
            kind=_kind(a) if a.ended_at is not None else "running",
        )
        for a in reversed(facts.attempts)
        if a.slot == slot.name
    ]
    predicted = [
        TimelineSegment(job_id=job_id, start_at=e.start_at, end_at=e.finish_at, kind="predicted")
        for job_id, e in etas.items()
        if e.slot == slot.name and (job is None or job_id != job.job_id) and e.start_at >= stamp
    ]
    return SlotView(
        name=slot.name,
        index=slot.index,
        devices=list(slot.devices),
        gpu_profile=slot.gpu_profile,
        gpu_memory_gb=slot.gpu_memory_gb,
        worker_id=worker.id if worker else None,
        worker_alive=worker is not None and stamp - worker.heartbeat_at <= lease,
        job_id=job.job_id if job else None,
        job_runs=facts.runs.get(job.job_id, 0) if job else 0,
        progress=facts.progress.get(job.job_id) if job else None,
        started_at=job.started_at if job else None,
        eta_finish_at=eta.finish_at if eta else None,
        idle_seconds=None if job or ended is None else max(0.0, stamp - ended),
        queued_next=len(predicted),
        timeline=past + predicted,
    )


def _kind(attempt: SlotAttempt) -> Segment:
    """Succeeded (exit 0), failed (a non-zero exit, a crash, a signal, a timeout), or ended
    otherwise (cancelled, released, refused, reaped)."""
    if attempt.outcome == AttemptEnd.EXITED:
        return "succeeded" if attempt.exit_code == 0 else "failed"
    failed = (AttemptEnd.CRASHED, AttemptEnd.KILLED, AttemptEnd.TIMED_OUT)
    return "failed" if attempt.outcome in failed else "ended"
