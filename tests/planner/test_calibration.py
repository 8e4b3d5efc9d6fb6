from __future__ import annotations

import random
from dataclasses import replace

import pytest

from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.params import Backend, validate_params
from cosmos_workflow.planner.calibration import TimingSample, fit_cost_params, sample_estimate
from cosmos_workflow.planner.cost import CostParams
from cosmos_workflow.planner.cost_defaults import (
    cosmos3_params,
    default_cost_model,
    transfer1_params,
    transfer2_5_params,
)
from tests.planner.builders import queued_run

T1 = Backend.TRANSFER1
E, D, S, V = Control.EDGE, Control.DEPTH, Control.SEG, Control.VIS

BASE = transfer1_params("h100-80gb")
# A "real" GPU that differs from the defaults in every parameter.
TRUE = CostParams(
    process_start_seconds=140.0,
    branch_load_seconds=31.0,
    run_overhead_seconds=9.0,
    pass_seconds=BASE.pass_seconds * 1.35,
    branch_fraction=0.17,
    gpu_batch_marginal=0.7,
    distilled_factor=3.1,
)

CONFIGS = [
    # controls, steps, frames, gpu batch, runs, distilled
    ({E}, 35, 121, 1, 1, False),
    ({E}, 35, 121, 1, 4, False),
    ({E, D}, 35, 121, 1, 3, False),
    ({E, D, S}, 20, 241, 1, 2, False),
    ({E, D, S, V}, 35, 121, 1, 2, False),
    ({D}, 35, 121, 3, 6, False),
    ({E, S}, 20, 121, 2, 4, False),
    ({E}, 35, 361, 2, 2, False),
    ({E}, 35, 121, 1, 8, True),
    ({E}, 35, 241, 1, 3, True),
    ({S}, 10, 121, 1, 5, False),
    ({V, S}, 35, 121, 3, 3, False),
]


def sample(
    params: CostParams,
    config: tuple[set[Control], int, int, int, int, bool],
    noise: random.Random | None = None,
) -> TimingSample:
    controls, steps, frames, gpu, runs, distilled = config
    shape = TimingSample(
        backend=T1,
        gpu_profile="h100-80gb",
        controls=frozenset(controls),
        steps=steps,
        frames=frames,
        gpu_batch_size=gpu,
        runs=runs,
        distilled=distilled,
        load_seconds=1.0,
        compute_seconds=1.0,
    )
    truth = sample_estimate(params, shape)
    jitter = (lambda: 1 + noise.uniform(-0.03, 0.03)) if noise else (lambda: 1.0)
    return replace(
        shape,
        load_seconds=truth.load_seconds * jitter(),
        compute_seconds=truth.compute_seconds * jitter(),
    )


def total(params: CostParams, shape: TimingSample) -> float:
    return sample_estimate(params, shape).total_seconds


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fit_on_noisy_samples_predicts_a_held_out_configuration_within_10_percent(
    seed: int,
) -> None:
    noise = random.Random(seed)
    samples = [sample(TRUE, config, noise) for config in CONFIGS]
    result = fit_cost_params(samples, BASE)
    held_out = sample(TRUE, ({E, D, V}, 25, 241, 2, 5, False))
    predicted = total(result.params, held_out)
    measured = held_out.load_seconds + held_out.compute_seconds
    assert abs(predicted - measured) / measured < 0.10
    # the defaults alone would miss it by far more: the fit did the work
    assert abs(total(BASE, held_out) - measured) / measured > 0.20
    assert result.samples_used == len(CONFIGS)
    assert result.mean_abs_error_pct < 5.0
    assert result.max_abs_error_pct >= result.mean_abs_error_pct


def test_exact_samples_recover_the_true_parameters() -> None:
    samples = [sample(TRUE, config) for config in CONFIGS]
    fitted = fit_cost_params(samples, BASE).params
    assert fitted.process_start_seconds == pytest.approx(140.0, rel=1e-6)
    assert fitted.branch_load_seconds == pytest.approx(31.0, rel=1e-6)
    assert fitted.branch_fraction == pytest.approx(0.17, rel=0.05)
    assert fitted.gpu_batch_marginal == pytest.approx(0.7, abs=0.02)


def test_one_sample_scales_the_defaults_to_match_it() -> None:
    measured = sample(TRUE, CONFIGS[1])
    result = fit_cost_params([measured], BASE)
    assert result.samples_used == 1
    assert result.mean_abs_error_pct == pytest.approx(0.0, abs=1e-6)
    ratio = result.params.pass_seconds / BASE.pass_seconds
    assert result.params.run_overhead_seconds / BASE.run_overhead_seconds == pytest.approx(ratio)
    # what one sample cannot tell apart keeps its base value
    assert result.params.branch_fraction == BASE.branch_fraction
    assert result.params.gpu_batch_marginal == BASE.gpu_batch_marginal
    assert result.params.distilled_factor == BASE.distilled_factor


def test_two_samples_with_different_branch_counts_fit_both_load_terms() -> None:
    samples = [sample(TRUE, CONFIGS[0]), sample(TRUE, CONFIGS[4])]
    result = fit_cost_params(samples, BASE)
    assert result.params.process_start_seconds == pytest.approx(140.0)
    assert result.params.branch_load_seconds == pytest.approx(31.0)
    # compute is scaled: both samples are reproduced closely
    assert result.max_abs_error_pct < 10.0


def test_no_usable_sample_keeps_the_base() -> None:
    empty = replace(sample(TRUE, CONFIGS[0]), compute_seconds=0.0)
    result = fit_cost_params([empty], BASE)
    assert result.params == BASE
    assert result.samples_used == 0


def test_transfer2_5_samples_fit_too() -> None:
    base = transfer2_5_params("h200-141gb")
    truth = replace(base, pass_seconds=base.pass_seconds * 0.8, process_start_seconds=70.0)
    configs = [
        ({E}, 35, 93, 1, 3, False),
        ({E, D}, 35, 121, 1, 2, False),
        ({S}, 20, 200, 1, 4, False),
    ]
    samples = [replace(sample(truth, c), backend=Backend.TRANSFER2_5) for c in configs]
    # rebuild the measurements with the Transfer2.5 clip and branch rules
    samples = [
        replace(
            s,
            load_seconds=sample_estimate(truth, s).load_seconds,
            compute_seconds=sample_estimate(truth, s).compute_seconds,
        )
        for s in samples
    ]
    result = fit_cost_params(samples, base)
    assert result.max_abs_error_pct < 1.0


def test_samples_without_a_measured_load_fit_compute_only() -> None:
    samples = [replace(sample(TRUE, config), load_seconds=0.0) for config in CONFIGS[:3]]
    result = fit_cost_params(samples, BASE)
    assert result.samples_used == 3
    assert result.params.process_start_seconds == BASE.process_start_seconds
    assert result.params.pass_seconds != BASE.pass_seconds
    assert result.max_abs_error_pct < 5.0  # branch fraction kept at base: 3 samples, 2 terms


# --- Cosmos 3 --------------------------------------------------------------------------------

C3 = Backend.COSMOS3
W = Control.WSM
C3_BASE = cosmos3_params("h100-80gb")
# A "real" GPU for Cosmos 3: every fitted term off the defaults (attention makes a control
# block dearer than the linear estimate, the load and the overhead differ).
C3_TRUE = replace(
    C3_BASE,
    process_start_seconds=180.0,
    branch_load_seconds=45.0,
    run_overhead_seconds=14.0,
    pass_seconds=C3_BASE.pass_seconds * 1.3,
    branch_fraction=1.35,
    super_factor=C3_BASE.super_factor * 1.15,
)

C3_CONFIGS: list[tuple[set[Control], dict[str, object], int, int]] = [
    # controls, Cosmos 3 parameters, frames, runs
    ({E}, {}, 121, 4),
    ({E}, {"control_guidance": 1.0, "guidance": 6.0}, 121, 3),
    ({E, D}, {}, 93, 2),
    ({D, S, V}, {"control_guidance": 1.0}, 241, 2),
    ({W}, {}, 101, 5),
    ({S}, {"guidance": 1.0, "control_guidance": 1.0, "steps": 20}, 200, 3),
    ({E}, {"checkpoint": "Cosmos3-Super"}, 121, 2),
    ({E, D}, {"checkpoint": "Cosmos3-Super", "resolution": "480"}, 121, 3),
    ({V}, {"resolution": "480", "chunk_frames": 121}, 300, 2),
    ({E, S, W, D}, {"guidance": 6.0}, 93, 1),
]


def c3_sample(
    params: CostParams,
    config: tuple[set[Control], dict[str, object], int, int],
    noise: random.Random | None = None,
) -> TimingSample:
    controls, raw, frames, runs = config
    run_params = validate_params(
        {"backend": C3.value, **raw}, sorted(control.value for control in controls)
    )
    shape = TimingSample(
        backend=C3,
        gpu_profile="h100-80gb",
        controls=frozenset(controls),
        steps=run_params.steps,
        frames=frames,
        gpu_batch_size=1,
        runs=runs,
        distilled=False,
        load_seconds=1.0,
        compute_seconds=1.0,
        params=run_params,
    )
    truth = sample_estimate(params, shape)
    jitter = (lambda: 1 + noise.uniform(-0.03, 0.03)) if noise else (lambda: 1.0)
    return replace(
        shape,
        load_seconds=truth.load_seconds * jitter(),
        compute_seconds=truth.compute_seconds * jitter(),
    )


def test_cosmos3_exact_samples_recover_the_true_parameters() -> None:
    fitted = fit_cost_params([c3_sample(C3_TRUE, c) for c in C3_CONFIGS], C3_BASE).params
    assert fitted.process_start_seconds == pytest.approx(180.0, rel=1e-6)
    assert fitted.branch_load_seconds == pytest.approx(45.0, rel=1e-6)
    assert fitted.run_overhead_seconds == pytest.approx(14.0, rel=0.05)
    assert fitted.branch_fraction == pytest.approx(1.35, rel=0.05)
    # the Super factor is searched on a geometric grid of ~7 % steps
    assert fitted.super_factor == pytest.approx(C3_TRUE.super_factor, rel=0.04)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cosmos3_fit_on_noisy_samples_predicts_a_held_out_configuration(seed: int) -> None:
    noise = random.Random(seed)
    samples = [c3_sample(C3_TRUE, config, noise) for config in C3_CONFIGS]
    result = fit_cost_params(samples, C3_BASE)
    held_out = c3_sample(C3_TRUE, ({E, S, V}, {"checkpoint": "Cosmos3-Super", "steps": 25}, 241, 3))
    measured = held_out.load_seconds + held_out.compute_seconds
    assert abs(total(result.params, held_out) - measured) / measured < 0.10
    assert abs(total(C3_BASE, held_out) - measured) / measured > 0.20
    assert result.samples_used == len(C3_CONFIGS)
    assert result.mean_abs_error_pct < 5.0


def test_cosmos3_samples_of_one_checkpoint_keep_the_super_factor() -> None:
    nano = [c3_sample(C3_TRUE, c) for c in C3_CONFIGS if "checkpoint" not in c[1]]
    result = fit_cost_params(nano, C3_BASE)
    assert result.params.super_factor == C3_BASE.super_factor
    assert result.params.branch_load_seconds == pytest.approx(
        C3_BASE.branch_load_seconds
        * result.params.process_start_seconds
        / C3_BASE.process_start_seconds
    )
    assert result.max_abs_error_pct < 1.0


def test_a_cosmos3_sample_without_parameters_uses_nvidia_defaults_for_its_hints() -> None:
    """The worker's timing rows carry controls, steps and frames only: the rest is what NVIDIA
    fills in for those hints (wsm: chunks of 101 frames, guidance 1, control guidance 3)."""
    measured = c3_sample(C3_TRUE, ({W}, {}, 250, 2))
    bare = replace(measured, params=None)
    assert sample_estimate(C3_TRUE, bare) == sample_estimate(C3_TRUE, measured)
    model = default_cost_model().with_params(C3, "h100-80gb", C3_TRUE)
    run = queued_run("a", "j", weights={W: 1.0}, backend=C3, frames=250)
    predicted = model.predict(C3, "h100-80gb", [run, replace(run, run_id="b")])
    assert sample_estimate(C3_TRUE, bare) == predicted
