"""The accounting of attempts on both databases: a lapse (the worker died under the job) is
counted apart from a crash and quarantines only by its own, larger limit; a graceful release
gives its attempt back; a crash still counts."""

from __future__ import annotations

import time

from cosmos_workflow.domain.states import AttemptEnd, FailureClass, JobStatus, RunStatus
from cosmos_workflow.services import queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.store import attempts
from cosmos_workflow.store import jobs as store
from cosmos_workflow.store.models import AttemptRow, JobRow, RunRow
from tests.services.helpers import seed_prompts

LEASE_S = 0.05


def _job(ctx: Context) -> str:
    prompt_ids = seed_prompts(ctx, 1)
    return queue.enqueue(ctx, queue.build_request(prompt_ids, {"edge": 0.5})).job_id


def _claim_with_process(ctx: Context, lease_seconds: float = 60) -> store.Claim:
    """A claim whose attempt recorded its process, as the worker does before starting it."""
    claim = store.claim_next_job(ctx.db, "w", lease_seconds=lease_seconds)
    assert claim is not None
    process = attempts.AttemptProcess("local", "here", "/nowhere", f"{claim.job_id}_a1")
    attempts.start_attempt(
        ctx.db,
        job_id=claim.job_id,
        worker_id="w",
        lease_token=claim.lease_token,
        argv=["model"],
        process=process,
    )
    return claim


def _lapse(ctx: Context) -> None:
    _claim_with_process(ctx, LEASE_S)
    time.sleep(LEASE_S * 2)
    store.reap_expired_leases(ctx.db)


def _row(ctx: Context, job_id: str) -> JobRow:
    with ctx.db.read() as session:
        job = session.get(JobRow, job_id)
        assert job is not None
        return job


def test_lapses_while_the_process_ran_quarantine_only_past_their_own_limit(ctx: Context) -> None:
    job_id = _job(ctx)
    limit = store.lapse_limit(ctx.settings.max_attempts)
    assert limit > ctx.settings.max_attempts
    for _ in range(limit - 1):
        _lapse(ctx)
        assert _row(ctx, job_id).status == JobStatus.QUEUED
    _lapse(ctx)  # one job that keeps taking its worker down is still stopped
    job = _row(ctx, job_id)
    assert job.status == JobStatus.FAILED and job.failure_class == FailureClass.LEASE_EXPIRED
    with ctx.db.read() as session:
        assert attempts.lapses_of(session, job_id) == limit
        rows = session.query(AttemptRow).filter_by(job_id=job_id).all()
    assert {row.outcome for row in rows} == {AttemptEnd.LAPSED}
    assert all(row.ended_at is None for row in rows), "their processes are left to the sweep"


def test_a_lapse_then_a_later_end_of_its_process_stays_a_lapse(ctx: Context) -> None:
    job_id = _job(ctx)
    _lapse(ctx)
    with ctx.db.read() as session:
        (row,) = session.query(AttemptRow).filter_by(job_id=job_id).all()
    attempts.end_attempt(ctx.db, row.id, AttemptEnd.EXITED, 0)  # a thawed worker saw it end
    with ctx.db.read() as session:
        ended = session.get(AttemptRow, row.id)
        assert ended is not None and ended.outcome == AttemptEnd.LAPSED and ended.ended_at
        assert attempts.lapses_of(session, job_id) == 1


def test_crashes_count_and_lapses_between_them_do_not(ctx: Context) -> None:
    job_id = _job(ctx)
    statuses = []
    for _ in range(ctx.settings.max_attempts):
        _lapse(ctx)
        claim = _claim_with_process(ctx)
        with store.lease_held(ctx.db, claim.job_id, claim.lease_token) as held:
            statuses.append(store.release(held, "exit code 1"))
    assert statuses[-1] == JobStatus.FAILED and set(statuses[:-1]) == {JobStatus.QUEUED}
    job = _row(ctx, job_id)
    assert job.failure_class == FailureClass.CRASH and job.attempts == 2 * len(statuses)
    assert f"attempt {len(statuses)} of {len(statuses)}" in (job.error or "")


def test_an_uncharged_release_gives_the_attempt_back_and_never_quarantines(ctx: Context) -> None:
    job_id = _job(ctx)
    for _ in range(ctx.settings.max_attempts + 2):
        claim = _claim_with_process(ctx)
        with store.lease_held(ctx.db, claim.job_id, claim.lease_token) as held:
            assert store.release(held, "stopping", charged=False) == JobStatus.QUEUED
    job = _row(ctx, job_id)
    assert job.status == JobStatus.QUEUED and job.attempts == 0 and job.lease_token is None
    with ctx.db.read() as session:
        runs = session.query(RunRow).filter_by(job_id=job_id).all()
    assert {(r.status, r.attempts) for r in runs} == {(RunStatus.QUEUED, 0)}
