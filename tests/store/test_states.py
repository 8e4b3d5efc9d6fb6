"""The job and run state machines, walked through the store on both databases: every move, allowed
and refused, and the job-level actions that must never rewrite a run that ended."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select, update

from cosmos_workflow.domain.errors import Conflict
from cosmos_workflow.domain.states import (
    TERMINAL_RUNS,
    JobStatus,
    RunStatus,
    can_move,
    can_move_run,
)
from cosmos_workflow.services import queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.store import jobs as store
from cosmos_workflow.store import runs as run_store
from cosmos_workflow.store.models import JobRow, RunRow
from tests.services.helpers import seed_prompts

# The specification, written out: what each state may become.
ALLOWED_RUN_MOVES = {
    ("queued", "running"),
    ("queued", "cancelled"),
    ("queued", "failed"),
    ("running", "queued"),
    ("running", "succeeded"),
    ("running", "failed"),
    ("running", "cancelled"),
}
ALLOWED_JOB_MOVES = {
    ("queued", "running"),
    ("queued", "cancelled"),
    ("queued", "merged"),
    ("queued", "failed"),
    ("running", "queued"),
    ("running", "succeeded"),
    ("running", "failed"),
    ("running", "cancelled"),
    ("merged", "queued"),
}


def test_the_domain_tables_match_the_specification() -> None:
    runs = {(a.value, b.value) for a, b in itertools.product(RunStatus, RunStatus)}
    assert {m for m in runs if can_move_run(RunStatus(m[0]), RunStatus(m[1]))} == ALLOWED_RUN_MOVES
    jobs = {(a.value, b.value) for a, b in itertools.product(JobStatus, JobStatus)}
    assert {m for m in jobs if can_move(JobStatus(m[0]), JobStatus(m[1]))} == ALLOWED_JOB_MOVES
    assert {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED} == TERMINAL_RUNS


def _job_with_run(ctx: Context, status: str) -> tuple[str, str]:
    prompt_ids = seed_prompts(ctx, 1)
    result = queue.enqueue(ctx, queue.build_request(prompt_ids, {"edge": 0.5}))
    with ctx.db.write() as session:
        session.execute(update(RunRow).values(status=status))
    return result.job_id, result.run_ids[0]


@pytest.mark.parametrize("current", [s.value for s in RunStatus])
def test_every_run_move_through_the_store(ctx: Context, current: str) -> None:
    job_id, run_id = _job_with_run(ctx, current)
    for target in RunStatus:
        with ctx.db.write() as session:
            session.execute(update(RunRow).values(status=current))
            moved = run_store.set_runs_status(session, job_id, target)
            now = session.scalar(select(RunRow.status).where(RunRow.id == run_id))
        allowed = (current, target.value) in ALLOWED_RUN_MOVES
        assert moved == (1 if allowed else 0), (current, target.value)
        assert now == (target.value if allowed else current), (current, target.value)


@pytest.mark.parametrize("current", [s.value for s in JobStatus])
def test_every_job_move_through_the_store(ctx: Context, current: str) -> None:
    job_id, _ = _job_with_run(ctx, "queued")
    for target in JobStatus:
        with ctx.db.write() as session:
            session.execute(update(JobRow).values(status=current))
            job = session.get(JobRow, job_id)
            assert job is not None
            if (current, target.value) in ALLOWED_JOB_MOVES:
                store.set_job_status(session, job, target)
                assert job.status == target.value
            else:
                with pytest.raises(Conflict):
                    store.set_job_status(session, job, target)
                assert job.status == current


def _claim_and_finish_first(ctx: Context, runs: int) -> tuple[store.Claim, list[str]]:
    """A claimed job whose first run succeeded before its process crashed."""
    prompt_ids = seed_prompts(ctx, runs)
    job = queue.enqueue(ctx, queue.build_request(prompt_ids, {"edge": 0.5}))
    claim = store.claim_next_job(ctx.db, "w", lease_seconds=60)
    assert claim is not None and claim.job_id == job.job_id
    with store.lease_held(ctx.db, claim.job_id, claim.lease_token) as held:
        run_store.record_results(
            held, {job.run_ids[0]: run_store.RunResult(RunStatus.SUCCEEDED, output_path="/o.mp4")}
        )
        assert store.release(held, "exit code 1") is JobStatus.QUEUED
    return claim, job.run_ids


def _runs(ctx: Context, run_ids: list[str]) -> list[tuple[str, str | None]]:
    with ctx.db.read() as session:
        rows = {r.id: r for r in session.scalars(select(RunRow)).all()}
    return [(rows[r].status, rows[r].output_path) for r in run_ids]


def test_cancel_after_a_crash_keeps_the_run_that_succeeded(ctx: Context) -> None:
    claim, run_ids = _claim_and_finish_first(ctx, 3)
    queue.cancel_job(ctx, claim.job_id)
    assert _runs(ctx, run_ids) == [
        ("succeeded", "/o.mp4"),
        ("cancelled", None),
        ("cancelled", None),
    ]


def test_retry_copies_only_the_runs_that_did_not_succeed(ctx: Context) -> None:
    claim, _ = _claim_and_finish_first(ctx, 3)
    queue.cancel_job(ctx, claim.job_id)
    retried = queue.retry_job(ctx, claim.job_id)
    assert len(retried.run_ids) == 2
    with ctx.db.read() as session:
        new_job = session.get(JobRow, retried.job_id)
        assert new_job is not None and new_job.gpu_batch_size <= 2


def test_retry_of_a_job_split_after_out_of_memory_is_refused(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 2)
    job = queue.enqueue(ctx, queue.build_request(prompt_ids, {"depth": 0.5}))
    claim = store.claim_next_job(ctx.db, "w", lease_seconds=60)
    assert claim is not None
    with store.lease_held(ctx.db, claim.job_id, claim.lease_token) as held:
        created = store.split(held, [[job.run_ids[0]], [job.run_ids[1]]], 1, "out of memory")
    with ctx.db.read() as session:
        jobs_before = session.scalars(select(JobRow.id)).all()
    with pytest.raises(Conflict, match="no failed or cancelled run"):
        queue.retry_job(ctx, job.job_id)
    with ctx.db.read() as session:
        assert session.scalars(select(JobRow.id)).all() == jobs_before
    assert len(created) == 2


def test_a_batched_job_with_a_finished_run_is_merged_not_left_queued(ctx: Context) -> None:
    from cosmos_workflow.services import batching
    from cosmos_workflow.services.jobwork import load_job_work

    prompt_ids = seed_prompts(ctx, 3)
    first = queue.enqueue(ctx, queue.build_request(prompt_ids[:2], {"edge": 0.5}))
    queue.enqueue(ctx, queue.build_request(prompt_ids[2:], {"edge": 0.5}))
    claim = store.claim_next_job(ctx.db, "w", lease_seconds=60)
    assert claim is not None and claim.job_id == first.job_id
    with store.lease_held(ctx.db, claim.job_id, claim.lease_token) as held:
        run_store.record_results(
            held, {first.run_ids[0]: run_store.RunResult(RunStatus.SUCCEEDED, output_path="/o.mp4")}
        )
        store.release(held, "exit code 1")
    plan = batching.analyze(ctx, mode="strict")
    applied = batching.apply_plan(ctx, plan.plan_id)
    assert first.job_id in applied.merged_job_ids
    assert queue.get_job(ctx, first.job_id).status == "merged"
    assert _runs(ctx, first.run_ids[:1]) == [("succeeded", "/o.mp4")]
    again = store.claim_next_job(ctx.db, "w", lease_seconds=60)
    assert again is not None and again.job_id in applied.created_job_ids
    with ctx.db.read() as session:
        assert len(load_job_work(session, again.job_id).runs) == 2
    assert store.claim_next_job(ctx.db, "w", lease_seconds=60) is None


def test_results_for_runs_that_ended_are_ignored(ctx: Context) -> None:
    claim, run_ids = _claim_and_finish_first(ctx, 2)
    again = store.claim_next_job(ctx.db, "w", lease_seconds=60)
    assert again is not None and again.job_id == claim.job_id
    with store.lease_held(ctx.db, again.job_id, again.lease_token) as held:
        run_store.record_results(
            held,
            {
                run_ids[0]: run_store.RunResult(RunStatus.FAILED, error="late"),
                run_ids[1]: run_store.RunResult(RunStatus.SUCCEEDED, output_path="/p.mp4"),
            },
        )
        store.finish(held, JobStatus.SUCCEEDED)
    assert _runs(ctx, run_ids) == [("succeeded", "/o.mp4"), ("succeeded", "/p.mp4")]


def test_a_crash_requeues_the_runs_it_never_reached_uncharged(ctx: Context) -> None:
    """Cosmos 3 dies in sample k and never starts the samples after it: the run it died in is
    charged with the job, the runs it never reached move to a job of their own with their
    attempt given back, even when the crash used up the job's last attempt."""
    prompts = seed_prompts(ctx, 3)
    job = queue.enqueue(ctx, queue.build_request(prompts, {"edge": 0.5}))
    with ctx.db.write() as session:
        session.execute(update(JobRow).values(max_attempts=1))
    claim = store.claim_next_job(ctx.db, "w", lease_seconds=60)
    assert claim is not None and claim.job_id == job.job_id
    done, died_in, never = job.run_ids
    with store.lease_held(ctx.db, claim.job_id, claim.lease_token) as held:
        run_store.record_results(
            held, {done: run_store.RunResult(RunStatus.SUCCEEDED, output_path="/o.mp4")}
        )
        status = store.release(held, "exit code 1", requeue=[never])
    assert status is JobStatus.FAILED  # its one attempt was charged
    with ctx.db.read() as session:
        rows = {r.id: r for r in session.scalars(select(RunRow)).all()}
        moved = session.get(JobRow, rows[never].job_id)
    assert (rows[done].status, rows[died_in].status) == ("succeeded", "failed")
    assert rows[died_in].job_id == job.job_id
    assert moved is not None and moved.id != job.job_id
    assert (moved.status, rows[never].status, rows[never].attempts) == ("queued", "queued", 0)
    assert moved.attempts == 0
