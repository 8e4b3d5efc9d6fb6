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

    @property
    def terminal(self) -> bool:
        return self in JOB_TERMINAL


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in RUN_TERMINAL


JOB_TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
RUN_TERMINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})

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
    """Why a run or job failed; decides whether retrying can help."""

    OUT_OF_MEMORY = "out_of_memory"
    GUARDRAIL = "guardrail"
    BAD_INPUT = "bad_input"
    CRASH = "crash"
    MISSING_OUTPUT = "missing_output"
    LEASE_EXPIRED = "lease_expired"
    CANCELLED = "cancelled"

    @property
    def deterministic(self) -> bool:
        """Re-running the same work on the same GPU fails again for the same reason."""
        return self in {FailureClass.GUARDRAIL, FailureClass.BAD_INPUT}
