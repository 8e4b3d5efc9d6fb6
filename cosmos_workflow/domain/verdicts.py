"""Whether a batch keeps every run's output: the three verdicts and what a verification proves.

A batch is `identical` when NVIDIA's code proves each run renders exactly what it renders alone
(a Transfer1 batch of one control set at `--batch_size 1`; a Transfer2.5 batch of one key set;
every Cosmos 3 batch), `verified` when `cosmos verify-batching` compared that kind of batch
frame by frame on the GPU profile it will run on and found it identical, and `may_differ`
otherwise, with the reason.

Two kinds of batching can change outputs, and each is verified on its own:
- `mixed`: runs of different control sets share one process (Transfer1 zero-weight overrides;
  Transfer2.5 switches every sample to the multicontrol model). Keyed by the process's control
  union.
- `gpu_batch`: Transfer1 `--batch_size` > 1 denoises items in one tensor, with noise drawn for
  the whole tensor. Keyed by the (shared) control set of the items.

Cosmos 3 has neither: each transfer sample is its own batch of one (NVIDIA/cosmos-framework
5eee9ed, cosmos_framework/inference/inference.py L1528-1529), generated with its own seed per
chunk (inference/transfer.py L553), by the one checkpoint that serves every hint, so a shared
process neither reloads nor switches models; the diffusion cache, the only state kept across
steps, is reset at every generation call (model/generator/mot/diffusion_cache.py L517-519,
L608-615). A sample's output depends on its own fields alone: nothing to verify.

Pure: no I/O. The store keeps verification results; the planner reads them as a set of keys."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from cosmos_workflow.domain.controls import ControlSet, control_set_key
from cosmos_workflow.domain.params import Backend


class OutputVerdict(StrEnum):
    IDENTICAL = "identical"
    VERIFIED = "verified"
    MAY_DIFFER = "may_differ"

    @property
    def keeps_outputs(self) -> bool:
        return self is not OutputVerdict.MAY_DIFFER


class BatchingKind(StrEnum):
    MIXED = "mixed"
    GPU_BATCH = "gpu_batch"


def model_variant(distilled: bool) -> str:
    """The checkpoint family a run loads, as far as output identity is concerned."""
    return "distilled" if distilled else "base"


@dataclass(frozen=True, slots=True)
class VerdictKey:
    """What one verification covers: a kind of batching of one backend, model variant, control
    set and GPU profile."""

    backend: Backend
    variant: str
    kind: BatchingKind
    controls: str  # control_set_key form, e.g. "depth+seg"
    gpu_profile: str

    @classmethod
    def of(
        cls,
        backend: Backend,
        distilled: bool,
        kind: BatchingKind,
        controls: ControlSet,
        gpu_profile: str,
    ) -> VerdictKey:
        return cls(backend, model_variant(distilled), kind, control_set_key(controls), gpu_profile)


@dataclass(frozen=True, slots=True)
class BatchVerdict:
    verdict: OutputVerdict
    # Why outputs may differ, or what verified it; for identical, empty or (Cosmos 3) why it is
    # identical by construction.
    reason: str = ""


COSMOS3_REASON = (
    "Cosmos 3 generates each sample alone (a batch of one) with its own seed, and one "
    "checkpoint serves every hint: no model reload or switch, so every run renders what it "
    "renders alone"
)


def identical_by_construction(backend: Backend) -> bool:
    """Whether every batch of this backend keeps each run's output, whatever it mixes."""
    return backend is Backend.COSMOS3


def batch_verdict(
    backend: Backend,
    distilled: bool,
    run_control_sets: Iterable[ControlSet],
    process_controls: ControlSet,
    gpu_batch_size: int,
    gpu_profile: str,
    verified: frozenset[VerdictKey] = frozenset(),
) -> BatchVerdict:
    """The verdict of one batch: the weaker of its mixing and its GPU batching."""
    if identical_by_construction(backend):
        return BatchVerdict(OutputVerdict.IDENTICAL, COSMOS3_REASON)
    sets = set(run_control_sets)
    reasons: list[str] = []
    used: list[str] = []
    mixed = len(sets) > 1 or any(s != process_controls for s in sets)
    if mixed:
        key = VerdictKey.of(backend, distilled, BatchingKind.MIXED, process_controls, gpu_profile)
        if key in verified:
            used.append(f"mixing {key.controls} verified on {gpu_profile}")
        else:
            reasons.append(_mixing_reason(backend, sets, process_controls))
    if gpu_batch_size > 1:
        # Items of one tensor share one control set (compat.valid_gpu_batch).
        controls = next(iter(sets)) if len(sets) == 1 else process_controls
        key = VerdictKey.of(backend, distilled, BatchingKind.GPU_BATCH, controls, gpu_profile)
        if key in verified:
            used.append(f"GPU batching of {key.controls} verified on {gpu_profile}")
        else:
            reasons.append(
                f"GPU batching (--batch_size {gpu_batch_size}) draws noise for the whole batch, "
                "so a run does not render what it renders alone with the same seed"
            )
    if reasons:
        return BatchVerdict(OutputVerdict.MAY_DIFFER, "; ".join(reasons))
    if used:
        return BatchVerdict(OutputVerdict.VERIFIED, "; ".join(used))
    return BatchVerdict(OutputVerdict.IDENTICAL)


def _mixing_reason(backend: Backend, sets: set[ControlSet], controls: ControlSet) -> str:
    union = control_set_key(controls)
    if backend is Backend.TRANSFER1:
        return (
            "Transfer1 runs of different control sets share a process (zero-weight controls); "
            "unchanged outputs are not proven until `cosmos verify-batching` verifies "
            f"{union} on this GPU profile"
        )
    if len(controls) > 1 and any(len(s) == 1 for s in sets):
        return (
            "Transfer2.5 mixes control keys: a single-key run switches from its single-control "
            f"model to the multicontrol model ({union})"
        )
    return (
        "Transfer2.5 runs of different key sets share the multicontrol model, each with weight "
        "0 for the keys it did not ask for; unchanged outputs are not proven until "
        f"`cosmos verify-batching` verifies {union} on this GPU profile"
    )
