"""Job and run states with the moves allowed between them.

Exactly one store function changes a status; it checks `can_move` first."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    MERGED = "merged"  # its runs were moved into a batch job; points at that batch


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


JOB_MOVES: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset(
        {JobStatus.RUNNING, JobStatus.CANCELLED, JobStatus.MERGED, JobStatus.FAILED}
    ),
    # A running job whose lease expired goes back to the queue.
    JobStatus.RUNNING: frozenset(
        {JobStatus.QUEUED, JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED}
    ),
    # Undo of a batch gives a merged job its runs back.
    JobStatus.MERGED: frozenset({JobStatus.QUEUED}),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}


def can_move(current: JobStatus, target: JobStatus) -> bool:
    return target in JOB_MOVES[current]


class FailureClass(StrEnum):
    """Why a run or job failed. Only a crash is retried (by the lease rules); out of memory
    splits the batch; the others would fail again for the same reason, so they are final."""

    OUT_OF_MEMORY = "out_of_memory"
    GUARDRAIL = "guardrail"
    BAD_INPUT = "bad_input"
    CRASH = "crash"
    MISSING_OUTPUT = "missing_output"
    LEASE_EXPIRED = "lease_expired"
    CANCELLED = "cancelled"
