"""Job and run states with the moves allowed between them.

One store function changes a job's status (it checks `can_move` first) and one changes runs'
statuses (it only touches runs for which `can_move_run` allows the move), so a job-level action
(cancel, release after a crash, quarantine) never rewrites a run that already ended."""

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


RUN_MOVES: dict[RunStatus, frozenset[RunStatus]] = {
    # Queued runs are claimed, cancelled, or failed when their job is quarantined.
    RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED, RunStatus.FAILED}),
    # A running run goes back to the queue when its job is released or reaped.
    RunStatus.RUNNING: frozenset(
        {RunStatus.QUEUED, RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}
    ),
    # Terminal: a run that ended keeps its end (and its output) whatever its job does next.
    # A guardrail block is a failed run with failure class `guardrail`.
    RunStatus.SUCCEEDED: frozenset(),
    RunStatus.FAILED: frozenset(),
    RunStatus.CANCELLED: frozenset(),
}

UNFINISHED_RUNS = frozenset({RunStatus.QUEUED, RunStatus.RUNNING})
TERMINAL_RUNS = frozenset(status for status, moves in RUN_MOVES.items() if not moves)
# What a retry copies: the runs of an ended job that did not succeed.
RETRIED_RUNS = frozenset({RunStatus.FAILED, RunStatus.CANCELLED})


def can_move_run(current: RunStatus, target: RunStatus) -> bool:
    return target in RUN_MOVES[current]


def runs_that_can_become(target: RunStatus) -> frozenset[RunStatus]:
    """The statuses from which a run may move to `target` (what a bulk update may touch)."""
    return frozenset(status for status, moves in RUN_MOVES.items() if target in moves)


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


class AttemptEnd(StrEnum):
    """How an attempt ended (its row's `outcome`), which says whose fault the end was."""

    EXITED = "exited"  # the process exited; its exit code says how
    KILLED = "killed"  # the process died of a signal
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    CRASHED = "crashed"  # a failure around the process (host, transfer, a bug); it was ended
    REFUSED = "refused"  # bad input found before or while starting the process
    # The worker was stopping (SIGTERM, SIGINT) and the job outlived the stop grace: the process
    # was ended and the job given back without charging an attempt.
    RELEASED = "released"
    # Lapses: the worker died or lost touch, and another one's reaper took the job back.
    REAPED = "reaped"  # the reaper ended the process
    ORPHAN_ENDED = "orphan ended"  # the orphan sweep ended it after the job was taken back
    LAPSED = "lapsed"  # taken back while the process could not be ended (the attempt stays open)


# A worker that dies is not the job's failure: these ends are counted apart from crashes, with
# a rule of their own (jobs.lapse_limit), so killed or restarted workers never quarantine a
# healthy job while a job that keeps taking its worker down (memory) is still stopped.
LAPSES = frozenset({AttemptEnd.REAPED, AttemptEnd.ORPHAN_ENDED, AttemptEnd.LAPSED})
