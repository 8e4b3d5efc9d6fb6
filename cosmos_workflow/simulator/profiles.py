"""The simulator's ground truth: how long and how much memory simulated GPU work takes.

These numbers are the simulated world, on purpose independent of any planner default: a planner
must learn them from measured timings. Every figure is derived from the published numbers of the
reference (section numbers in brackets) or marked as an assumption where NVIDIA published none.

Derivations:
- Transfer2.5 seconds per step per 93-frame chunk = published 1-GPU "Avg. Diffusion Time" of the
  base edge model / 35 default steps [2.7]; distilled = distilled time / 4 steps [2.3, 2.7].
- Transfer1 seconds per step per 121-frame clip: the paper's 1-B200 diffusion time for one 5 s
  video, 141.0 s / 35 steps = 4.03 s [1.9], scaled to other GPUs by the Transfer2.5 base-edge
  ratio of that GPU to B200 (H100 NVL 502.6/179.7, H200 NVL 374.4/179.7) [2.7].
- Transfer1 per-item overhead (text encoding, guardrails, VAE, mp4): paper end-to-end minus
  diffusion, 141.7 - 141.0 = 0.7 s on B200 [1.9], scaled like the steps.
- Transfer2.5 per-sample overhead: published E2E minus 2 x the 93-frame time for the 121-frame
  segmentation example [2.7]: H100 NVL 895.33 - 2 x 445.52 = 4.3 s, B200 186.92 - 2 x 92.25 =
  2.4 s; H200 (not published) = 4.3 s x the H200/H100 NVL base-edge ratio 374.4/502.6 = 3.2 s.
- A Transfer1 control branch is 3 of the 28 DiT blocks [1.8]: each branch adds 3/28 of a step.
  Transfer2.5 control blocks sit at every 7th of 28 layers [2.6]: 4/28 per extra branch.
- Multi-GPU: Amdahl's law with parallel fraction 0.923, fitted to the published 1->4 GPU
  scaling of Transfer2.5 base edge on H100 NVL (3.25x) [2.7].
- Memory: Transfer1 7B DiT in bf16 = 14 GB; the T5-11B encoder (about half of its 11B
  parameters) in fp32 = 22 GB; Llama-Guard-3-8B in bf16 = 16 GB; ~1 GB of SigLIP/RetinaFace/VAE
  [1.8, parameter counts x bytes]; one control branch = 3/28 x 7B x 2 bytes = 1.5 GB;
  activations per batch item = the MLP's 4 x 4096 channels x 56,320 tokens [1.7] x 2 bytes x 2
  (CFG) ~ 3.7 GB, rounded to 4 GB. Transfer2.5: 65.4 GB published for
  the 2B model on one GPU [2.7]; an extra branch = 4/28 x 2B x 2 bytes ~ 0.6 GB.
Assumptions (no published figure): a process spends 60 s starting (imports of torch and the
model stack, CUDA and NCCL initialisation, model construction from config) and then loads
checkpoints at an effective 0.6 GB/s (unpickling plus the host-to-device copy), which puts a
Transfer1 start at about two and a half minutes, the "minutes" users report; on-the-fly depth/seg
preprocessing costs 0.2 s per frame for Transfer1 (models cached) and adds a 15 s model build per
sample for Transfer2.5 (rebuilt per sample [2.6]); GPU batching of B items costs B**0.85 single
steps (no published speed-up for batch_size > 1 [1.5])."""

from __future__ import annotations

import os
from dataclasses import dataclass

from cosmos_workflow.simulator.runtime import PROFILE_ENV

PROCESS_START_S = 60.0
LOAD_GB_PER_S = 0.6
T1_BRANCH_STEP_FRACTION = 3 / 28
T25_BRANCH_STEP_FRACTION = 4 / 28
CP_PARALLEL_FRACTION = 0.923
BATCH_EXPONENT = 0.85

T1_DIT_GB = 14.0
T1_T5_GB = 22.0
T1_GUARDRAIL_GB = 16.0
T1_SMALL_MODELS_GB = 1.0
T1_BRANCH_GB = 1.5
T1_ITEM_GB = 4.0
T1_UPSAMPLER_GB = 24.0  # Pixtral-12B in bf16 = 12B x 2 bytes
T25_SINGLE_GB = 65.4
T25_BRANCH_GB = 0.6
T25_GUARDRAIL_GB = 8.0  # Qwen3Guard: assumption, the reference gives no size

T1_PREPROCESS_S_PER_FRAME = 0.2
T25_PREPROCESSOR_BUILD_S = 15.0


@dataclass(frozen=True, slots=True)
class GpuProfile:
    name: str
    memory_gb: float
    t1_step_s: float  # one 121-frame clip, one step, base + 0 branches, CFG included
    t1_item_s: float
    t25_step_s: float  # one 93-frame chunk, one step, one control
    t25_distilled_step_s: float
    t25_sample_s: float  # per-sample overhead: guardrails, text embeddings, VAE, mp4

    def speedup(self, gpus: int) -> float:
        gpus = max(1, gpus)
        return 1.0 / ((1 - CP_PARALLEL_FRACTION) + CP_PARALLEL_FRACTION / gpus)


def _t1_scaled(ratio_to_b200: float) -> tuple[float, float]:
    return 141.0 / 35 * ratio_to_b200, 0.7 * ratio_to_b200


_H100 = _t1_scaled(502.6 / 179.7)
_H200 = _t1_scaled(374.4 / 179.7)
_B200 = _t1_scaled(1.0)

PROFILES: dict[str, GpuProfile] = {
    "h100-80gb": GpuProfile("h100-80gb", 80.0, *_H100, 502.6 / 35, 64.5 / 4, 4.3),
    "h200-141gb": GpuProfile("h200-141gb", 141.0, *_H200, 374.4 / 35, 49.8 / 4, 3.2),
    "b200-192gb": GpuProfile("b200-192gb", 192.0, *_B200, 179.7 / 35, 24.2 / 4, 2.4),
    # A 48 GB card (reference 1.9 reports RTX 6000 Ada 48GB failing): memory only differs.
    "l40s-48gb": GpuProfile("l40s-48gb", 48.0, *_H100, 502.6 / 35, 64.5 / 4, 4.3),
}
DEFAULT_PROFILE = "h100-80gb"


def current_profile() -> GpuProfile:
    name = os.environ.get(PROFILE_ENV, DEFAULT_PROFILE)
    if name not in PROFILES:
        raise ValueError(f"{PROFILE_ENV}={name!r}: known profiles are {', '.join(PROFILES)}")
    return PROFILES[name]


def t1_load_seconds(branches: int, offload_text: bool, offload_guardrail: bool) -> float:
    """Process start: base DiT, then each control branch re-instantiates a full model [1.8]."""
    resident = T1_DIT_GB + T1_SMALL_MODELS_GB
    resident += 0.0 if offload_text else T1_T5_GB
    resident += 0.0 if offload_guardrail else T1_GUARDRAIL_GB
    reload = max(0, branches - 1) * T1_DIT_GB / LOAD_GB_PER_S
    return PROCESS_START_S + resident / LOAD_GB_PER_S + reload


def t1_memory_gb(branches: int, batch: int, offload_text: bool, offload_guardrail: bool) -> float:
    """Peak: resident models plus activations; an offloaded T5 still peaks while it encodes."""
    dit = T1_DIT_GB + T1_SMALL_MODELS_GB + branches * T1_BRANCH_GB
    resident = dit + (0.0 if offload_text else T1_T5_GB)
    resident += 0.0 if offload_guardrail else T1_GUARDRAIL_GB
    sampling = resident + batch * T1_ITEM_GB
    encoding = dit + T1_T5_GB
    return max(sampling, encoding)


def t25_load_seconds(branches: int, guardrails: bool) -> float:
    total = T25_SINGLE_GB + (branches - 1) * T25_BRANCH_GB
    loaded = total if guardrails else total - T25_GUARDRAIL_GB
    return PROCESS_START_S + loaded / LOAD_GB_PER_S


def t25_memory_gb(branches: int, guardrails: bool) -> float:
    total = T25_SINGLE_GB + (branches - 1) * T25_BRANCH_GB
    return total if guardrails else total - T25_GUARDRAIL_GB
