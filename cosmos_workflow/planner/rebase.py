"""Rebasing a plan: what changed in the queue since it was analysed, run by run.

A plan records its basis: each planned run's job and a digest of everything the planner read of
it except its job's place in the queue (which every claim shifts), plus the order of the jobs.
Against the queue as it stands, a planned run is either still queued as it was, or gone with
its job (claimed, finished or cancelled: it is dropped from the plan), or changed in another
way (moved to another job, edited, a new run queued, the jobs' order changed): a change that
refuses the rebase. Pure: the store reads, this compares."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from cosmos_workflow.domain.params import ExecutionParams
from cosmos_workflow.domain.states import JobStatus, RunStatus
from cosmos_workflow.domain.work import QueuedRun

DIGEST_CHARS = 16  # 64 bits of BLAKE2b: enough to tell an edited run from an unchanged one
SHOWN = 5  # changes named in a refusal's message; the rest are counted


@lru_cache(maxsize=4096)
def _params_text(params: ExecutionParams) -> str:
    """Queues share a few parameter sets among many runs: encode each set once."""
    return json.dumps(params.to_dict(), sort_keys=True, separators=(",", ":"), default=str)


def run_digest(run: QueuedRun) -> str:
    """The run as the planner read it (what the queue's fingerprint covers), without its job's
    place in the queue. Floats are written exactly (`float.hex`, JSON's shortest repr)."""
    weights = sorted((control.value, float(w).hex()) for control, w in run.weights.items())
    video = (run.video.frames, float(run.video.fps).hex(), run.video.width, run.video.height)
    text = repr(
        (
            run.run_id,
            run.job_id,
            run.priority,
            weights,
            _params_text(run.params),
            run.negative_prompt,
            video,
            run.kind.value,
            run.job_gpu_batch_size,
        )
    )
    return hashlib.blake2b(text.encode("utf-8"), digest_size=DIGEST_CHARS // 2).hexdigest()


def plan_basis(runs: Sequence[QueuedRun]) -> dict[str, Any]:
    """What a plan stores to be rebased later (JSON): {"runs": {run id: [job id, digest]},
    "jobs": [job ids in execution order]}."""
    order: dict[str, None] = {}
    for run in sorted(runs, key=lambda r: r.queue_index):
        order.setdefault(run.job_id, None)
    return {
        "runs": {run.run_id: [run.job_id, run_digest(run)] for run in runs},
        "jobs": list(order),
    }


@dataclass(frozen=True)
class Gone:
    """Where a planned run that is no longer queued is now (None: it no longer exists)."""

    job_id: str
    job_status: str
    run_status: str


@dataclass(frozen=True)
class Drift:
    """The queue against a plan's basis: runs to drop (run id -> why) and changes that
    refuse a rebase (sentences)."""

    dropped: dict[str, str] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)


# A planned run that left the queue with its own job, by what its job (or the run) became.
_LEFT_WITH_JOB = {
    JobStatus.RUNNING.value: "claimed",
    JobStatus.SUCCEEDED.value: "finished",
    JobStatus.FAILED.value: "finished",
    JobStatus.CANCELLED.value: "cancelled",
}
_ENDED_RUN = {
    RunStatus.SUCCEEDED.value: "finished",
    RunStatus.FAILED.value: "finished",
    RunStatus.CANCELLED.value: "cancelled",
}


def drift(
    basis: Mapping[str, Any], queued: Sequence[QueuedRun], gone: Mapping[str, Gone | None]
) -> Drift:
    """Compare the basis with the queued runs now; `gone` says where each planned run that is
    not queued any more is (the caller reads them)."""
    planned: Mapping[str, Sequence[str]] = basis["runs"]
    now = {run.run_id: run for run in queued}
    dropped: dict[str, str] = {}
    changes: list[str] = []
    for run_id, (job_id, digest) in planned.items():
        run = now.get(run_id)
        if run is None:
            why = _why_gone(job_id, gone.get(run_id))
            if why in _LEFT_WITH_JOB.values():
                dropped[run_id] = why
            else:
                changes.append(f"run {run_id} {why}")
        elif run.job_id != job_id:
            changes.append(f"run {run_id} moved from job {job_id} to job {run.job_id}")
        elif run_digest(run) != digest:
            changes.append(f"run {run_id} of job {job_id} was edited")
    added = [run_id for run_id in now if run_id not in planned]
    if added:
        changes.append(f"{len(added)} run(s) were queued since the analysis ({_some(added)})")
    if not changes and _order_changed(basis["jobs"], queued):
        changes.append("the remaining jobs' queue order changed (a job was moved)")
    return Drift(dropped=dropped, changes=changes)


def _why_gone(planned_job: str, where: Gone | None) -> str:
    if where is None:
        return "was deleted"
    if where.job_id != planned_job:
        return f"moved from job {planned_job} to job {where.job_id} ({where.job_status})"
    if where.run_status in _ENDED_RUN:
        return _ENDED_RUN[where.run_status]  # its job may be queued again with the others
    return _LEFT_WITH_JOB.get(where.job_status, f"is no longer queued (job {where.job_status})")


def _order_changed(planned_order: Sequence[str], queued: Sequence[QueuedRun]) -> bool:
    """Whether the jobs still queued run in another order than they were planned in."""
    current: dict[str, None] = {}
    for run in sorted(queued, key=lambda r: r.queue_index):
        current.setdefault(run.job_id, None)
    still = [job_id for job_id in planned_order if job_id in current]
    return still != list(current)


def changes_text(changes: Sequence[str]) -> str:
    """The first few changes as one sentence, and how many more there are."""
    text = "; ".join(changes[:SHOWN])
    return text if len(changes) <= SHOWN else f"{text}; and {len(changes) - SHOWN} more"


def _some(ids: Sequence[str]) -> str:
    text = ", ".join(ids[:SHOWN])
    return text if len(ids) <= SHOWN else f"{text} and {len(ids) - SHOWN} more"
