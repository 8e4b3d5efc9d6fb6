"""Deleting prompts on SQLite and PostgreSQL: the runs' history goes, jobs left with nothing go,
and a queued job left without a run of its own is cancelled through the job state machine;
a prompt naming an unknown parent is refused."""

from __future__ import annotations

import pytest

from cosmos_workflow.domain.errors import NotFound
from cosmos_workflow.services import batching, events, prompts, queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.batches import NewBatch, create_batch_job
from tests.services.helpers import seed_prompts
from tests.services.snapshot import database_snapshot


def _queue(ctx: Context, prompt_ids: list[str]) -> str:
    return queue.enqueue(ctx, queue.build_request(prompt_ids, {"edge": 0.5}, {})).job_id


def test_a_queued_job_left_without_runs_is_cancelled_through_the_state_machine(
    ctx: Context,
) -> None:
    prompt_ids = seed_prompts(ctx, 3)
    job_id = _queue(ctx, prompt_ids)
    moved, kept = queue.get_job(ctx, job_id).runs[:2], queue.get_job(ctx, job_id).runs[2]
    # Two of its three runs moved into a batch (as continuous batching may do): it stays queued.
    with ctx.db.write() as session:
        batch_id = create_batch_job(
            session,
            NewBatch([r.id for r in moved], [job_id], "transfer1", 0, 1, 10.0, 2.0),
            max_attempts=3,
            plan_id=None,
        )
    after = events.latest_event_id(ctx)

    deletion = prompts.delete_prompt(ctx, kept.prompt_id, force=True)

    assert deletion.deleted and deletion.active_runs == 1
    job = queue.get_job(ctx, job_id)
    assert job.status == "cancelled" and job.finished_at is not None
    changes = events.events_since(ctx, after, job_id=job_id, kinds=frozenset({"job.status"}))
    assert [(e.data["previous"], e.data["status"]) for e in changes] == [("queued", "cancelled")]
    assert [r.id for r in queue.get_job(ctx, batch_id).runs] == [r.id for r in moved]


def test_deleting_every_prompt_of_a_batch_deletes_its_jobs(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 2)
    for prompt_id in prompt_ids:
        _queue(ctx, [prompt_id])
    (batch_id,) = batching.apply_plan(
        ctx, batching.analyze(ctx, mode="strict").plan_id
    ).created_job_ids

    prompts.delete_prompt(ctx, prompt_ids[0], force=True)
    assert [r.prompt_id for r in queue.get_job(ctx, batch_id).runs] == [prompt_ids[1]]
    prompts.delete_prompt(ctx, prompt_ids[1], force=True)

    assert queue.list_queue(ctx, include_history=True).total == 0
    assert prompts.list_prompts(ctx) == []


def test_a_prompt_with_an_unknown_parent_is_refused(ctx: Context) -> None:
    (parent,) = seed_prompts(ctx, 1)
    before = database_snapshot(ctx)
    with pytest.raises(NotFound, match="no prompt with id 'pr_missing'"):
        prompts.create_prompt(ctx, "scene", "a child", parent_prompt_id="pr_missing")
    assert database_snapshot(ctx) == before
    child = prompts.create_prompt(ctx, "scene", "a child", parent_prompt_id=parent)
    assert child.parent_prompt_id == parent
