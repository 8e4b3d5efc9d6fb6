"""The fleet planner: list scheduling, the drain-time lower bound, and plans that minimise the
predicted drain time over several slots while keeping every rule of the one-slot plan."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.fleet import Fleet, Slot
from cosmos_workflow.domain.params import Backend
from cosmos_workflow.domain.work import QueuedRun
from cosmos_workflow.planner.cost_defaults import default_cost_model
from cosmos_workflow.planner.plan import Plan, PlanMode, plan_batches
from cosmos_workflow.planner.schedule import RunBound, drain_lower_bound, list_schedule
from tests.planner.builders import PROFILE, queued_run, queues, verified_keys

COST = default_cost_model()
SLOW = "l40s-48gb"  # a second GPU profile, slower than the planned one


def plan(runs: list[QueuedRun], fleet: Fleet | None, **options: object) -> Plan:
    return plan_batches(
        runs,
        mode=options.pop("mode", PlanMode.AUTO),  # type: ignore[arg-type]
        cost=COST,
        gpu_profile=PROFILE,
        gpu_memory_gb=48.0,
        fleet=fleet,
        **options,  # type: ignore[arg-type]
    )


def mixed_fleet(fast: int, slow: int) -> Fleet:
    slots = [Slot("fast", i, (i,), PROFILE, 80.0, host_slots=fast) for i in range(fast)]
    slots += [Slot("slow", i, (i,), SLOW, 48.0, host_slots=slow) for i in range(slow)]
    return Fleet(tuple(slots))


fleets = st.one_of(
    st.integers(1, 8).map(lambda n: Fleet.uniform(n, PROFILE, 80.0)),
    st.tuples(st.integers(1, 3), st.integers(1, 3)).map(lambda fs: mixed_fleet(*fs)),
)


# --- list scheduling and the bound -------------------------------------------------------------


def test_list_schedule_gives_each_job_to_the_slot_free_first() -> None:
    fleet = Fleet.uniform(2, PROFILE, 80.0).with_busy({"slot/0": 5.0})
    schedule = list_schedule([{PROFILE: 10.0}, {PROFILE: 3.0}, {PROFILE: 4.0}], fleet)
    assert [(p.slot, p.start, p.finish) for p in schedule.placements] == [
        ("slot/1", 0.0, 10.0),
        ("slot/0", 5.0, 8.0),
        ("slot/0", 8.0, 12.0),
    ]
    assert schedule.drain_seconds == 12.0
    assert schedule.gpu_seconds == 17.0


def test_list_schedule_uses_each_slots_profile() -> None:
    schedule = list_schedule([{PROFILE: 10.0, SLOW: 30.0}] * 2, mixed_fleet(1, 1))
    assert [p.seconds for p in schedule.placements] == [10.0, 30.0]
    assert schedule.drain_seconds == 30.0


def test_the_bound_for_identical_free_slots_is_load_plus_work_over_slots() -> None:
    runs = [RunBound({PROFILE: 100.0}, {PROFILE: 40.0 + i}) for i in range(8)]
    bound = drain_lower_bound(runs, Fleet.uniform(4, PROFILE, 80.0))
    assert bound == pytest.approx(40.0 + 800.0 / 4)


def test_the_bound_is_at_least_the_longest_run_with_its_load() -> None:
    runs = [RunBound({PROFILE: 1000.0}, {PROFILE: 50.0}), RunBound({PROFILE: 1.0}, {PROFILE: 5.0})]
    assert drain_lower_bound(runs, Fleet.uniform(8, PROFILE, 80.0)) == pytest.approx(1050.0)


def test_the_bound_counts_running_jobs_and_slower_profiles() -> None:
    fleet = mixed_fleet(1, 1).with_busy({"fast/0": 100.0})
    runs = [RunBound({PROFILE: 60.0, SLOW: 120.0}, {PROFILE: 10.0, SLOW: 20.0})] * 3
    # Capacity by T: (T - 110) on the fast slot + (T - 20) / 2 on the slow one >= 180: 200.
    # Runs are not divided: one slot runs two of the three, at best the fast one after its
    # running job and a load: 100 + 10 + 2 x 60 = 230.
    assert drain_lower_bound(runs, fleet) == pytest.approx(230.0)
    one_each = [RunBound({PROFILE: 60.0, SLOW: 120.0}, {PROFILE: 10.0, SLOW: 20.0})] * 2
    # Two runs: one each at best, and the capacity bound (120 reference seconds) is 160.
    assert drain_lower_bound(one_each, fleet) == pytest.approx(160.0)
    assert drain_lower_bound([], fleet) == 100.0


# --- plans on a fleet ---------------------------------------------------------------------------


def test_sixteen_one_run_jobs_on_eight_slots_spread_out() -> None:
    runs = [queued_run(f"r{i}", f"j{i}", queue_index=i) for i in range(16)]
    one = plan(runs, None)
    eight = plan(runs, Fleet.uniform(8, PROFILE, 80.0))
    assert [len(b.run_ids) for b in one.batches] == [16]  # the GPU-seconds plan: one load
    assert sorted(len(b.run_ids) for b in eight.batches) == [2] * 8
    assert len({b.placement.slot for b in eight.batches if b.placement}) == 8
    assert eight.drain_seconds_after < eight.drain_seconds_before
    assert eight.drain_seconds_after <= 1.1 * eight.lower_bound_seconds
    # The merged plan keeps seven GPUs idle: several times later than the fleet plan.
    assert one.predicted_seconds_after > 4 * eight.drain_seconds_after


@pytest.mark.parametrize("backend", list(Backend))
@pytest.mark.parametrize("slots", [2, 4, 8])
def test_a_sweep_of_four_control_sets_is_near_the_bound(backend: Backend, slots: int) -> None:
    """64 one-run jobs over four control sets: the GPU-seconds plan makes four equal processes,
    which on eight slots must all be split (splitting one alone gains nothing)."""
    sets = [{Control.EDGE: 0.5}, {Control.DEPTH: 0.4}, {Control.SEG: 0.6}, {Control.VIS: 0.3}]
    runs = [
        queued_run(f"r{i}", f"j{i}", weights=sets[i % 4], backend=backend, queue_index=i)
        for i in range(64)
    ]
    fleet_plan = plan(runs, Fleet.uniform(slots, PROFILE, 80.0))
    assert fleet_plan.drain_seconds_after <= 1.1 * fleet_plan.lower_bound_seconds
    assert len(fleet_plan.batches) >= slots
    # Each batch keeps one control set: every output stays what it is alone.
    assert all(b.verdict.verdict.keeps_outputs for b in fleet_plan.batches)


def test_on_one_slot_the_fleet_plan_is_the_gpu_seconds_plan() -> None:
    runs = [queued_run(f"r{i}", f"j{i}", queue_index=i) for i in range(16)]
    with_fleet = plan(runs, Fleet.uniform(1, PROFILE, 48.0))
    without = plan(runs, None)
    assert [b.run_ids for b in with_fleet.batches] == [b.run_ids for b in without.batches]
    assert with_fleet.drain_seconds_after == pytest.approx(with_fleet.predicted_seconds_after)


@settings(max_examples=60, deadline=None)
@given(queues(), verified_keys(), st.booleans())
def test_one_slot_plans_equal_the_plans_made_without_a_fleet(
    runs: list[QueuedRun], verified: frozenset, allow: bool
) -> None:
    options = {"verified": verified, "allow_output_changes": allow}
    alone = plan(runs, None, **options)
    one = plan(runs, Fleet.uniform(1, PROFILE, 48.0), **options)
    assert [b.run_ids for b in one.batches] == [b.run_ids for b in alone.batches]
    assert one.predicted_seconds_after == pytest.approx(alone.predicted_seconds_after)


@settings(max_examples=80, deadline=None)
@given(queues(), fleets, verified_keys(), st.booleans())
def test_fleet_plans_never_drain_later_and_keep_the_rules(
    runs: list[QueuedRun], fleet: Fleet, verified: frozenset, allow: bool
) -> None:
    result = plan(runs, fleet, verified=verified, allow_output_changes=allow)
    planned = [r for b in result.batches for r in b.run_ids]
    inference = [r.run_id for r in runs if r.kind.batchable]
    assert sorted(planned) == sorted(inference)  # every run once
    assert result.drain_seconds_after <= result.drain_seconds_before + 1e-6
    assert result.lower_bound_seconds <= result.drain_seconds_after + 1e-6
    assert result.lower_bound_seconds <= result.drain_seconds_before + 1e-6
    by_id = {r.run_id: r for r in runs}
    for batch in result.batches:
        assert len({by_id[r].priority for r in batch.run_ids}) == 1
        if not allow:
            assert batch.verdict.verdict.keeps_outputs or batch.unchanged
        assert batch.placement is not None
    starts = [b.placement.start for b in result.batches if b.placement]
    assert starts == sorted(starts)  # taken in execution order, higher priority first


def _two_priorities() -> list[QueuedRun]:
    """Twelve jobs: priorities 5 and 0, depth or edge, one or three runs each (18 runs)."""
    runs = []
    for job in range(12):
        weights = {Control.EDGE: 0.6} if job % 2 else {Control.DEPTH: 0.5}
        for index in range(3 if job % 4 == 0 else 1):
            runs.append(
                queued_run(
                    f"r{job}_{index}",
                    f"j{job}",
                    weights=weights,
                    priority=5 if job % 3 == 2 else 0,
                    queue_index=job,
                    steps=10,
                    frames=48,
                )
            )
    return runs


def _best_cut_drain(runs: list[QueuedRun], slots: int) -> float:
    """By brute force, independently of the planner: every way to cut each (priority, control
    set) class into contiguous pieces, list-scheduled in queue order."""
    classes: dict[tuple[int, frozenset[Control]], list[QueuedRun]] = {}
    for run in sorted(runs, key=lambda r: r.queue_index):
        classes.setdefault((run.priority, run.controls), []).append(run)
    options = []
    for members in classes.values():
        estimate = COST.predict(members[0].backend, PROFILE, members[:1])
        load, per_run = estimate.load_seconds, estimate.compute_seconds
        choices = []
        for pieces in range(1, min(len(members), slots) + 1):
            for cuts in itertools.combinations(range(1, len(members)), pieces - 1):
                bounds = (0, *cuts, len(members))
                choices.append(
                    [
                        ((-members[a].priority, members[a].queue_index), load + (b - a) * per_run)
                        for a, b in itertools.pairwise(bounds)
                    ]
                )
        options.append(choices)
    best = float("inf")
    for combo in itertools.product(*options):
        jobs = sorted(job for pieces in combo for job in pieces)
        drain = list_schedule([{PROFILE: s} for _, s in jobs], Fleet.uniform(slots, PROFILE, 80))
        best = min(best, drain.drain_seconds)
    return best


@pytest.mark.parametrize("slots", [2, 3, 4])
def test_small_queues_get_the_best_cut_by_exact_search(slots: int) -> None:
    runs = _two_priorities()
    fleet_plan = plan(runs, Fleet.uniform(slots, PROFILE, 80.0))
    assert fleet_plan.drain_seconds_after == pytest.approx(_best_cut_drain(runs, slots), rel=1e-6)
