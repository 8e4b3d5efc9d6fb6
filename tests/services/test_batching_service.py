"""Smart batching through the service layer on SQLite and PostgreSQL: apply, stale refusal,
lineage, undo, re-analysis, concurrent enqueue, output verdicts and the option that allows
output changes."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.errors import Conflict, InvalidInput
from cosmos_workflow.domain.params import Backend
from cosmos_workflow.domain.verdicts import BatchingKind, VerdictKey
from cosmos_workflow.services import batching, queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.db import now
from cosmos_workflow.store.jobs import claim_next_job
from cosmos_workflow.store.models import JobRow, PlanRow, RunRow
from cosmos_workflow.store.verdicts import save_verdict
from tests.services.helpers import seed_prompts
from tests.services.snapshot import database_snapshot


def _queue(ctx: Context, prompt_ids: list[str], weights: dict[str, float], **params: object) -> str:
    return queue.enqueue(ctx, queue.build_request(prompt_ids, weights, params)).job_id


def _runs(ctx: Context) -> dict[str, RunRow]:
    with ctx.db.read() as session:
        return {r.id: r for r in session.scalars(select(RunRow)).all()}


def test_empty_queue_has_nothing_to_batch(ctx: Context) -> None:
    plan = batching.analyze(ctx, mode="auto")
    assert plan.batches == [] and plan.runs == 0
    assert plan.speedup == 1.0 and plan.loads_avoided == 0


def test_one_job_of_eight_runs_gains_nothing(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 8)
    _queue(ctx, prompt_ids, {"edge": 0.5})
    for mode in ("strict", "mixed", "auto"):
        plan = batching.analyze(ctx, mode=mode)
        assert len(plan.batches) == 1 and plan.batches[0].unchanged
        assert plan.speedup == 1.0 and plan.loads_avoided == 0
    result = batching.apply_plan(ctx)
    assert result.created_job_ids == [] and result.merged_job_ids == []


def test_apply_moves_runs_keeps_weights_and_lineage(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 3)
    jobs = [_queue(ctx, [p], {"edge": 0.2 + i / 10}) for i, p in enumerate(prompt_ids)]
    before = _runs(ctx)
    plan = batching.analyze(ctx, mode="strict")
    assert len(plan.batches) == 1 and plan.loads_avoided == 2 and plan.speedup > 1.0
    assert plan.predicted_seconds_after < plan.predicted_seconds_before
    result = batching.apply_plan(ctx, plan.plan_id)
    assert len(result.created_job_ids) == 1 and sorted(result.merged_job_ids) == sorted(jobs)
    (batch_id,) = result.created_job_ids
    after = _runs(ctx)
    for run_id, run in before.items():
        assert after[run_id].job_id == batch_id
        assert after[run_id].origin_job_id == run.job_id
        assert after[run_id].weights == run.weights and after[run_id].params == run.params
    for job_id in jobs:
        view = queue.get_job(ctx, job_id)
        assert view.status == "merged" and view.merged_into_job_id == batch_id
        assert len(view.runs) == 1, "a merged job still shows the run it was queued with"
    listed = queue.list_queue(ctx).jobs
    assert [j.id for j in listed] == [batch_id]
    with pytest.raises(Conflict, match="applied already"):
        batching.apply_plan(ctx, plan.plan_id)


def test_reanalysis_of_a_batched_queue_keeps_every_run(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 4)
    _queue(ctx, prompt_ids[:2], {"edge": 0.5, "depth": 0.3})
    _queue(ctx, prompt_ids[2:], {"edge": 0.5, "depth": 0.3})
    batching.apply_plan(ctx, batching.analyze(ctx, mode="strict").plan_id)
    weights = {r.id: r.weights for r in _runs(ctx).values()}
    again = batching.analyze(ctx, mode="auto")
    assert again.speedup == 1.0 and all(b.unchanged for b in again.batches)
    batching.apply_plan(ctx, again.plan_id)
    assert {r.id: r.weights for r in _runs(ctx).values()} == weights


def test_stale_plan_is_refused_even_when_the_count_is_the_same(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 2)
    first = _queue(ctx, [prompt_ids[0]], {"edge": 0.5})
    _queue(ctx, [prompt_ids[1]], {"edge": 0.5})
    plan = batching.analyze(ctx, mode="strict")
    claim = claim_next_job(ctx.db, "w", lease_seconds=60)
    assert claim is not None and claim.job_id == first
    _queue(ctx, [prompt_ids[0]], {"edge": 0.5})  # same number of queued jobs as before
    before = database_snapshot(ctx)
    with pytest.raises(Conflict, match="stale"):
        batching.apply_plan(ctx, plan.plan_id)
    assert database_snapshot(ctx) == before


@pytest.mark.parametrize("change", ["move", "cancel", "edit", "add"])
def test_any_change_makes_a_plan_stale(ctx: Context, change: str) -> None:
    prompt_ids = seed_prompts(ctx, 3)
    jobs = [_queue(ctx, [p], {"depth": 0.5}) for p in prompt_ids]
    plan = batching.analyze(ctx, mode="strict")
    if change == "move":
        queue.move_job(ctx, jobs[2], "top")
    elif change == "cancel":
        queue.cancel_job(ctx, jobs[1])
    elif change == "add":
        _queue(ctx, [prompt_ids[0]], {"depth": 0.5})
    else:
        with ctx.db.write() as session:
            run = session.scalars(select(RunRow).where(RunRow.job_id == jobs[0])).one()
            run.weights = {"depth": 0.9}
    before = database_snapshot(ctx)
    with pytest.raises(Conflict, match="stale"):
        batching.apply_plan(ctx, plan.plan_id)
    assert database_snapshot(ctx) == before


def test_undo_returns_runs_to_their_jobs(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 3)
    jobs = [_queue(ctx, [p], {"seg": 0.5}) for p in prompt_ids]
    order = [j.id for j in queue.list_queue(ctx).jobs]
    before = {r.id: (r.job_id, r.weights) for r in _runs(ctx).values()}
    result = batching.apply_plan(ctx, batching.analyze(ctx, mode="strict").plan_id)
    (batch_id,) = result.created_job_ids
    undone = batching.undo_batch(ctx, batch_id)
    assert sorted(undone.restored_job_ids) == sorted(jobs)
    assert {r.id: (r.job_id, r.weights) for r in _runs(ctx).values()} == before
    assert [j.id for j in queue.list_queue(ctx).jobs] == order
    assert {queue.get_job(ctx, j).status for j in jobs} == {"queued"}
    with ctx.db.read() as session:
        assert session.get(JobRow, batch_id) is None


def test_undo_refuses_a_started_batch_and_plain_jobs(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 2)
    plain = _queue(ctx, [prompt_ids[0]], {"edge": 1})
    _queue(ctx, [prompt_ids[1]], {"edge": 1})
    with pytest.raises(Conflict, match="not made by a plan"):
        batching.undo_batch(ctx, plain)
    (batch_id,) = batching.apply_plan(
        ctx, batching.analyze(ctx, mode="strict").plan_id
    ).created_job_ids
    assert claim_next_job(ctx.db, "w", lease_seconds=60) is not None
    with pytest.raises(Conflict, match="only a queued batch"):
        batching.undo_batch(ctx, batch_id)


def test_batches_never_cross_priorities_and_take_the_earliest_place(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 4)
    low_a = _queue(ctx, [prompt_ids[0]], {"edge": 0.5})
    queue.enqueue(ctx, queue.build_request([prompt_ids[1]], {"edge": 0.5}, priority=3))
    _queue(ctx, [prompt_ids[2]], {"edge": 0.5})
    queue.enqueue(ctx, queue.build_request([prompt_ids[3]], {"edge": 0.5}, priority=3))
    plan = batching.analyze(ctx, mode="strict")
    assert sorted(b.priority for b in plan.batches) == [0, 3]
    batching.apply_plan(ctx, plan.plan_id)
    listed = queue.list_queue(ctx).jobs
    assert [j.priority for j in listed] == [3, 0]
    assert listed[1].created_at == queue.get_job(ctx, low_a).created_at


def test_upscale_and_enhance_are_never_batched(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 2)
    _queue(ctx, [prompt_ids[0]], {"edge": 0.5})
    enhance = queue.enqueue_enhance(ctx, prompt_ids[1]).job_id
    plan = batching.analyze(ctx, mode="auto")
    planned = {r for b in plan.batches for r in b.run_ids}
    enhance_runs = set(queue.get_job(ctx, enhance).runs[0].id for _ in [0])
    assert not planned & enhance_runs
    batching.apply_plan(ctx, plan.plan_id)
    assert queue.get_job(ctx, enhance).status == "queued"


def test_concurrent_enqueue_during_apply_is_never_lost(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 2)
    for _ in range(20):
        _queue(ctx, prompt_ids, {"edge": 0.5})
    plan = batching.analyze(ctx, mode="strict")
    added: list[str] = []

    def enqueue_more() -> None:
        for _ in range(10):
            added.append(_queue(ctx, prompt_ids, {"edge": 0.5}))

    thread = threading.Thread(target=enqueue_more)
    thread.start()
    try:
        batching.apply_plan(ctx, plan.plan_id)
    except Conflict as exc:
        assert "stale" in exc.message
    thread.join()
    runs = _runs(ctx)
    assert len(runs) == 60
    statuses = {queue.get_job(ctx, j).status for j in added}
    assert statuses == {"queued"}
    with ctx.db.read() as session:
        orphans = session.scalars(
            select(RunRow).join(JobRow, RunRow.job_id == JobRow.id).where(JobRow.status == "merged")
        ).all()
    assert orphans == [], "a run was left inside a merged job"


def test_continuous_batching_regroups_the_head_at_claim_time(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompt_ids = seed_prompts(ctx, 4)
    jobs = [_queue(ctx, [p], {"edge": 0.5}) for p in prompt_ids[:3]]
    other = queue.enqueue(
        ctx, queue.build_request([prompt_ids[3]], {"edge": 0.5}, priority=-1)
    ).job_id
    batch_id = batching.batch_queue_head(ctx)
    assert batch_id is not None
    batch = queue.get_job(ctx, batch_id)
    assert len(batch.runs) == 3 and batch.plan_id is None
    assert {queue.get_job(ctx, j).status for j in jobs} == {"merged"}
    assert queue.get_job(ctx, other).status == "queued", "another priority is never pulled in"
    claim = claim_next_job(ctx.db, "w", lease_seconds=60)
    assert claim is not None and claim.job_id == batch_id
    assert batching.batch_queue_head(ctx) is None, "a lone job is left as it is"


def _edge_jobs(ctx: Context, count: int = 3) -> list[str]:
    return [_queue(ctx, [p], {"edge": 0.5}) for p in seed_prompts(ctx, count)]


def test_auto_keeps_outputs_by_default_and_labels_every_batch(ctx: Context) -> None:
    _edge_jobs(ctx)
    plan = batching.analyze(ctx, mode="auto")
    assert plan.allow_output_changes is False
    (batch,) = plan.batches
    assert batch.gpu_batch_size == 1 and batch.verdict == "identical"
    assert batch.verdict_reason == ""
    strict = batching.analyze(ctx, mode="strict")
    (gpu,) = strict.batches
    assert gpu.gpu_batch_size > 1 and gpu.verdict == "may_differ"
    assert "--batch_size" in gpu.verdict_reason
    assert batching.get_plan(ctx, strict.plan_id).batches == strict.batches


def test_allowing_output_changes_lets_auto_gpu_batch_and_says_so(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    _edge_jobs(ctx)
    allowed = batching.analyze(ctx, mode="auto", allow_output_changes=True)
    assert allowed.allow_output_changes is True
    (batch,) = allowed.batches
    assert batch.gpu_batch_size > 1 and batch.verdict == "may_differ"
    monkeypatch.setattr(ctx.settings.planner, "allow_output_changes", True)
    assert batching.analyze(ctx, mode="auto").batches[0].verdict == "may_differ"
    kept = batching.analyze(ctx, mode="auto", allow_output_changes=False)
    assert kept.allow_output_changes is False and kept.batches[0].verdict == "identical"


def test_a_stored_verification_of_the_plan_s_gpu_profile_makes_a_batch_verified(
    ctx: Context,
) -> None:
    """The default host is simulated: only a verification made on the simulator, for its GPU
    profile, holds there (a real GPU's verdict says nothing about the simulator, and back)."""
    _edge_jobs(ctx)
    target = batching.planning_target(ctx)
    profile = target.gpu_profile
    assert target.simulated
    for gpu_profile, simulated in (("l40s-48gb", True), (profile, False), (profile, True)):
        key = VerdictKey.of(
            Backend.TRANSFER1, False, BatchingKind.GPU_BATCH, frozenset({Control.EDGE}), gpu_profile
        )
        with ctx.db.write() as session:
            save_verdict(
                session,
                key,
                identical=True,
                bit_identical=True,
                min_psnr_db=None,
                runs_compared=3,
                simulated=simulated,
                details={},
            )
        (batch,) = batching.analyze(ctx, mode="auto").batches
        if gpu_profile == profile and simulated:
            assert batch.verdict == "verified" and batch.gpu_batch_size > 1
            assert profile in batch.verdict_reason
        else:
            assert batch.verdict == "identical" and batch.gpu_batch_size == 1


@pytest.mark.parametrize("value", ["yes", 1, "true"])
def test_a_bad_allow_output_changes_is_refused_and_changes_nothing(
    ctx: Context, value: object
) -> None:
    _edge_jobs(ctx, 2)
    before = database_snapshot(ctx)
    with pytest.raises(InvalidInput) as refused:
        batching.analyze(ctx, mode="auto", allow_output_changes=value)  # type: ignore[arg-type]
    assert refused.value.field == "allow_output_changes"
    assert database_snapshot(ctx) == before


def test_a_plan_stored_before_verdicts_shows_but_is_not_applied(ctx: Context) -> None:
    _edge_jobs(ctx, 2)
    plan = batching.analyze(ctx, mode="strict")
    body = plan.model_dump(mode="json")
    del body["allow_output_changes"]
    for batch in body["batches"]:
        del batch["verdict"], batch["verdict_reason"]
        batch["changes_outputs"] = False
    with ctx.db.write() as session:
        session.add(
            PlanRow(
                id="plan_old",
                created_at=now(),
                mode="strict",
                fingerprint=plan.fingerprint,
                body=body,
            )
        )
    old = batching.get_plan(ctx, "plan_old")
    assert [b.verdict for b in old.batches] == ["may_differ"]
    assert "before batches carried output verdicts" in old.batches[0].verdict_reason
    before = database_snapshot(ctx)
    with pytest.raises(Conflict, match="before plans carried output verdicts"):
        batching.apply_plan(ctx, "plan_old")
    assert database_snapshot(ctx) == before


@pytest.mark.parametrize("allow", [False, True])
def test_continuous_batching_obeys_the_same_output_rule(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, allow: bool
) -> None:
    _edge_jobs(ctx)
    monkeypatch.setattr(ctx.settings.planner, "allow_output_changes", allow)
    batch_id = batching.batch_queue_head(ctx)
    assert batch_id is not None
    size = queue.get_job(ctx, batch_id).gpu_batch_size
    assert size > 1 if allow else size == 1
