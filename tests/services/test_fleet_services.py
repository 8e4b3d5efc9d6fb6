"""Several hosts everywhere: enqueue, analyze, apply and the ETA with 1, 2 and 4 hosts of two GPU
profiles, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cosmos_workflow.config import load_settings
from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.planner.cost_defaults import default_cost_model
from cosmos_workflow.services import batching, queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.estimates import planning_target, profile_scale, slowest_profile
from cosmos_workflow.store.jobs import claim_next_job
from cosmos_workflow.store.workers import register_worker
from tests.services.helpers import seed_prompts
from tests.services.snapshot import database_snapshot

# (name, GPU profile, GPUs); every host simulated. Two profiles: the H100 and the slower L40S.
FLEETS = {
    1: [("solo", "h100-80gb", 1)],
    2: [("fast", "h100-80gb", 1), ("slow", "a100-80gb", 1)],
    4: [
        ("fast0", "h100-80gb", 2),
        ("fast1", "h100-80gb", 1),
        ("slow0", "a100-80gb", 1),
        ("slow1", "a100-80gb", 2),
    ],
}


def _config(hosts: list[tuple[str, str, int]]) -> str:
    return "".join(
        f'[[hosts]]\nname = "{name}"\nsimulate = true\ngpu_profile = "{profile}"\n'
        f"gpus = {gpus}\ngpu_memory_gb = {80 if profile.startswith('h100') else 40}\n"
        for name, profile, gpus in hosts
    )


@pytest.fixture(params=sorted(FLEETS))
def fleet_ctx(
    request: pytest.FixtureRequest, env: dict[str, str], tmp_path: Path
) -> Iterator[tuple[Context, int]]:
    hosts = FLEETS[request.param]
    Path(env["COSMOS_CONFIG"]).write_text(_config(hosts))
    context = Context(load_settings())
    yield context, sum(gpus for _, _, gpus in hosts)
    context.db.dispose()


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_enqueue_analyze_apply_and_eta_on_every_fleet(fleet_ctx: tuple[Context, int]) -> None:
    ctx, slots = fleet_ctx
    prompt_ids = seed_prompts(ctx, 1)
    jobs = [
        queue.enqueue(ctx, queue.build_request(prompt_ids, {"edge": 0.5}, {"seed": i})).job_id
        for i in range(6)
    ]
    target = planning_target(ctx)
    assert len(target.fleet) == slots
    if len(target.fleet.profiles) > 1:
        assert target.gpu_profile == slowest_profile(target.fleet.profiles) == "a100-80gb"

    listed = queue.list_queue(ctx).jobs
    assert [job.id for job in listed] == jobs
    starts = [job.eta_start_at for job in listed]
    assert all(start is not None for start in starts)
    # The first `slots` jobs start at once, each on its own slot; the rest wait for one.
    first = listed[:slots]
    assert len({job.eta_slot for job in first}) == min(slots, len(jobs))
    assert max(s for s in starts[:slots] if s) - min(s for s in starts if s) < 1.0
    for job in listed[slots:]:
        assert job.eta_start_at is not None and job.eta_start_at > listed[0].eta_start_at + 1

    plan = batching.analyze(ctx, mode="auto")
    assert plan.slots == slots
    assert plan.drain_seconds_after <= plan.drain_seconds_before + 1e-6
    assert plan.lower_bound_seconds <= plan.drain_seconds_after + 1e-6
    assert all(batch.slot for batch in plan.batches)
    if slots == 1:
        assert plan.drain_seconds_after == pytest.approx(plan.predicted_seconds_after, abs=0.01)
    if any(not batch.unchanged for batch in plan.batches):
        batching.apply_plan(ctx, plan.plan_id)
        assert sum(len(job.runs) for job in queue.list_queue(ctx).jobs) == 6


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_plan_for_a_fleet_described_by_its_size(fleet_ctx: tuple[Context, int]) -> None:
    ctx, _ = fleet_ctx
    prompt_ids = seed_prompts(ctx, 1)
    for i in range(16):  # one seed: Transfer1 runs of one seed may share a process
        queue.enqueue(ctx, queue.build_request(prompt_ids, {"edge": 0.05 * (i + 1)}))
    one = batching.analyze(ctx, mode="auto", slots=1)
    eight = batching.analyze(ctx, mode="auto", slots=8)
    assert (one.slots, eight.slots) == (1, 8)
    assert len(one.batches) < len(eight.batches) == 8
    assert eight.drain_seconds_after < one.drain_seconds_after / 4
    assert eight.above_bound_pct <= 10.0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("slots", [0, -1, 5000, True, 2.5, "3"])
def test_a_bad_slot_count_is_refused_and_changes_nothing(
    fleet_ctx: tuple[Context, int], slots: object
) -> None:
    ctx, _ = fleet_ctx
    prompt_ids = seed_prompts(ctx, 1)
    queue.enqueue(ctx, queue.build_request(prompt_ids, {"edge": 0.5}))
    before = database_snapshot(ctx)
    with pytest.raises(InvalidInput, match="slots must be a whole number from 1 to 4096"):
        batching.analyze(ctx, mode="auto", slots=slots)  # type: ignore[arg-type]
    assert database_snapshot(ctx) == before


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
@pytest.mark.parametrize(("gpus", "busy", "head_runs"), [(1, 0, 16), (8, 0, 2), (8, 7, 16)])
def test_continuous_batching_leaves_work_for_free_slots(
    env: dict[str, str], gpus: int, busy: int, head_runs: int
) -> None:
    """With eight free slots the head's batch takes two of sixteen compatible runs (eight
    processes of two finish soonest); on one slot, or with the seven others busy for long, it
    takes all sixteen (one load)."""
    Path(env["COSMOS_CONFIG"]).write_text(
        f'[[hosts]]\nname = "n"\nsimulate = true\ngpus = {gpus}\n'
    )
    ctx = Context(load_settings())
    try:
        prompt_ids = seed_prompts(ctx, 1)
        long_jobs = [
            queue.enqueue(ctx, queue.build_request(prompt_ids, {"seg": 0.5}, {"steps": 1000}))
            for _ in range(busy)
        ]
        for index in range(busy):  # claimed by the other slots' registered workers
            worker = register_worker(ctx.db, "n", simulate=True, slot=f"n/{index + 1}")
            claim = claim_next_job(ctx.db, worker, lease_seconds=600)
            assert claim is not None and claim.job_id == long_jobs[index].job_id
        for i in range(16):
            queue.enqueue(ctx, queue.build_request(prompt_ids, {"edge": 0.05 * (i + 1)}))
        batch_id = batching.batch_queue_head(ctx)
        assert batch_id is not None
        assert len(queue.get_job(ctx, batch_id).runs) == head_runs
    finally:
        ctx.db.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("pace", [1.0, 0.01])
def test_a_running_jobs_eta_is_scaled_to_its_slots_profile_and_pace(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, pace: float
) -> None:
    """Predictions are stored for the fleet's slowest profile (A100 here); the same job running
    on the H100 slot is predicted to end sooner, by the cost model's ratio of the two. ETAs are
    wall-clock times: on simulated hosts at time scale 0.01 they come 100 times sooner, while
    the predictions (GPU time) stay as they are."""
    monkeypatch.delenv("COSMOS_SIM_TIME_SCALE", raising=False)
    Path(env["COSMOS_CONFIG"]).write_text(f"sim_time_scale = {pace}\n" + _config(FLEETS[2]))
    ctx = Context(load_settings())
    try:
        prompt_ids = seed_prompts(ctx, 1)
        for slot in ("fast/0", "slow/0"):
            job = queue.enqueue(ctx, queue.build_request(prompt_ids, {"edge": 0.5}))
            worker = register_worker(ctx.db, slot.split("/")[0], simulate=True, slot=slot)
            claim = claim_next_job(ctx.db, worker, lease_seconds=600)
            assert claim is not None and claim.job_id == job.job_id
        waiting = queue.enqueue(ctx, queue.build_request(prompt_ids, {"edge": 0.4}))
        jobs = queue.list_queue(ctx).jobs
        running = {job.eta_slot: job for job in jobs if job.status == "running"}
        fast, slow = running["fast/0"], running["slow/0"]
        assert fast.predicted_seconds == slow.predicted_seconds  # both for the A100
        assert fast.started_at and fast.eta_finish_at and slow.started_at and slow.eta_finish_at
        fast_left = fast.eta_finish_at - fast.started_at
        slow_left = slow.eta_finish_at - slow.started_at
        assert slow.predicted_seconds and slow.predicted_seconds > 100
        assert slow_left == pytest.approx(slow.predicted_seconds * pace, abs=0.01)
        ratio = profile_scale(default_cost_model(), "transfer1", "h100-80gb", "a100-80gb")
        assert ratio < 0.95
        assert fast_left == pytest.approx(slow_left * ratio, abs=0.01)
        # The queued job starts when the fast slot frees, and lasts its paced time there.
        queued = next(job for job in jobs if job.id == waiting.job_id)
        assert queued.eta_slot == "fast/0" and queued.eta_start_at and queued.eta_finish_at
        assert queued.eta_start_at == pytest.approx(fast.eta_finish_at, abs=1.0)
        assert queued.predicted_seconds
        expected = queued.predicted_seconds * ratio * pace
        assert queued.eta_finish_at - queued.eta_start_at == pytest.approx(expected, rel=0.01)
    finally:
        ctx.db.dispose()
