"""Sweeps through the service layer, on SQLite and PostgreSQL: preview, queue, list, show,
cancel as a unit, and what each run says about itself."""

from __future__ import annotations

import pytest

from cosmos_workflow.domain.errors import Conflict, InvalidInput, NotFound
from cosmos_workflow.domain.sweeps import parse_axis
from cosmos_workflow.services import batching, queue, runs, sweeps
from cosmos_workflow.services.context import Context
from cosmos_workflow.store import jobs as job_store
from cosmos_workflow.store import sweeps as sweep_store
from tests.services.helpers import seed_prompts
from tests.services.snapshot import database_snapshot


def _sweep(prompts: list[str], *axes: str, **kwargs: object) -> sweeps.SweepRequest:
    return sweeps.build_sweep(prompts, [parse_axis(a) for a in axes], **kwargs)  # type: ignore[arg-type]


def test_a_sweep_queues_the_cartesian_product_named_on_each_run(ctx: Context) -> None:
    prompts = seed_prompts(ctx, 2)
    request = _sweep(
        prompts, "depth=0.2:0.8:0.2", "seg=0.3,0.6", seeds="1,2", name="look", params={"steps": 10}
    )
    assert request.runs == 2 * 4 * 2 * 2
    result = sweeps.queue_sweep(ctx, request)
    assert result.sweep is not None and result.sweep.name == "look"
    assert result.preview.runs == 32 and result.preview.jobs == 16
    assert result.preview.predicted_gpu_seconds and result.preview.predicted_gpu_seconds > 0
    assert result.preview.predicted_finish_at is not None
    listed = runs.list_runs(ctx, sweep="look", limit=1000).runs
    assert len(listed) == 32
    cells = {(r.prompt_id, r.weights["depth"], r.weights["seg"], r.seed) for r in listed}
    assert len(cells) == 32
    assert {r.weights["depth"] for r in listed} == {0.2, 0.4, 0.6, 0.8}
    assert all(r.sweep_name == "look" and r.prompt_text for r in listed)
    assert all(r.params["steps"] == 10 for r in listed)
    shown = sweeps.get_sweep(ctx, result.sweep.id)
    assert shown.status == "queued" and shown.counts == {"queued": 32}
    assert shown.axes == {"depth": [0.2, 0.4, 0.6, 0.8], "seg": [0.3, 0.6]}
    assert shown.seeds == [1, 2]


def test_a_dry_run_predicts_and_changes_nothing(ctx: Context) -> None:
    prompts = seed_prompts(ctx, 1)
    before = database_snapshot(ctx)
    result = sweeps.queue_sweep(ctx, _sweep(prompts, "edge=0.1,0.5"), dry_run=True)
    assert result.sweep is None and result.preview.runs == 2
    assert result.preview.predicted_gpu_seconds and result.preview.predicted_finish_at
    assert database_snapshot(ctx) == before


def test_a_sweep_above_the_limit_needs_confirming(ctx: Context) -> None:
    ctx.settings.max_sweep_runs = 3
    prompts = seed_prompts(ctx, 2)
    request = _sweep(prompts, "depth=0.2,0.4")
    before = database_snapshot(ctx)
    with pytest.raises(InvalidInput, match=r"above the limit of 3.*--yes"):
        sweeps.queue_sweep(ctx, request)
    assert database_snapshot(ctx) == before
    preview = sweeps.queue_sweep(ctx, request, dry_run=True).preview
    assert preview.over_limit and preview.limit == 3
    assert sweeps.queue_sweep(ctx, request, confirm=True).preview.runs == 4


@pytest.mark.parametrize(
    ("axes", "kwargs", "message"),
    [
        (["depth=0.8:0.2:0.2"], {}, "stops"),
        (["depth=0.2:0.8:0"], {}, "step above 0"),
        (["depth=0.2:1.5:0.5"], {}, "between 0 and 1"),
        (["depth=0.2,0.2"], {}, "repeats"),
        (["depth=0.2", "depth=0.4"], {}, "two axes"),
        (["nope=0.2"], {}, "unknown control"),
        (["depth=0"], {}, "all weights at 0"),
        (["depth=0.2"], {"seeds": "1,1"}, "repeated"),
        (["depth=0.2"], {"seeds": "-1"}, "whole number"),
        (["depth=0.2"], {"seeds": "2", "params": {"seed": 3}}, "not both"),
        (["depth=0.2"], {"params": {"steps": 0}}, "steps"),
        (["depth=0.2"], {"name": "  "}, "blank"),
    ],
)
def test_bad_sweeps_are_refused_before_anything_is_queued(
    ctx: Context, axes: list[str], kwargs: dict[str, object], message: str
) -> None:
    prompts = seed_prompts(ctx, 1)
    before = database_snapshot(ctx)
    with pytest.raises(InvalidInput, match=message):
        sweeps.queue_sweep(ctx, _sweep(prompts, *axes, **kwargs))
    assert database_snapshot(ctx) == before


def test_names_are_unique_and_default_names_count_up(ctx: Context) -> None:
    prompts = seed_prompts(ctx, 1)
    first = sweeps.queue_sweep(ctx, _sweep(prompts, "edge=0.5")).sweep
    second = sweeps.queue_sweep(ctx, _sweep(prompts, "edge=0.5")).sweep
    assert first and second and first.name != second.name
    assert first.name.endswith("-1") and second.name.endswith("-2")
    sweeps.queue_sweep(ctx, _sweep(prompts, "edge=0.5", name="mine"))
    before = database_snapshot(ctx)
    with pytest.raises(Conflict, match="named 'mine'"):
        sweeps.queue_sweep(ctx, _sweep(prompts, "edge=0.4", name="mine"))
    assert database_snapshot(ctx) == before
    assert [s.name for s in sweeps.list_sweeps(ctx).sweeps] == ["mine", second.name, first.name]
    with pytest.raises(NotFound):
        sweeps.get_sweep(ctx, "nothing")


def test_cancelling_a_sweep_leaves_other_work_in_a_shared_batch(ctx: Context) -> None:
    prompts = seed_prompts(ctx, 2)
    mine = sweeps.queue_sweep(ctx, _sweep(prompts, "depth=0.2,0.4", name="mine"))
    other = queue.enqueue(ctx, queue.build_request(prompts, {"depth": 0.6}))
    plan = batching.analyze(ctx)
    batching.apply_plan(ctx, plan.plan_id)
    # Batching put the sweep's runs and the other job's in one process.
    held = {r.job_id for r in runs.list_runs(ctx, limit=100).runs if r.status == "queued"}
    assert len(held) == 1
    result = sweeps.cancel_sweep(ctx, "mine")
    assert result.cancelled_runs == 4 and result.sweep.status == "finished"
    assert result.sweep.counts == {"cancelled": 4}
    left = [r for r in runs.list_runs(ctx, limit=100).runs if r.status == "queued"]
    assert sorted(r.id for r in left) == sorted(other.run_ids)
    assert mine.sweep and all(r.sweep_id is None for r in left)


def test_a_job_row_shows_its_runs_weight_ranges(ctx: Context) -> None:
    prompts = seed_prompts(ctx, 1)
    sweeps.queue_sweep(ctx, _sweep(prompts, "depth=0.4,0.8,0.6", "seg=0,0.5"))
    batching.apply_plan(ctx, batching.analyze(ctx).plan_id)
    jobs = queue.list_queue(ctx).jobs
    widest = max(jobs, key=lambda j: len(j.runs))
    assert len(widest.runs) > 1
    depths = [r.weights.get("depth", 0.0) for r in widest.runs]
    assert widest.weight_ranges["depth"] == [min(depths), max(depths)]
    assert all(r.prompt_text == "prompt number 0" for r in widest.runs)


def test_a_retry_keeps_the_sweep(ctx: Context) -> None:
    prompts = seed_prompts(ctx, 1)
    result = sweeps.queue_sweep(ctx, _sweep(prompts, "edge=0.5", name="kept"))
    queue.cancel_job(ctx, result.job_ids[0])
    retried = queue.retry_job(ctx, result.job_ids[0])
    with ctx.db.read() as session:
        job = job_store.find_job(session, retried.job_id)
        assert job is not None
    listed = runs.list_runs(ctx, sweep="kept").runs
    assert {r.id for r in listed} >= set(retried.run_ids)


def test_rating_and_picking_runs(ctx: Context) -> None:
    prompts = seed_prompts(ctx, 1)
    result = sweeps.queue_sweep(ctx, _sweep(prompts, "edge=0.5,0.7"))
    run_id = runs.list_runs(ctx, sweep=result.preview.name).runs[0].id
    assert runs.pick_run(ctx, run_id, True).picked
    assert [r.id for r in runs.list_runs(ctx, picked=True).runs] == [run_id]
    assert runs.rate_run(ctx, run_id, 4).rating == 4
    assert runs.rate_run(ctx, run_id, None).rating is None
    assert not runs.pick_run(ctx, run_id, False).picked


def test_a_name_taken_between_the_look_and_the_insert_is_a_conflict(ctx: Context) -> None:
    """Two sweeps given the same dated default name at the same moment: the later insert is
    refused as a Conflict (the unique index decides), and its transaction changes nothing."""
    prompts = seed_prompts(ctx, 1)
    taken = sweeps.queue_sweep(ctx, _sweep(prompts, "edge=0.5")).sweep
    assert taken is not None
    before = database_snapshot(ctx)
    with pytest.raises(Conflict, match="queued meanwhile"), ctx.db.write() as session:
        row = sweep_store.new_sweep_row(sweep_store.new_sweep_id(), taken.name, {}, 1)
        sweep_store.add_sweeps(session, [row])
    assert database_snapshot(ctx) == before
