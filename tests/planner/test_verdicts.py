"""The verdict of one batch (`domain.verdicts.batch_verdict`), as the planner labels batches."""

from __future__ import annotations

import pytest

from cosmos_workflow.domain.controls import Control, ControlSet
from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.domain.params import Backend
from cosmos_workflow.domain.verdicts import (
    COSMOS3_REASON,
    BatchingKind,
    BatchVerdict,
    OutputVerdict,
    VerdictKey,
    batch_verdict,
)
from cosmos_workflow.worker.verification import build_verify_request

T1 = Backend.TRANSFER1
T25 = Backend.TRANSFER2_5
C3 = Backend.COSMOS3
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


def test_every_cosmos3_batch_is_identical_by_construction() -> None:
    every = [frozenset({E}), frozenset({D, S}), frozenset({Control.WSM}), frozenset({E, D})]
    union: ControlSet = frozenset().union(*every)
    for sets in ([every[0]], every):
        for size in (1, 3):
            found = batch_verdict(C3, False, sets, union, size, PROFILE)
            assert found == BatchVerdict(OutputVerdict.IDENTICAL, COSMOS3_REASON)
    assert "alone" in COSMOS3_REASON and "own seed" in COSMOS3_REASON


def test_verify_batching_has_nothing_to_verify_for_cosmos3() -> None:
    with pytest.raises(InvalidInput, match="nothing to verify for cosmos3") as raised:
        build_verify_request(["p1"], ["edge", "depth"], backend="cosmos3")
    assert raised.value.field == "backend"
