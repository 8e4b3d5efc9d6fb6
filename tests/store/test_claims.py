"""Claims, leases and recovery on real SQLite files and the real PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from cosmos_workflow.domain.states import FailureClass, JobStatus, RunStatus
from cosmos_workflow.services import queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.store import jobs as store
from cosmos_workflow.store import runs as run_store
from cosmos_workflow.store.models import EventRow, JobRow, RunRow
from tests.services.helpers import seed_prompts

ROOT = Path(__file__).resolve().parents[2]


def _fill(ctx: Context, jobs: int) -> list[str]:
    prompt_ids = seed_prompts(ctx, 2)
    return [
        queue.enqueue(ctx, queue.build_request(prompt_ids, {"edge": 0.5})).job_id
        for _ in range(jobs)
    ]


def test_claims_follow_priority_then_position(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 1)
    low = queue.enqueue(ctx, queue.build_request(prompt_ids, {"edge": 1})).job_id
    high = queue.enqueue(ctx, queue.build_request(prompt_ids, {"edge": 1}, priority=5)).job_id
    later = queue.enqueue(ctx, queue.build_request(prompt_ids, {"edge": 1})).job_id
    queue.move_job(ctx, later, "top")
    order = [store.claim_next_job(ctx.db, "w", lease_seconds=60) for _ in range(3)]
    assert [c.job_id for c in order if c] == [high, later, low]
    assert store.claim_next_job(ctx.db, "w", lease_seconds=60) is None


def test_a_paused_queue_claims_nothing(ctx: Context) -> None:
    _fill(ctx, 1)
    queue.set_paused(ctx, True)
    assert store.claim_next_job(ctx.db, "w", lease_seconds=60) is None
    queue.set_paused(ctx, False)
    assert store.claim_next_job(ctx.db, "w", lease_seconds=60) is not None


def test_claim_marks_runs_running_and_counts_the_attempt(ctx: Context) -> None:
    (job_id,) = _fill(ctx, 1)
    claim = store.claim_next_job(ctx.db, "w1", lease_seconds=60)
    assert claim is not None and claim.job_id == job_id and claim.attempt == 1
    with ctx.db.read() as session:
        job = session.get(JobRow, job_id)
        runs = session.scalars(select(RunRow).where(RunRow.job_id == job_id)).all()
        assert job is not None and job.status == "running" and job.worker_id == "w1"
        assert {r.status for r in runs} == {"running"}


def test_expired_lease_returns_the_job_then_quarantines_it(ctx: Context) -> None:
    (job_id,) = _fill(ctx, 1)
    for attempt in range(1, ctx.settings.max_attempts + 1):
        claim = store.claim_next_job(ctx.db, f"w{attempt}", lease_seconds=0.05)
        assert claim is not None and claim.attempt == attempt
        time.sleep(0.1)
        store.reap_expired_leases(ctx.db)
    with ctx.db.read() as session:
        job = session.get(JobRow, job_id)
        runs = session.scalars(select(RunRow).where(RunRow.job_id == job_id)).all()
        assert job is not None and job.status == JobStatus.FAILED
        assert job.failure_class == FailureClass.LEASE_EXPIRED
        assert {r.status for r in runs} == {RunStatus.FAILED}
        kinds = session.scalars(select(EventRow.data).where(EventRow.job_id == job_id)).all()
        assert any(k.get("reason") == "lease expired" for k in kinds)


def test_heartbeat_keeps_the_lease_and_a_lost_lease_writes_nothing(ctx: Context) -> None:
    _fill(ctx, 1)
    claim = store.claim_next_job(ctx.db, "w1", lease_seconds=0.3)
    assert claim is not None
    for _ in range(3):
        time.sleep(0.15)
        held, cancel = store.renew_lease(ctx.db, claim.job_id, claim.lease_token, 0.3)
        assert held and not cancel
    assert store.reap_expired_leases(ctx.db) == []
    time.sleep(0.4)
    assert store.reap_expired_leases(ctx.db) == [claim.job_id]
    second = store.claim_next_job(ctx.db, "w2", lease_seconds=60)
    assert second is not None and second.job_id == claim.job_id
    assert not store.finish_job(ctx.db, claim.job_id, claim.lease_token, JobStatus.SUCCEEDED)
    assert store.renew_lease(ctx.db, claim.job_id, claim.lease_token, 60)[0] is False
    assert store.finish_job(ctx.db, second.job_id, second.lease_token, JobStatus.SUCCEEDED)


def test_cancel_of_a_running_job_is_a_request_the_worker_sees(ctx: Context) -> None:
    _fill(ctx, 1)
    claim = store.claim_next_job(ctx.db, "w1", lease_seconds=60)
    assert claim is not None
    view = queue.cancel_job(ctx, claim.job_id)
    assert view.cancel_requested and view.status == "running"
    assert store.renew_lease(ctx.db, claim.job_id, claim.lease_token, 60) == (True, True)


def test_processes_claim_every_job_exactly_once(ctx: Context, tmp_path: Path) -> None:
    expected = set(_fill(ctx, 240))
    workers = 4
    outputs = [tmp_path / f"claimed-{i}.txt" for i in range(workers)]
    start = tmp_path / "start"
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.store.claimer",
                ctx.db.url,
                str(out),
                f"w{i}",
                str(start),
            ],
            cwd=ROOT,
        )
        for i, out in enumerate(outputs)
    ]
    deadline = time.monotonic() + 120
    while not all(out.with_suffix(".ready").exists() for out in outputs):
        assert time.monotonic() < deadline, "a claiming process never started"
        assert all(p.poll() is None for p in processes), "a claiming process died at start"
        time.sleep(0.02)
    start.touch()
    for process in processes:
        assert process.wait(timeout=180) == 0
    claimed = [line for out in outputs for line in out.read_text().splitlines() if line]
    assert len(claimed) == len(expected), "a job was claimed twice or skipped"
    assert set(claimed) == expected
    assert sum(1 for out in outputs if out.read_text()) >= 2, "only one process ever won a claim"
    with ctx.db.read() as session:
        statuses = set(session.scalars(select(JobRow.status)).all())
    assert statuses == {"succeeded"}


def test_runs_a_process_never_reached_are_requeued_uncharged(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 3)
    job_id = queue.enqueue(ctx, queue.build_request(prompt_ids, {"edge": 0.5})).job_id
    claim = store.claim_next_job(ctx.db, "w", lease_seconds=60)
    assert claim is not None and claim.job_id == job_id
    with ctx.db.read() as session:
        first, blocked, later = session.scalars(
            select(RunRow.id).where(RunRow.job_id == job_id).order_by(RunRow.batch_index)
        ).all()
    results = {
        first: run_store.RunResult(RunStatus.SUCCEEDED, output_path="/out/first.mp4"),
        blocked: run_store.RunResult(
            RunStatus.FAILED, error="blocked", failure_class=FailureClass.GUARDRAIL
        ),
    }
    assert store.finish_job(
        ctx.db,
        job_id,
        claim.lease_token,
        JobStatus.FAILED,
        runs=results,
        error="1 of 3 run(s) failed",
        failure_class=FailureClass.GUARDRAIL,
        requeue=[later],
    )
    with ctx.db.read() as session:
        source = session.get(JobRow, job_id)
        moved = session.get(RunRow, later)
        assert source is not None and moved is not None
        assert source.status == "failed" and "1 run(s) not reached" in (source.error or "")
        assert moved.status == "queued" and moved.job_id != job_id and moved.attempts == 0
        new_job = session.get(JobRow, moved.job_id)
        assert new_job is not None and new_job.status == "queued" and new_job.attempts == 0
        assert new_job.position == source.position and new_job.priority == source.priority
    again = store.claim_next_job(ctx.db, "w", lease_seconds=60)
    assert again is not None and again.job_id == moved.job_id


def test_a_lost_lease_requeues_nothing(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 2)
    job_id = queue.enqueue(ctx, queue.build_request(prompt_ids, {"edge": 0.5})).job_id
    claim = store.claim_next_job(ctx.db, "w", lease_seconds=60)
    assert claim is not None
    with ctx.db.read() as session:
        run_ids = session.scalars(select(RunRow.id).where(RunRow.job_id == job_id)).all()
    assert not store.finish_job(
        ctx.db, job_id, "not-the-token", JobStatus.FAILED, requeue=[run_ids[1]]
    )
    with ctx.db.read() as session:
        assert session.scalars(select(JobRow.id)).all() == [job_id]
        assert {r.job_id for r in session.scalars(select(RunRow)).all()} == {job_id}
