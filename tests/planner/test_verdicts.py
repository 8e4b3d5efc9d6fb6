"""The verdict of one batch (`domain.verdicts.batch_verdict`), as the planner labels batches."""

from __future__ import annotations

from cosmos_workflow.domain.controls import Control, ControlSet
from cosmos_workflow.domain.params import Backend
from cosmos_workflow.domain.verdicts import BatchingKind, OutputVerdict, VerdictKey, batch_verdict

T1 = Backend.TRANSFER1
T25 = Backend.TRANSFER2_5
E, D, S = Control.EDGE, Control.DEPTH, Control.SEG
PROFILE = "h100-80gb"


def verdict(
    backend: Backend,
    sets: list[ControlSet],
    gpu_batch_size: int = 1,
    verified: frozenset[VerdictKey] = frozenset(),
) -> tuple[OutputVerdict, str]:
    union: ControlSet = frozenset().union(*sets)
    found = batch_verdict(backend, False, sets, union, gpu_batch_size, PROFILE, verified)
    return found.verdict, found.reason


def test_proven_batches_are_identical() -> None:
    assert verdict(T1, [frozenset({E})]) == (OutputVerdict.IDENTICAL, "")
    assert verdict(T1, [frozenset({E, D})]) == (OutputVerdict.IDENTICAL, "")
    assert verdict(T25, [frozenset({E})]) == (OutputVerdict.IDENTICAL, "")
    assert verdict(T25, [frozenset({E, S})]) == (OutputVerdict.IDENTICAL, "")


def test_gpu_batching_may_differ_unless_verified_on_this_profile() -> None:
    found, reason = verdict(T1, [frozenset({E})], gpu_batch_size=4)
    assert found is OutputVerdict.MAY_DIFFER and "--batch_size 4" in reason
    key = VerdictKey.of(T1, False, BatchingKind.GPU_BATCH, frozenset({E}), PROFILE)
    found, reason = verdict(T1, [frozenset({E})], 4, frozenset({key}))
    assert found is OutputVerdict.VERIFIED and PROFILE in reason
    other = VerdictKey.of(T1, False, BatchingKind.GPU_BATCH, frozenset({E}), "b200-192gb")
    assert verdict(T1, [frozenset({E})], 4, frozenset({other}))[0] is OutputVerdict.MAY_DIFFER


def test_mixing_may_differ_with_a_reason_per_backend() -> None:
    found, reason = verdict(T1, [frozenset({E}), frozenset({D})])
    assert found is OutputVerdict.MAY_DIFFER and "zero-weight" in reason and "depth+edge" in reason
    found, reason = verdict(T25, [frozenset({E}), frozenset({E, D})])
    assert found is OutputVerdict.MAY_DIFFER and "single-control model" in reason
    found, reason = verdict(T25, [frozenset({E, S}), frozenset({E, D})])
    assert found is OutputVerdict.MAY_DIFFER and "not proven" in reason


def test_the_weaker_of_mixing_and_gpu_batching_decides() -> None:
    mixed = VerdictKey.of(T1, False, BatchingKind.MIXED, frozenset({E, D}), PROFILE)
    sets = [frozenset({E}), frozenset({D})]
    assert verdict(T1, sets, 1, frozenset({mixed}))[0] is OutputVerdict.VERIFIED
    found, reason = verdict(T1, [frozenset({E})], 2, frozenset({mixed}))
    assert found is OutputVerdict.MAY_DIFFER and "GPU batching" in reason
