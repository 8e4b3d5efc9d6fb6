"""The rebase comparison, pure: which planned runs left with their jobs (dropped) and which
changes refuse a rebase."""

from __future__ import annotations

import dataclasses

from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.params import validate_params
from cosmos_workflow.domain.work import QueuedRun, VideoInfo
from cosmos_workflow.planner.rebase import Gone, changes_text, drift, plan_basis, run_digest


def _run(n: int, job: int | None = None, index: int | None = None) -> QueuedRun:
    return QueuedRun(
        run_id=f"run_{n}",
        job_id=f"job_{n if job is None else job}",
        priority=0,
        queue_index=n if index is None else index,
        weights={Control.EDGE: 0.5},
        params=validate_params({"backend": "transfer1"}),
        negative_prompt=None,
        video=VideoInfo(frames=121, fps=24.0, width=1280, height=704),
    )


RUNS = [_run(n) for n in range(4)]
BASIS = plan_basis(RUNS)


def test_the_place_in_the_queue_is_not_part_of_a_run_digest() -> None:
    moved_up = dataclasses.replace(RUNS[2], queue_index=0)
    assert run_digest(moved_up) == run_digest(RUNS[2])
    edited = dataclasses.replace(RUNS[2], weights={Control.EDGE: 0.6})
    assert run_digest(edited) != run_digest(RUNS[2])
    assert BASIS["jobs"] == ["job_0", "job_1", "job_2", "job_3"]


def test_runs_that_left_with_their_jobs_are_dropped_with_why() -> None:
    rest = [dataclasses.replace(r, queue_index=i) for i, r in enumerate(RUNS[2:])]
    gone = {
        "run_0": Gone("job_0", "running", "running"),
        "run_1": Gone("job_1", "queued", "succeeded"),  # ran, then its job was requeued
    }
    found = drift(BASIS, rest, gone)
    assert found.changes == []
    assert found.dropped == {"run_0": "claimed", "run_1": "finished"}


def test_unchanged_queue_drifts_nowhere() -> None:
    assert drift(BASIS, RUNS, {}) == drift(BASIS, list(reversed(RUNS)), {})
    assert drift(BASIS, RUNS, {}).dropped == {} and drift(BASIS, RUNS, {}).changes == []


def test_other_changes_are_named() -> None:
    edited = dataclasses.replace(RUNS[1], negative_prompt="blurry")
    moved = dataclasses.replace(RUNS[2], job_id="job_9")
    added = _run(7)
    found = drift(
        BASIS,
        [edited, moved, added],
        {"run_0": None, "run_3": Gone("job_8", "queued", "queued")},
    )
    assert found.dropped == {}
    assert found.changes == [
        "run run_0 was deleted",
        "run run_1 of job job_1 was edited",
        "run run_2 moved from job job_2 to job job_9",
        "run run_3 moved from job job_3 to job job_8 (queued)",
        "1 run(s) were queued since the analysis (run_7)",
    ]
    assert changes_text(found.changes * 2).endswith("; and 5 more")


def test_a_new_order_of_the_remaining_jobs_refuses() -> None:
    swapped = [
        dataclasses.replace(RUNS[3], queue_index=0),
        dataclasses.replace(RUNS[2], queue_index=1),
    ]
    gone = {"run_0": Gone("job_0", "running", "running"), "run_1": Gone("job_1", "running", "x")}
    found = drift(BASIS, swapped, gone)
    assert found.changes == ["the remaining jobs' queue order changed (a job was moved)"]
