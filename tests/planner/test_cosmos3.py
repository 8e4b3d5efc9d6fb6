"""Cosmos 3 in the planner: which runs share a process, their verdicts, memory and cost.

Figures checked against the published ones they are derived from (the Cosmos 3 contract
document, section 4: NVIDIA/cosmos inference_benchmarks.md @aca7057)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.fleet import Fleet
from cosmos_workflow.domain.params import Backend
from cosmos_workflow.domain.verdicts import COSMOS3_REASON, BatchVerdict, OutputVerdict
from cosmos_workflow.domain.work import QueuedRun
from cosmos_workflow.planner import compat, memory
from cosmos_workflow.planner.cost import (
    CostParams,
    cosmos3_chunks,
    cosmos3_forwards,
    loaded_branches,
)
from cosmos_workflow.planner.cost_defaults import default_cost_model
from cosmos_workflow.planner.plan import Plan, PlanMode, plan_batches
from tests.planner.builders import (
    PROFILE,
    cosmos3_process,
    cosmos3_sample,
    queued_run,
    weights_strategy,
)

C3 = Backend.COSMOS3
E, D, S, V, W = Control.EDGE, Control.DEPTH, Control.SEG, Control.VIS, Control.WSM
COST = default_cost_model()
NANO_T2V_720P = {"h100-80gb": 207.78, "h200-141gb": 214.28, "b200-192gb": 114.85}


def c3_run(
    run_id: str,
    job_id: str,
    weights: dict[Control, float] | None = None,
    *,
    frames: int = 121,
    queue_index: int = 0,
    priority: int = 0,
    **cosmos3: Any,
) -> QueuedRun:
    return queued_run(
        run_id,
        job_id,
        weights=weights or {E: 0.5},
        backend=C3,
        frames=frames,
        queue_index=queue_index,
        priority=priority,
        cosmos3=cosmos3,
    )


def plan(runs: Sequence[QueuedRun], mode: PlanMode = PlanMode.AUTO, **options: Any) -> Plan:
    arguments: dict[str, Any] = {"cost": COST, "gpu_profile": PROFILE, "gpu_memory_gb": 80.0}
    arguments.update(options)
    return plan_batches(runs, mode=mode, **arguments)


def sampling(run: QueuedRun, profile: str = PROFILE) -> float:
    """Predicted seconds of one run alone, without load and per-run overhead."""
    estimate = COST.predict(C3, profile, [run])
    return estimate.compute_seconds - COST.params_for(C3, profile).run_overhead_seconds


# --- which runs share a process --------------------------------------------------------------


def test_per_sample_fields_never_split_a_process() -> None:
    a = c3_run("a", "j1")
    others = [
        c3_run("b", "j2", {D: 0.3, S: 0.7}),
        c3_run("c", "j3", {W: 1.0}, frames=500),
        c3_run("d", "j4", resolution="480", steps=20, guidance=6.0, control_guidance=1.0),
        c3_run("e", "j5", seed=7, chunk_frames=121, conditional_frames=5, max_frames=200),
        replace(c3_run("f", "j6"), negative_prompt="another negative prompt"),
    ]
    for other in others:
        assert compat.can_share([a, other]), other


def test_checkpoint_sampler_cache_and_priority_do() -> None:
    a = c3_run("a", "j1")
    assert not compat.can_share([a, c3_run("b", "j2", checkpoint="Cosmos3-Super")])
    assert not compat.can_share([a, c3_run("b", "j2", sampler="edm")])
    assert not compat.can_share([a, c3_run("b", "j2", diffusion_cache=False)])
    assert not compat.can_share([a, c3_run("b", "j2", priority=1)])
    assert not compat.can_share([a, queued_run("b", "j2", backend=Backend.TRANSFER2_5)])


def test_no_gpu_batch() -> None:
    runs = [c3_run(f"r{i}", "j") for i in range(4)]
    assert not compat.valid_gpu_batch(runs)
    assert memory.max_gpu_batch_size(C3, {E}, 121, 192.0) == 1
    assert all(b.gpu_batch_size == 1 for b in plan(runs, gpu_batching=True).batches)


cosmos3_runs = st.lists(
    st.tuples(weights_strategy, cosmos3_sample(), st.sampled_from([1, 93, 121, 241])),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(cosmos3_process(), cosmos3_runs, st.sampled_from(list(PlanMode)), st.booleans())
def test_runs_of_one_process_key_form_identical_batches_and_one_load(
    process: dict[str, Any],
    drawn: list[tuple[dict[Control, float], dict[str, Any], int]],
    mode: PlanMode,
    allow: bool,
) -> None:
    runs = [
        c3_run(f"r{i}", f"j{i}", weights, frames=frames, queue_index=i, **process, **sample)
        for i, (weights, sample, frames) in enumerate(drawn)
    ]
    result = plan(runs, mode, allow_output_changes=allow)
    for batch in result.batches:
        assert batch.verdict == BatchVerdict(OutputVerdict.IDENTICAL, COSMOS3_REASON)
        assert batch.gpu_batch_size == 1
    if mode is not PlanMode.STRICT:
        # Any control mix shares the one checkpoint: the whole queue is one process.
        assert len(result.batches) == 1
        assert result.loads_avoided == len(runs) - 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(cosmos3_process(), weights_strategy), min_size=2, max_size=10))
def test_runs_of_different_checkpoints_never_share(
    drawn: list[tuple[dict[str, Any], dict[Control, float]]],
) -> None:
    runs = [
        c3_run(f"r{i}", f"j{i}", weights, queue_index=i, **process)
        for i, (process, weights) in enumerate(drawn)
    ]
    by_id = {run.run_id: run for run in runs}
    for mode in PlanMode:
        for batch in plan(runs, mode, allow_output_changes=True).batches:
            members = [by_id[run_id] for run_id in batch.run_ids]
            assert len({compat.process_key(run) for run in members}) == 1
            assert len({run.params.checkpoint for run in members}) == 1


def test_a_sweep_over_mixed_controls_predicts_one_load() -> None:
    sets = [{E: 0.5}, {D: 0.4}, {S: 0.6}, {V: 0.3}, {E: 0.5, D: 0.5}, {W: 1.0}]
    runs = [c3_run(f"r{i}", f"j{i}", sets[i % 6], queue_index=i) for i in range(24)]
    result = plan(runs, PlanMode.AUTO)  # the output rule holds: no verification stored
    assert len(result.batches) == 1
    batch = result.batches[0]
    params = COST.params_for(C3, PROFILE)
    assert batch.predicted_load_seconds == pytest.approx(params.process_start_seconds)
    assert result.loads_avoided == 23
    # The process costs one load plus each run's own sampling: mixing adds nothing.
    own = sum(sampling(run) + params.run_overhead_seconds for run in runs)
    assert batch.predicted_seconds == pytest.approx(params.process_start_seconds + own)


def test_a_mixed_super_sweep_is_one_process_although_super_needs_several_gpus() -> None:
    runs = [
        c3_run(f"r{i}", f"j{i}", [{E: 0.5}, {D: 0.5}][i % 2], checkpoint="Cosmos3-Super")
        for i in range(4)
    ]
    result = plan(runs, PlanMode.MIXED)
    assert len(result.batches) == 1


def test_a_fleet_spreads_a_cosmos3_sweep_over_its_slots() -> None:
    sets = [{E: 0.5}, {D: 0.4}, {S: 0.6}, {V: 0.3}]
    runs = [c3_run(f"r{i}", f"j{i}", sets[i % 4], queue_index=i) for i in range(32)]
    result = plan(runs, PlanMode.AUTO, fleet=Fleet.uniform(4, PROFILE, 80.0))
    assert len(result.batches) == 4
    assert result.drain_seconds_after <= 1.1 * result.lower_bound_seconds


# --- memory ----------------------------------------------------------------------------------


def test_nano_fits_one_80_gb_gpu_and_super_does_not() -> None:
    nano = memory.predict_memory_gb(C3, {E}, 1, 121, params=c3_run("a", "j").params)
    super_ = c3_run("a", "j", checkpoint="Cosmos3-Super").params
    # docs/faq.md L151-156: 32 GB and 128 GB of weights; docs/inference.md L77: "Cosmos3-Super
    # (32B) does not fit on a single 80 GB H100".
    assert 32.0 < nano <= 80.0
    assert memory.predict_memory_gb(C3, {E}, 1, 121, params=super_) > 128.0


def test_memory_grows_per_hint_and_chunk_and_drops_without_guardrails() -> None:
    params = c3_run("a", "j").params
    one = memory.predict_memory_gb(C3, {E}, 1, 121, params=params)
    assert memory.predict_memory_gb(C3, {E, D, S}, 1, 121, params=params) > one
    longer = replace(params, chunk_frames=189)
    assert memory.predict_memory_gb(C3, {E}, 1, 121, params=longer) > one
    off = memory.predict_memory_gb(C3, {E}, 1, 121, params=params, guardrails=False)
    assert one - off == pytest.approx(memory.C3_GUARDRAIL_GB)
    # The input's length does not matter: finished chunks go to the CPU (transfer.py L562).
    assert memory.predict_memory_gb(C3, {E}, 1, 2000, params=params) == pytest.approx(one)


def test_a_shared_process_needs_the_memory_of_its_largest_run() -> None:
    small = c3_run("a", "j1", {E: 0.5})
    large = c3_run("b", "j2", {D: 0.5, S: 0.5})
    alone = memory.process_memory_gb([large], large.controls, 1)
    union = small.controls | large.controls
    assert memory.process_memory_gb([small, large], union, 1) == pytest.approx(alone)
    assert memory.mixing_fits(C3, union, 121, 24.0)


# --- cost ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frames", "chunk", "conditional", "max_frames", "expected"),
    [
        (121, 93, 1, 5000, (2, 93)),  # contract 1.7: T=121 with defaults -> 2 chunks
        (121, 121, 1, 5000, (1, 121)),  # with chunk 121 -> 1 chunk
        (93, 93, 1, 5000, (1, 93)),
        (185, 93, 1, 5000, (2, 93)),  # stride 92
        (186, 93, 1, 5000, (3, 93)),
        (30, 93, 1, 5000, (1, 93)),  # short inputs are padded to one chunk
        (1, 93, 1, 5000, (1, 1)),  # one frame: one 1-frame chunk
        (121, 90, 1, 5000, (2, 93)),  # rounded up to 4k+1
        (2000, 93, 1, 100, (2, 93)),  # at most max_frames
        (101, 101, 1, 5000, (1, 101)),  # the wsm default chunk
        (300, 93, 13, 5000, (4, 93)),  # stride 80
    ],
)
def test_chunks_follow_nvidia_formula(
    frames: int, chunk: int, conditional: int, max_frames: int, expected: tuple[int, int]
) -> None:
    assert cosmos3_chunks(frames, chunk, conditional, max_frames) == expected


def test_forwards_per_step_follow_the_guidance_terms() -> None:
    assert cosmos3_forwards(3.0, 1.5) == (3, 2)
    assert cosmos3_forwards(1.0, 3.0) == (3, 2)  # the negative-prompt forward runs anyway
    assert cosmos3_forwards(6.0, 1.0) == (2, 2)
    assert cosmos3_forwards(1.0, 1.0) == (1, 1)


@pytest.mark.parametrize("profile", sorted(NANO_T2V_720P))
def test_defaults_reproduce_the_published_text_to_video_time(profile: str) -> None:
    """One hint at text-CFG only: two forwards of target + one same-sized control block, so a
    189-frame 720p chunk costs twice the 189-frame text-to-video run (35 steps, guidance 6)."""
    run = c3_run(
        "a", "j", frames=189, chunk_frames=189, steps=35, guidance=6.0, control_guidance=1.0
    )
    assert sampling(run, profile) == pytest.approx(2 * NANO_T2V_720P[profile])


def test_super_over_nano_is_the_published_ratio() -> None:
    nano = c3_run("a", "j")
    large = c3_run("a", "j", checkpoint="Cosmos3-Super")
    assert sampling(large, "b200-192gb") / sampling(nano, "b200-192gb") == pytest.approx(
        407.50 / 114.85
    )
    assert sampling(large, "h200-141gb") / sampling(nano, "h200-141gb") == pytest.approx(
        224.43 / 67.48
    )


def test_480p_over_720p_is_the_published_ratio_and_tiers_are_ordered() -> None:
    seconds = {
        tier: sampling(c3_run("a", "j", resolution=tier)) for tier in ("256", "480", "720", "768")
    }
    assert seconds["480"] / seconds["720"] == pytest.approx(59.83 / 207.78)
    assert seconds["256"] < seconds["480"] < seconds["720"] < seconds["768"]


def test_each_hint_adds_a_block_to_the_forwards_that_carry_controls() -> None:
    # control_guidance 1.5: 3 forwards, controls in 2: one hint 3 + 2 = 5 blocks, two hints 7.
    one = c3_run("a", "j", {E: 0.5}, guidance=3.0, control_guidance=1.5)
    two = c3_run("b", "j", {E: 0.5, D: 0.5}, guidance=3.0, control_guidance=1.5)
    assert sampling(two) / sampling(one) == pytest.approx(7 / 5)
    # Without control-CFG: 2 forwards, both with controls: 4 blocks against 6.
    one = c3_run("a", "j", {E: 0.5}, guidance=3.0, control_guidance=1.0)
    two = c3_run("b", "j", {E: 0.5, D: 0.5}, guidance=3.0, control_guidance=1.0)
    assert sampling(two) / sampling(one) == pytest.approx(6 / 4)


def test_cost_is_linear_in_steps_and_chunks_and_ignores_other_runs_hints() -> None:
    base = c3_run("a", "j", frames=93)
    assert sampling(c3_run("a", "j", frames=93, steps=70)) == pytest.approx(2 * sampling(base))
    assert sampling(c3_run("a", "j", frames=185)) == pytest.approx(2 * sampling(base))
    widened = COST.predict(C3, PROFILE, [base], controls=frozenset({E, D, S}))
    assert widened == COST.predict(C3, PROFILE, [base])


def test_load_is_one_checkpoint_for_every_hint_super_reads_more() -> None:
    params = COST.params_for(C3, PROFILE)
    assert loaded_branches(C3, {E, D, S, V, W}) == 0
    nano = COST.predict(C3, PROFILE, [c3_run("a", "j", {E: 0.5, D: 0.5, W: 1.0})])
    assert nano.load_seconds == pytest.approx(params.process_start_seconds)
    large = COST.predict(C3, PROFILE, [c3_run("a", "j", checkpoint="Cosmos3-Super")])
    assert large.load_seconds - nano.load_seconds == pytest.approx(3 * params.branch_load_seconds)


def test_stored_parameters_without_the_super_factor_still_load() -> None:
    stored = COST.params_for(Backend.TRANSFER1, PROFILE).to_dict()
    del stored["super_factor"]
    assert CostParams.from_dict(stored).super_factor == 1.0
    params = COST.params_for(C3, "b200-192gb")
    assert CostParams.from_dict(params.to_dict()) == params
