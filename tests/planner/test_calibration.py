from __future__ import annotations

import random
from dataclasses import replace

import pytest

from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.params import Backend
from cosmos_workflow.planner.calibration import TimingSample, fit_cost_params, sample_estimate
from cosmos_workflow.planner.cost import CostParams
from cosmos_workflow.planner.cost_defaults import transfer1_params, transfer2_5_params

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
