"""The lease guard on both databases: a final write and a concurrent reap never both win, and a
lost lease leaves no trace."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from cosmos_workflow.domain.states import JobStatus, RunStatus
from cosmos_workflow.services import queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.store import jobs as store
from cosmos_workflow.store import runs as run_store
from cosmos_workflow.store.models import BatchLimitRow, JobRow, PromptRow, RunRow
from cosmos_workflow.store.timings import learn_limit
from tests.services.helpers import seed_prompts


def _claimed(ctx: Context, lease_seconds: float) -> tuple[store.Claim, str]:
    prompt_ids = seed_prompts(ctx, 1)
    job = queue.enqueue(ctx, queue.build_request(prompt_ids, {"edge": 0.5}))
    claim = store.claim_next_job(ctx.db, "w1", lease_seconds=lease_seconds)
    assert claim is not None
    return claim, job.run_ids[0]


def test_a_reap_waits_for_the_lease_holders_final_write(ctx: Context) -> None:
    claim, run_id = _claimed(ctx, lease_seconds=0.2)
    time.sleep(0.3)  # the lease expired, but its holder is writing its result right now
    inside = threading.Event()
    reaped: list[list[str]] = []

    def reap() -> None:
        inside.wait(10)
        reaped.append(store.reap_expired_leases(ctx.db))

    reaper = threading.Thread(target=reap)
    reaper.start()
    with store.lease_held(ctx.db, claim.job_id, claim.lease_token) as held:
        inside.set()
        time.sleep(0.5)  # the reaper is blocked on the row (or the SQLite write lock) meanwhile
        run_store.record_results(held, {run_id: run_store.RunResult(RunStatus.SUCCEEDED)})
        store.finish(held, JobStatus.SUCCEEDED)
    reaper.join(30)
    assert reaped == [[]], "the reaper requeued a job whose result was being written"
    assert queue.get_job(ctx, claim.job_id).status == "succeeded"


def test_a_lost_lease_leaves_no_trace(ctx: Context) -> None:
    claim, run_id = _claimed(ctx, lease_seconds=0.1)
    time.sleep(0.2)
    assert store.reap_expired_leases(ctx.db) == [claim.job_id]
    second = store.claim_next_job(ctx.db, "w2", lease_seconds=60)
    assert second is not None and second.job_id == claim.job_id
    with ctx.db.read() as session:
        prompts_before = session.scalar(select(func.count()).select_from(PromptRow))
    with (
        pytest.raises(store.LeaseLost),
        store.lease_held(ctx.db, claim.job_id, claim.lease_token) as held,
    ):
        learn_limit(held.session, "h100-80gb", "transfer1", "edge", 1)
        run_store.record_results(
            held, {run_id: run_store.RunResult(RunStatus.SUCCEEDED, enhanced_prompt="more")}
        )
    assert not store.finish_job(
        ctx.db,
        claim.job_id,
        claim.lease_token,
        JobStatus.SUCCEEDED,
        runs={run_id: run_store.RunResult(RunStatus.SUCCEEDED, enhanced_prompt="more")},
    )
    with ctx.db.read() as session:
        assert session.scalar(select(func.count()).select_from(PromptRow)) == prompts_before
        assert session.scalar(select(func.count()).select_from(BatchLimitRow)) == 0
        run = session.get(RunRow, run_id)
        job = session.get(JobRow, claim.job_id)
        assert run is not None and run.status == "running"
        assert job is not None and job.lease_token == second.lease_token


def test_an_enhanced_prompt_is_stored_with_its_result(ctx: Context) -> None:
    claim, run_id = _claimed(ctx, lease_seconds=60)
    assert store.finish_job(
        ctx.db,
        claim.job_id,
        claim.lease_token,
        JobStatus.SUCCEEDED,
        runs={run_id: run_store.RunResult(RunStatus.SUCCEEDED, enhanced_prompt="a richer prompt")},
    )
    with ctx.db.read() as session:
        run = session.get(RunRow, run_id)
        assert run is not None and run.result_prompt_id is not None
        prompt = session.get(PromptRow, run.result_prompt_id)
        assert prompt is not None and prompt.text == "a richer prompt"
        assert prompt.parent_prompt_id == run.prompt_id


def test_cancel_is_seen_by_a_cheap_read(ctx: Context) -> None:
    claim, _ = _claimed(ctx, lease_seconds=60)
    assert store.check_lease(ctx.db, claim.job_id, claim.lease_token) == (True, False)
    queue.cancel_job(ctx, claim.job_id)
    assert store.check_lease(ctx.db, claim.job_id, claim.lease_token) == (True, True)
    assert store.check_lease(ctx.db, claim.job_id, "another-token") == (False, True)
