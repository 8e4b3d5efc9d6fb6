from __future__ import annotations

import pytest

from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.params import Backend
from cosmos_workflow.planner import cost_defaults
from cosmos_workflow.planner.cost import (
    CostParams,
    clip_count,
    loaded_branches,
    passes_per_clip,
)
from cosmos_workflow.planner.cost_defaults import default_cost_model
from tests.planner.builders import queued_run

T1 = Backend.TRANSFER1
T25 = Backend.TRANSFER2_5


@pytest.mark.parametrize(
    ("frames", "clips"), [(1, 1), (93, 1), (121, 1), (122, 2), (241, 2), (242, 3), (361, 3)]
)
def test_transfer1_clips_of_121_frames(frames: int, clips: int) -> None:
    assert clip_count(T1, frames) == clips


@pytest.mark.parametrize(
    ("frames", "chunks"), [(1, 1), (93, 1), (94, 2), (121, 2), (185, 2), (186, 3), (277, 3)]
)
def test_transfer2_5_chunks_of_93_frames(frames: int, chunks: int) -> None:
    # reference 2.5: "121 input frames -> two 93 frame chunk generations"
    assert clip_count(T25, frames) == chunks


def test_passes_with_cfg_and_distilled() -> None:
    assert passes_per_clip(T1, 35, distilled=False) == 70
    assert passes_per_clip(T1, 35, distilled=True) == 1
    assert passes_per_clip(T25, 35, distilled=False) == 70
    assert passes_per_clip(T25, 35, distilled=True) == 4


def test_loaded_branches_per_backend() -> None:
    assert loaded_branches(T1, {Control.EDGE, Control.DEPTH, Control.SEG}) == 3
    assert loaded_branches(T25, {Control.EDGE}) == 1
    assert loaded_branches(T25, {Control.EDGE, Control.DEPTH}) == 4


def test_defaults_reproduce_the_published_transfer2_5_figures() -> None:
    model = default_cost_model()
    seg = {Control.SEG: 1.0}
    chunk = queued_run("a", "j", weights=seg, backend=T25, frames=93)
    two_chunks = queued_run("b", "j", weights=seg, backend=T25, frames=121)
    one = model.predict(T25, "b200-192gb", [chunk])
    two = model.predict(T25, "b200-192gb", [two_chunks])
    overhead = model.params_for(T25, "b200-192gb").run_overhead_seconds
    assert one.compute_seconds - overhead == pytest.approx(92.25)  # 93-frame generation
    assert two.compute_seconds == pytest.approx(186.92)  # E2E for 121 frames


def test_defaults_reproduce_the_transfer1_paper_figure() -> None:
    model = default_cost_model()
    run = queued_run("a", "j", weights={Control.EDGE: 1.0}, frames=121)
    estimate = model.predict(T1, "b200-192gb", [run])
    assert estimate.compute_seconds == pytest.approx(141.7)  # paper Table 5, end to end


def test_distilled_speedup_matches_the_published_ratio() -> None:
    model = default_cost_model()
    params = model.params_for(T25, "h100-80gb")
    base = queued_run("a", "j", backend=T25, frames=93)
    fast = queued_run("b", "j", backend=T25, frames=93, distilled=True)
    sampling = model.predict(T25, "h100-80gb", [base]).compute_seconds
    distilled = model.predict(T25, "h100-80gb", [fast]).compute_seconds
    overhead = params.run_overhead_seconds
    assert (sampling - overhead) / (distilled - overhead) == pytest.approx(7.8)


def test_gpu_profiles_are_ordered_by_published_speed() -> None:
    model = default_cost_model()
    runs = [queued_run("a", "j")]
    seconds = {p: model.predict(T1, p, runs).compute_seconds for p in cost_defaults.PROFILES}
    assert (
        seconds["b200-192gb"] < seconds["h200-141gb"] < seconds["h100-80gb"] < seconds["a100-80gb"]
    )


def test_unknown_profile_falls_back() -> None:
    model = default_cost_model()
    assert model.params_for(T1, "rtx-9000") == model.params_for(T1, "h100-80gb")


def test_load_grows_per_transfer1_branch_and_is_stepwise_for_transfer2_5() -> None:
    model = default_cost_model()
    one = [queued_run("a", "j", weights={Control.EDGE: 0.5})]
    three = [
        queued_run("a", "j", weights={Control.EDGE: 0.5, Control.DEPTH: 0.2, Control.SEG: 0.1})
    ]
    p1 = model.params_for(T1, "h100-80gb")
    t1_one = model.predict(T1, "h100-80gb", one).load_seconds
    t1_three = model.predict(T1, "h100-80gb", three).load_seconds
    assert t1_three - t1_one == pytest.approx(2 * p1.branch_load_seconds)
    p25 = model.params_for(T25, "h100-80gb")
    t25_one = model.predict(T25, "h100-80gb", [queued_run("a", "j", backend=T25)]).load_seconds
    t25_two = model.predict(
        T25,
        "h100-80gb",
        [queued_run("a", "j", backend=T25, weights={Control.EDGE: 1, Control.VIS: 1})],
    ).load_seconds
    assert t25_two - t25_one == pytest.approx(3 * p25.branch_load_seconds)


def test_gpu_batching_is_sublinear_and_one_run_per_batch_is_not() -> None:
    model = default_cost_model()
    runs = [queued_run(f"r{i}", "j") for i in range(4)]
    serial = model.predict(T1, "h100-80gb", runs, gpu_batch_size=1)
    batched = model.predict(T1, "h100-80gb", runs, gpu_batch_size=4)
    assert batched.compute_seconds < serial.compute_seconds
    assert batched.load_seconds == serial.load_seconds


def test_transfer1_pays_for_every_loaded_branch_transfer2_5_only_for_its_own() -> None:
    model = default_cost_model()
    edge = {Control.EDGE: 0.5}
    both = frozenset({Control.EDGE, Control.DEPTH})
    t1 = queued_run("a", "j", weights=edge)
    alone = model.predict(T1, "h100-80gb", [t1]).compute_seconds
    widened = model.predict(T1, "h100-80gb", [t1], controls=both).compute_seconds
    assert widened > alone
    t25 = queued_run("a", "j", weights=edge, backend=T25)
    alone = model.predict(T25, "h100-80gb", [t25]).compute_seconds
    widened = model.predict(T25, "h100-80gb", [t25], controls=both).compute_seconds
    assert widened == pytest.approx(alone)


def test_params_round_trip_through_a_dict() -> None:
    params = default_cost_model().params_for(T1, "h200-141gb")
    assert CostParams.from_dict(params.to_dict()) == params
