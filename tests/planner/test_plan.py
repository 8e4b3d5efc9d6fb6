from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosmos_workflow.domain.controls import Control, effective_weights
from cosmos_workflow.domain.params import Backend, JobKind
from cosmos_workflow.domain.verdicts import (
    COSMOS3_REASON,
    BatchingKind,
    BatchVerdict,
    OutputVerdict,
    VerdictKey,
    batch_verdict,
)
from cosmos_workflow.domain.work import QueuedRun
from cosmos_workflow.planner import compat, grouping, memory
from cosmos_workflow.planner.cost_defaults import default_cost_model
from cosmos_workflow.planner.plan import Plan, PlanMode, plan_batches, queue_order
from cosmos_workflow.planner.process import Settings, Stats
from tests.planner.builders import PROFILE, queued_run, queues, verified_keys

T1 = Backend.TRANSFER1
T25 = Backend.TRANSFER2_5
E, D, S, V = Control.EDGE, Control.DEPTH, Control.SEG, Control.VIS
COST = default_cost_model()
IDENTICAL, VERIFIED, MAY_DIFFER = (
    OutputVerdict.IDENTICAL,
    OutputVerdict.VERIFIED,
    OutputVerdict.MAY_DIFFER,
)


def plan(runs: Sequence[QueuedRun], mode: PlanMode = PlanMode.AUTO, **options: object) -> Plan:
    arguments: dict[str, object] = {"cost": COST, "gpu_profile": PROFILE, "gpu_memory_gb": 80.0}
    arguments.update(options)
    return plan_batches(runs, mode=mode, **arguments)  # type: ignore[arg-type]


def key(kind: BatchingKind, *controls: Control, backend: Backend = T1) -> VerdictKey:
    return VerdictKey.of(backend, False, kind, frozenset(controls), PROFILE)


def obeys_rule(result: Plan) -> bool:
    """Every batch the plan forms keeps outputs (the jobs kept as they were queued aside)."""
    return all(b.verdict.verdict.keeps_outputs for b in result.batches if not b.unchanged)


def jobs_of(runs: Sequence[QueuedRun]) -> dict[str, set[str]]:
    jobs: dict[str, set[str]] = {}
    for run in runs:
        jobs.setdefault(run.job_id, set()).add(run.run_id)
    return jobs


def check_invariants(
    runs: Sequence[QueuedRun],
    result: Plan,
    *,
    max_batch_size: int | None,
    gpu_memory_gb: float,
    max_gpu_batch_size: int | None,
    strict_fifo: bool,
    verified: frozenset[VerdictKey] = frozenset(),
) -> None:
    by_id = {run.run_id: run for run in runs}
    inference = [run.run_id for run in runs if run.kind is JobKind.INFERENCE]
    planned = [run_id for batch in result.batches for run_id in batch.run_ids]
    assert sorted(planned) == sorted(inference)  # every run exactly once
    jobs = jobs_of([by_id[i] for i in inference])
    assert result.predicted_seconds_after <= result.predicted_seconds_before + 1e-6
    assert result.loads_avoided == len(jobs) - len(result.batches)
    if result.speedup != 1.0:
        assert result.speedup == pytest.approx(
            result.predicted_seconds_before / result.predicted_seconds_after
        )
    order = [(-b.priority, b.queue_index) for b in result.batches]
    assert order == sorted(order)  # a batch takes its earliest member's place
    for batch in result.batches:
        members = [by_id[i] for i in batch.run_ids]
        assert batch.queue_index == min(r.queue_index for r in members)
        assert batch.source_job_ids == tuple(dict.fromkeys(r.job_id for r in members))
        assert batch.controls == compat.control_union(members)
        assert len({r.priority for r in members}) == 1  # priorities never share
        assert len({r.backend for r in members}) == 1
        assert batch.unchanged == (
            len(batch.source_job_ids) == 1 and set(batch.run_ids) == jobs[batch.source_job_ids[0]]
        )
        # Every batch carries its verdict, the current jobs kept as they stand included.
        assert batch.verdict == batch_verdict(
            batch.backend,
            members[0].params.distilled,
            {r.controls for r in members},
            batch.controls,
            batch.gpu_batch_size,
            PROFILE,
            verified,
        )
        if batch.unchanged:
            continue
        assert compat.can_share(members)
        if max_batch_size is not None:
            assert len(members) <= max_batch_size
        assert batch.gpu_batch_size >= 1
        if batch.gpu_batch_size > 1:
            assert compat.valid_gpu_batch(members)
            assert batch.predicted_memory_gb <= gpu_memory_gb
            if max_gpu_batch_size is not None:
                assert batch.gpu_batch_size <= max_gpu_batch_size
        if result.mode is PlanMode.AUTO and not result.allow_output_changes:
            assert batch.verdict.verdict.keeps_outputs, batch.verdict
        if result.mode is PlanMode.STRICT:
            assert len({r.controls for r in members}) == 1
    if strict_fifo:
        job_order = list(
            dict.fromkeys(r.job_id for r in queue_order([by_id[i] for i in inference]))
        )
        place = {job: index for index, job in enumerate(job_order)}
        for batch in result.batches:
            places = sorted({place[j] for j in batch.source_job_ids})
            assert places == list(range(places[0], places[0] + len(places)))


options = st.fixed_dictionaries(
    {
        "max_batch_size": st.sampled_from([None, None, 3, 6]),
        "max_gpu_batch_size": st.sampled_from([None, 2]),
        "gpu_memory_gb": st.sampled_from([80.0, 141.0]),
        "gpu_batching": st.booleans(),
        "strict_fifo": st.booleans(),
    }
)


@settings(max_examples=120, deadline=None)
@given(queues(), options, st.sampled_from(list(PlanMode)), st.booleans(), verified_keys())
def test_plan_invariants(
    runs: list[QueuedRun],
    opts: dict[str, object],
    mode: PlanMode,
    allow: bool,
    verified: frozenset[VerdictKey],
) -> None:
    result = plan(runs, mode, allow_output_changes=allow, verified=verified, **opts)
    check_invariants(
        runs,
        result,
        max_batch_size=opts["max_batch_size"],  # type: ignore[arg-type]
        gpu_memory_gb=opts["gpu_memory_gb"],  # type: ignore[arg-type]
        max_gpu_batch_size=opts["max_gpu_batch_size"],  # type: ignore[arg-type]
        strict_fifo=bool(opts["strict_fifo"]),
        verified=verified,
    )
    assert result.allow_output_changes is allow


@settings(max_examples=100, deadline=None)
@given(queues(), options, verified_keys())
def test_auto_keeps_every_output_unless_allowed(
    runs: list[QueuedRun], opts: dict[str, object], verified: frozenset[VerdictKey]
) -> None:
    result = plan(runs, PlanMode.AUTO, verified=verified, **opts)
    assert obeys_rule(result)
    for batch in result.batches:
        if batch.backend is Backend.COSMOS3:
            assert batch.verdict == BatchVerdict(IDENTICAL, COSMOS3_REASON)
        else:
            assert (batch.verdict.reason == "") == (batch.verdict.verdict is IDENTICAL)
        if batch.verdict.verdict is VERIFIED:
            assert PROFILE in batch.verdict.reason
        if batch.gpu_batch_size > 1 and not batch.unchanged:
            assert key(BatchingKind.GPU_BATCH, *batch.controls) in verified


@settings(max_examples=80, deadline=None)
@given(queues(), options, st.booleans(), verified_keys())
def test_auto_never_predicts_more_than_strict_or_mixed_under_the_same_rule(
    runs: list[QueuedRun], opts: dict[str, object], allow: bool, verified: frozenset[VerdictKey]
) -> None:
    auto = plan(runs, PlanMode.AUTO, allow_output_changes=allow, verified=verified, **opts)
    for mode in (PlanMode.STRICT, PlanMode.MIXED):
        other = plan(runs, mode, verified=verified, **opts)
        if allow or obeys_rule(other):
            assert auto.predicted_seconds_after <= other.predicted_seconds_after + 1e-6


@settings(max_examples=60, deadline=None)
@given(queues(backends=(T1,)), st.booleans())
def test_mixed_transfer1_runs_keep_their_own_weights(runs: list[QueuedRun], fifo: bool) -> None:
    by_id = {run.run_id: run for run in runs}
    for batch in plan(runs, PlanMode.MIXED, strict_fifo=fifo).batches:
        for run_id in batch.run_ids:
            run = by_id[run_id]
            weights = effective_weights(batch.controls, run.weights)
            assert {c: w for c, w in weights.items() if c in run.controls} == dict(run.weights)
            assert all(w == 0.0 for c, w in weights.items() if c not in run.controls)


def test_a_single_job_of_8_runs_cannot_gain() -> None:
    runs = [queued_run(f"r{i}", "job") for i in range(8)]
    for mode in PlanMode:
        result = plan(runs, mode)
        assert result.speedup == 1.0
        assert result.loads_avoided == 0
        assert result.predicted_seconds_after == result.predicted_seconds_before
        assert len(result.batches) == 1 and result.batches[0].unchanged


def test_compatible_jobs_share_one_load() -> None:
    runs = [queued_run(f"r{i}", f"job{i}", queue_index=i) for i in range(4)]
    result = plan(runs, PlanMode.STRICT)
    assert len(result.batches) == 1
    assert result.loads_avoided == 3
    assert result.speedup > 1.0
    assert result.batches[0].source_job_ids == ("job0", "job1", "job2", "job3")


def test_different_priorities_never_share_and_higher_runs_first() -> None:
    runs = [
        queued_run("low", "j1", priority=0, queue_index=0),
        queued_run("high", "j2", priority=5, queue_index=1),
    ]
    result = plan(runs)
    assert [b.run_ids for b in result.batches] == [("high",), ("low",)]


def test_other_kinds_are_ignored() -> None:
    runs = [queued_run("a", "j1"), queued_run("up", "j2", kind=JobKind.UPSCALE, queue_index=1)]
    result = plan(runs)
    assert [b.run_ids for b in result.batches] == [("a",)]


def test_strict_fifo_merges_only_adjacent_jobs() -> None:
    runs = [
        queued_run("a", "j1", weights={E: 0.5}, queue_index=0),
        queued_run("b", "j2", weights={D: 0.5}, queue_index=1, seed=9),
        queued_run("c", "j3", weights={E: 0.5}, queue_index=2),
    ]
    free = plan(runs, PlanMode.STRICT)
    assert {b.run_ids for b in free.batches} == {("a", "c"), ("b",)}
    fifo = plan(runs, PlanMode.STRICT, strict_fifo=True)
    assert [b.run_ids for b in fifo.batches] == [("a",), ("b",), ("c",)]
    assert fifo.speedup == 1.0


def test_max_batch_size_splits_large_groups() -> None:
    runs = [queued_run(f"r{i}", f"job{i}", queue_index=i) for i in range(10)]
    result = plan(runs, PlanMode.STRICT, max_batch_size=4)
    assert sorted(len(b.run_ids) for b in result.batches) == [2, 4, 4]


def test_gpu_batch_size_comes_from_memory_and_caps() -> None:
    runs = [queued_run(f"r{i}", f"job{i}", queue_index=i) for i in range(12)]
    expected = memory.max_gpu_batch_size(T1, {E}, 121, 141.0)
    assert 2 < expected < len(runs)

    def size(chosen: Sequence[QueuedRun], **options: object) -> int:
        result = plan(chosen, PlanMode.STRICT, gpu_memory_gb=141.0, **options)
        return result.batches[0].gpu_batch_size

    assert size(runs[:3]) == 3  # no more than runs
    assert size(runs) == expected
    assert size(runs, max_gpu_batch_size=2) == 2
    assert size(runs, learned_limits={("transfer1", "edge"): 1}) == 1
    assert size(runs, gpu_batching=False) == 1


def test_auto_gpu_batches_only_where_verified_or_allowed() -> None:
    runs = [queued_run(f"r{i}", f"job{i}", queue_index=i) for i in range(3)]
    (alone,) = plan(runs).batches
    assert alone.gpu_batch_size == 1 and alone.verdict.verdict is IDENTICAL
    assert alone.verdict.reason == ""
    (allowed,) = plan(runs, allow_output_changes=True).batches
    assert allowed.gpu_batch_size == 3 and allowed.verdict.verdict is MAY_DIFFER
    assert "--batch_size 3" in allowed.verdict.reason
    (proven,) = plan(runs, verified=frozenset({key(BatchingKind.GPU_BATCH, E)})).batches
    assert proven.gpu_batch_size == 3 and proven.verdict.verdict is VERIFIED
    elsewhere = VerdictKey.of(T1, False, BatchingKind.GPU_BATCH, frozenset({E}), "l40s-48gb")
    assert plan(runs, verified=frozenset({elsewhere})).batches[0].gpu_batch_size == 1
    distilled = VerdictKey.of(T1, True, BatchingKind.GPU_BATCH, frozenset({E}), PROFILE)
    assert plan(runs, verified=frozenset({distilled})).batches[0].gpu_batch_size == 1


def test_strict_and_mixed_keep_their_batches_and_label_them() -> None:
    runs = [queued_run(f"r{i}", f"job{i}", queue_index=i) for i in range(3)]
    runs.append(queued_run("d", "jd", weights={D: 0.5}, queue_index=5))
    strict = plan(runs, PlanMode.STRICT)
    assert {(b.gpu_batch_size, b.verdict.verdict) for b in strict.batches} == {
        (3, MAY_DIFFER),
        (1, IDENTICAL),
    }
    cheap = [queued_run("a", "j1", steps=5), queued_run("b", "j2", weights={D: 0.5}, steps=5)]
    (together,) = plan(cheap, PlanMode.MIXED).batches
    assert together.verdict.verdict is MAY_DIFFER and "not proven" in together.verdict.reason
    verified = frozenset({key(BatchingKind.MIXED, D, E)})
    (proven,) = plan(cheap, PlanMode.MIXED, verified=verified).batches
    assert proven.verdict.verdict is VERIFIED and "depth+edge" in proven.verdict.reason


def test_current_jobs_kept_as_queued_carry_their_own_verdict() -> None:
    gpu_job = [queued_run(f"g{i}", "gpu", job_gpu_batch_size=4) for i in range(4)]
    mixed_job = [
        queued_run("m0", "mixed", weights={E: 0.5}, queue_index=1, seed=5),
        queued_run("m1", "mixed", weights={D: 0.5}, queue_index=1, seed=5),
    ]
    result = plan([*gpu_job, *mixed_job])
    assert all(b.unchanged for b in result.batches) and result.speedup == 1.0
    verdicts = {b.source_job_ids[0]: b.verdict for b in result.batches}
    assert verdicts["gpu"].verdict is MAY_DIFFER and "--batch_size 4" in verdicts["gpu"].reason
    assert verdicts["mixed"].verdict is MAY_DIFFER and "Transfer1" in verdicts["mixed"].reason


def test_transfer2_5_key_sets_stay_apart_unless_output_changes_are_allowed() -> None:
    runs = [
        queued_run("edge", "j1", backend=T25, weights={E: 1.0}, queue_index=0),
        queued_run("depth", "j2", backend=T25, weights={D: 1.0}, queue_index=1),
        queued_run("multi", "j3", backend=T25, weights={E: 0.5, S: 0.5}, queue_index=2),
        queued_run("multi2", "j4", backend=T25, weights={V: 0.5, D: 0.5}, queue_index=3),
        queued_run("edge2", "j5", backend=T25, weights={E: 0.7}, queue_index=4),
    ]
    auto = plan(runs, PlanMode.AUTO)
    assert {b.run_ids for b in auto.batches} == {
        ("edge", "edge2"),
        ("depth",),
        ("multi",),
        ("multi2",),
    }
    assert {b.verdict.verdict for b in auto.batches} == {IDENTICAL}
    (mixed,) = plan(runs, PlanMode.MIXED).batches
    assert mixed.verdict.verdict is MAY_DIFFER and mixed.gpu_batch_size == 1
    assert "single-control model to the multicontrol model" in mixed.verdict.reason
    multis = frozenset({key(BatchingKind.MIXED, D, E, S, V, backend=T25)})
    (proven,) = plan(runs, PlanMode.AUTO, verified=multis).batches
    assert proven.verdict.verdict is VERIFIED


def test_transfer2_5_multicontrol_sets_sharing_are_not_proven() -> None:
    runs = [
        queued_run("a", "j1", backend=T25, weights={E: 0.5, S: 0.5}, steps=5),
        queued_run("b", "j2", backend=T25, weights={V: 0.5, D: 0.5}, steps=5, queue_index=1),
    ]
    (shared,) = plan(runs, PlanMode.MIXED).batches
    assert shared.verdict.verdict is MAY_DIFFER
    assert "multicontrol model" in shared.verdict.reason and "not proven" in shared.verdict.reason


def test_auto_mixes_transfer1_sets_when_allowed_and_a_load_costs_more_than_the_branch() -> None:
    # short, cheap runs: the load dominates, so one process with both branches wins
    runs = [
        queued_run("a", "j1", weights={E: 0.5}, steps=5, queue_index=0),
        queued_run("b", "j2", weights={D: 0.5}, steps=5, queue_index=1),
    ]
    assert len(plan(runs, PlanMode.AUTO).batches) == 2, "mixing is not proven by default"
    (allowed,) = plan(runs, PlanMode.AUTO, allow_output_changes=True).batches
    assert allowed.verdict.verdict is MAY_DIFFER
    verified = frozenset({key(BatchingKind.MIXED, D, E)})
    (proven,) = plan(runs, PlanMode.AUTO, verified=verified).batches
    assert proven.verdict.verdict is VERIFIED
    # long runs: the branch evaluated on every pass costs more than a second load
    long_runs = [
        queued_run(f"a{i}", f"j{i}", weights={E: 0.5}, frames=601, queue_index=i) for i in range(3)
    ] + [
        queued_run(f"b{i}", f"k{i}", weights={D: 0.5}, frames=601, queue_index=9 + i)
        for i in range(3)
    ]
    result = plan(long_runs, PlanMode.AUTO, allow_output_changes=True)
    assert {len(b.controls) for b in result.batches} == {1}


def test_a_chunk_whose_smaller_union_is_not_verified_runs_its_sets_apart() -> None:
    # edge+depth+seg mixing is verified, but max_batch_size cuts the block so that one chunk
    # holds only edge and depth runs: that union is not verified, so its sets run apart.
    weights = [{E: 0.5}, {D: 0.5}, {S: 0.5}]
    runs = [
        queued_run(f"r{i}", f"j{i}", weights=weights[min(i // 2, 2)], steps=3, queue_index=i)
        for i in range(6)
    ]
    verified = frozenset({key(BatchingKind.MIXED, D, E, S)})
    result = plan(runs, PlanMode.AUTO, verified=verified, max_batch_size=3)
    assert obeys_rule(result)
    check_invariants(
        runs,
        result,
        max_batch_size=3,
        gpu_memory_gb=80.0,
        max_gpu_batch_size=None,
        strict_fifo=False,
        verified=verified,
    )


def test_exact_search_finds_the_cheapest_partition() -> None:
    sets = [{E: 0.5}, {D: 0.5}, {S: 0.5}, {E: 0.2, V: 0.2}, {S: 0.3, D: 0.3}]
    runs = [
        queued_run(f"r{i}_{j}", f"j{i}", weights=w, queue_index=i)
        for i, w in enumerate(sets)
        for j in range(i + 1)
    ]
    settings_ = Settings(cost=COST, gpu_profile=PROFILE, gpu_memory_gb=80.0)
    by_set: dict[frozenset[Control], list[QueuedRun]] = {}
    for run in runs:
        by_set.setdefault(run.controls, []).append(run)
    keys = list(by_set)
    params = settings_.params(T1)
    search = grouping._Search(
        sets=keys,
        stats=[Stats.of(by_set[k], params) for k in keys],
        singles=[
            sum(p.estimate.total_seconds for p in grouping.block_processes(by_set[k], settings_))
            for k in keys
        ],
        backend=T1,
        distilled=False,
        settings=settings_,
    )
    chosen = grouping._exact(search)
    chosen_seconds = sum(search.block_seconds(g) for g in chosen)
    assert sorted(i for g in chosen for i in g) == list(range(len(keys)))
    assert chosen_seconds == pytest.approx(
        min(
            sum(search.block_seconds(g) for g in partition)
            for partition in set_partitions(list(range(len(keys))))
        )
    )


def set_partitions(items: list[int]) -> list[list[list[int]]]:
    if not items:
        return [[]]
    first, rest = items[0], items[1:]
    result = []
    for size in range(len(rest) + 1):
        for others in combinations(rest, size):
            block = [first, *others]
            remaining = [i for i in rest if i not in others]
            for tail in set_partitions(remaining):
                result.append([block, *tail])
    return result


def test_many_control_sets_use_the_greedy_search_and_stay_valid() -> None:
    controls = list(Control)
    sets = [
        {c: 0.5 for index, c in enumerate(controls) if mask >> index & 1} for mask in range(1, 16)
    ]
    runs = [
        queued_run(f"r{i}", f"j{i}", weights=w, steps=8, queue_index=i) for i, w in enumerate(sets)
    ]
    assert len(sets) > grouping.EXACT_SEARCH_SETS
    auto = plan(runs, PlanMode.AUTO, allow_output_changes=True)
    check_invariants(
        runs,
        auto,
        max_batch_size=None,
        gpu_memory_gb=80.0,
        max_gpu_batch_size=None,
        strict_fifo=False,
    )
    assert (
        auto.predicted_seconds_after <= plan(runs, PlanMode.STRICT).predicted_seconds_after + 1e-6
    )
    assert auto.predicted_seconds_after <= plan(runs, PlanMode.MIXED).predicted_seconds_after + 1e-6
    assert auto.speedup > 1.0


def test_memory_keeps_mixed_unions_that_do_not_fit_apart() -> None:
    runs = [
        queued_run(f"r{i}", f"j{i}", weights={c: 0.5}, steps=5, queue_index=i)
        for i, c in enumerate(Control)
    ]
    tight = memory.predict_memory_gb(T1, {E, D}, 1, 121) + 0.1
    result = plan(runs, PlanMode.MIXED, gpu_memory_gb=tight)
    for batch in result.batches:
        assert len(batch.controls) <= 2
        assert batch.predicted_memory_gb <= tight


def test_auto_leaves_a_job_queued_as_a_gpu_batch_and_merges_the_rest() -> None:
    # Strict GPU-batch-splits the long runs off (their own job, kept as queued) and merges the
    # two short jobs: that plan keeps every output it forms, so auto must not do worse, though
    # auto's own search, without GPU batching, would put all six runs in one process.
    runs = [queued_run(f"j{i}", "J", frames=481, job_gpu_batch_size=4) for i in range(4)]
    runs += [
        queued_run("k", "K", frames=241, queue_index=1),
        queued_run("l", "L", frames=93, queue_index=2),
    ]
    strict = plan(runs, PlanMode.STRICT, gpu_memory_gb=141.0)
    assert obeys_rule(strict) and strict.speedup > 1.0
    auto = plan(runs, gpu_memory_gb=141.0)
    assert auto.predicted_seconds_after == pytest.approx(strict.predicted_seconds_after)
    assert [(b.run_ids, b.unchanged) for b in auto.batches] == [
        (("j0", "j1", "j2", "j3"), True),
        (("k", "l"), False),
    ]
    assert [b.verdict.verdict for b in auto.batches] == [MAY_DIFFER, IDENTICAL]
