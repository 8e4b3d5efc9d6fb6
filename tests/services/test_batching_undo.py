"""Batch create and undo on SQLite and PostgreSQL: undo gives every run back to the job it was
queued in at its original place, refuses what it cannot give back, and both write runs with a
bounded number of UPDATE statements, not one per run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, select, update

from cosmos_workflow.domain.errors import Conflict
from cosmos_workflow.services import batching, queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.store import batches
from cosmos_workflow.store.jobs import claim_next_job, lease_held, split
from cosmos_workflow.store.models import RunRow
from tests.services.helpers import seed_prompts
from tests.services.snapshot import database_snapshot


def _queue(ctx: Context, prompt_ids: list[str], weights: dict[str, float]) -> str:
    return queue.enqueue(ctx, queue.build_request(prompt_ids, weights, {})).job_id


def _run_order(ctx: Context, job_ids: list[str]) -> dict[str, list[str]]:
    return {job_id: [r.id for r in queue.get_job(ctx, job_id).runs] for job_id in job_ids}


@contextmanager
def _run_updates(ctx: Context) -> Iterator[list[str]]:
    """The UPDATE statements on the runs table issued meanwhile (an executemany counts once)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE RUNS"):
            seen.append(statement)

    event.listen(ctx.db.write_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(ctx.db.write_engine, "before_cursor_execute", record)


def test_undo_restores_each_job_s_run_order(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 18)
    # Three jobs of six runs, each created in the same instant: their ids are not in order.
    jobs = [_queue(ctx, prompt_ids[i : i + 6], {"edge": 0.3 + i / 100}) for i in (0, 6, 12)]
    before = _run_order(ctx, jobs)
    plan = batching.analyze(ctx, mode="strict")
    (batch_id,) = batching.apply_plan(ctx, plan.plan_id).created_job_ids
    batched = [r.id for r in queue.get_job(ctx, batch_id).runs]
    assert batched == plan.batches[0].run_ids
    assert sorted(batched) == sorted(run for runs in before.values() for run in runs)
    assert {queue.get_job(ctx, j).status for j in jobs} == {"merged"}

    undone = batching.undo_batch(ctx, batch_id)

    assert sorted(undone.restored_job_ids) == sorted(jobs)
    assert _run_order(ctx, jobs) == before
    assert [j.id for j in queue.list_queue(ctx).jobs] == jobs
    # The same queue again: a new plan is the same plan.
    again = batching.analyze(ctx, mode="strict")
    assert again.fingerprint == plan.fingerprint


def test_undo_of_a_second_plan_s_batch_restores_the_first_order(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 8)
    jobs = [
        _queue(ctx, prompt_ids[:4], {"depth": 0.5}),
        _queue(ctx, prompt_ids[4:], {"depth": 0.6}),
    ]
    before = _run_order(ctx, jobs)
    (first,) = batching.apply_plan(
        ctx, batching.analyze(ctx, mode="strict").plan_id
    ).created_job_ids
    later = _queue(ctx, prompt_ids[:2], {"depth": 0.7})
    plan = batching.analyze(ctx, mode="strict")
    (second,) = batching.apply_plan(ctx, plan.plan_id).created_job_ids
    assert queue.get_job(ctx, first).status == "merged"

    batching.undo_batch(ctx, second)

    assert _run_order(ctx, jobs) == before
    assert {queue.get_job(ctx, j).status for j in [*jobs, later]} == {"queued"}


def test_undo_refuses_runs_whose_job_of_origin_has_ended(ctx: Context) -> None:
    """An out-of-memory split leaves its runs' job of origin failed: undoing a batch of the
    halves would strand them there, so it is refused and nothing changes."""
    prompt_ids = seed_prompts(ctx, 2)
    source = _queue(ctx, prompt_ids, {"edge": 0.5})
    claim = claim_next_job(ctx.db, "w", lease_seconds=60)
    assert claim is not None and claim.job_id == source
    run_ids = [r.id for r in queue.get_job(ctx, source).runs]
    with lease_held(ctx.db, claim.job_id, claim.lease_token) as held:
        halves = split(held, [[run_ids[0]], [run_ids[1]]], 1, "out of memory")
    (batch_id,) = batching.apply_plan(
        ctx, batching.analyze(ctx, mode="strict").plan_id
    ).created_job_ids
    assert {queue.get_job(ctx, j).status for j in halves} == {"merged"}
    before = database_snapshot(ctx)

    with pytest.raises(Conflict, match=rf"{source} \(failed\)"):
        batching.undo_batch(ctx, batch_id)

    assert database_snapshot(ctx) == before


def test_create_and_undo_update_runs_in_bulk(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 12)
    jobs = [_queue(ctx, prompt_ids[:6], {"seg": 0.5}), _queue(ctx, prompt_ids[6:], {"seg": 0.4})]
    before = _run_order(ctx, jobs)
    plan = batching.analyze(ctx, mode="strict")
    with _run_updates(ctx) as applying:
        (batch_id,) = batching.apply_plan(ctx, plan.plan_id).created_job_ids
    assert len(applying) == 1, applying
    with _run_updates(ctx) as undoing:
        batching.undo_batch(ctx, batch_id)
    assert len(undoing) == 1, undoing
    assert _run_order(ctx, jobs) == before


def test_a_batch_larger_than_one_update_keeps_the_plan_s_order(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batches, "_CHUNK", 4)  # 10 runs: three UPDATEs of 4, 4 and 2 runs
    prompt_ids = seed_prompts(ctx, 10)
    jobs = [_queue(ctx, prompt_ids[:5], {"vis": 0.5}), _queue(ctx, prompt_ids[5:], {"vis": 0.4})]
    before = _run_order(ctx, jobs)
    plan = batching.analyze(ctx, mode="strict")
    with _run_updates(ctx) as applying:
        (batch_id,) = batching.apply_plan(ctx, plan.plan_id).created_job_ids
    assert len(applying) == 3
    assert [r.id for r in queue.get_job(ctx, batch_id).runs] == plan.batches[0].run_ids
    batching.undo_batch(ctx, batch_id)
    assert _run_order(ctx, jobs) == before


def test_runs_without_an_index_of_origin_are_numbered_in_creation_order(ctx: Context) -> None:
    """Runs batched before `origin_index` was recorded (NULL) go back numbered 0, 1, ... in the
    order they were created, never onto another run's index."""
    prompt_ids = seed_prompts(ctx, 6)
    jobs = [_queue(ctx, prompt_ids[:3], {"edge": 0.5}), _queue(ctx, prompt_ids[3:], {"edge": 0.6})]
    (batch_id,) = batching.apply_plan(
        ctx, batching.analyze(ctx, mode="strict").plan_id
    ).created_job_ids
    with ctx.db.write() as session:
        session.execute(update(RunRow).values(origin_index=None))

    batching.undo_batch(ctx, batch_id)

    with ctx.db.read() as session:
        for job_id in jobs:
            rows = session.scalars(select(RunRow).where(RunRow.job_id == job_id)).all()
            by_index = [r.id for r in sorted(rows, key=lambda r: r.batch_index)]
            assert by_index == [r.id for r in sorted(rows, key=lambda r: (r.created_at, r.id))]
            assert sorted(r.batch_index for r in rows) == [0, 1, 2]
