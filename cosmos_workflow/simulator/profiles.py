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
steps (no published speed-up for batch_size > 1 [1.5]).

Cosmos 3 (reference cosmos3.md; NVIDIA/cosmos inference_benchmarks.md @aca7057 L35-68, L142-169,
BF16, batch 1, 189 frames at 24 FPS, sampling time; 35 steps and guidance 6 are the t2v defaults):
- One t2v step at 720p = published time / 35: Nano 1 GPU H100 207.78 s, H200 214.28 s, B200
  114.85 s [4]. Super 1 GPU: B200 407.50 s [4]; H200 has only a 4-GPU figure, 224.43 s, turned
  into a 1-GPU figure with the Amdahl speed-up below (224.43 x 3.25 = 729 s); H100 = that H200
  figure x the Nano H100/H200 ratio 207.78/214.28. The 48 GB profile reuses the H100 figures,
  as the Transfer figures above do.
- 480p: the published 1-GPU 480p/720p ratio of Nano on that GPU (H100 59.83/207.78, H200
  60.18/214.28, B200 33.20/114.85) [4], used for Super too (no Super 480p figure).
- A transfer step costs the t2v step x (latent-frame forwards of the step) / 96: a t2v step at
  guidance 6 is 2 forwards over 1 + 188/4 = 48 latent frames; a transfer chunk of C frames has
  L = 1 + (C-1)/4 latent frames, a forward with N controls covers (N+1) x L, and a step runs 1
  such forward (guidance = control_guidance = 1), 2 (text CFG), or 2 plus a target-only forward
  of L (control_guidance != 1) [1.6, 4]. This is the reference's own linear-cost estimate
  ("(62+31+62)/(2x48)" for one control over a 121-frame chunk); attention makes the real cost
  higher, which the simulated world leaves out.
- Memory: weights 32 GB Nano, 128 GB Super, 8 GB Edge (docs/faq.md L151-156; args.py
  L1174-1186), divided over the FSDP shards (dp_shard, by default every rank); Qwen3Guard-Gen-0.6B
  in bf16 = 0.6B x 2 bytes = 1.2 GB [5], unless offloaded or --no-guardrails.
Cosmos 3 assumptions (no published figure): activations, VAE and the caches take 10 GB per GPU;
RetinaFace adds 0.1 GB to the guardrails; Edge steps cost Nano's x 2B/8B parameters; tiers other
than 480/720 and aspect ratios other than 16:9 scale the 720p (or, at 256p, the 480p) step by
their pixel count; the first chunk of a process pays a 60 s torch.compile (--use-torch-compile,
the default); loading uses PROCESS_START_S and LOAD_GB_PER_S above."""

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


# -- Cosmos 3 ------------------------------------------------------------------------------

C3_T2V_STEPS = 35
C3_T2V_LATENT_FORWARDS = 2 * (1 + (189 - 1) // 4)  # 96: two forwards over 48 latent frames
C3_NANO_T2V_720P_S = {"h100-80gb": 207.78, "h200-141gb": 214.28, "b200-192gb": 114.85}
C3_NANO_T2V_480P_S = {"h100-80gb": 59.83, "h200-141gb": 60.18, "b200-192gb": 33.20}
C3_SUPER_H200_4GPU_S = 224.43
C3_SUPER_B200_1GPU_S = 407.50
C3_WEIGHTS_GB = {"Cosmos3-Nano": 32.0, "Cosmos3-Super": 128.0, "Cosmos3-Edge": 8.0}
C3_GUARDRAIL_GB = 1.2 + 0.1  # Qwen3Guard-Gen-0.6B in bf16, plus RetinaFace (assumption)
C3_ACTIVATION_GB = 10.0  # assumption
C3_EDGE_FRACTION = 2 / 8  # assumption: parameters, 2B against 8B
C3_COMPILE_S = 60.0  # assumption
C3_720P_PIXELS = 1280 * 720  # the benchmark's 720p 16:9 frame
C3_480P_PIXELS = 832 * 480


def _c3_gpu(profile: GpuProfile) -> str:
    """The benchmarked GPU a profile takes its Cosmos 3 figures from."""
    return "h100-80gb" if profile.name == "l40s-48gb" else profile.name


def c3_t2v_720p_s(profile: GpuProfile, model: str) -> float:
    """One 1-GPU t2v run at 720p (35 steps) of the model's family."""
    gpu = _c3_gpu(profile)
    if model == "Cosmos3-Super":
        if gpu == "b200-192gb":
            return C3_SUPER_B200_1GPU_S
        h200 = C3_SUPER_H200_4GPU_S * PROFILES["h200-141gb"].speedup(4)
        nano_ratio = C3_NANO_T2V_720P_S[gpu] / C3_NANO_T2V_720P_S["h200-141gb"]
        return h200 * nano_ratio
    nano = C3_NANO_T2V_720P_S[gpu]
    return nano * C3_EDGE_FRACTION if model == "Cosmos3-Edge" else nano


def c3_pixel_factor(profile: GpuProfile, tier: str, pixels: int) -> float:
    """A step at `pixels` of a tier against the 720p 16:9 step."""
    gpu = _c3_gpu(profile)
    ratio_480 = C3_NANO_T2V_480P_S[gpu] / C3_NANO_T2V_720P_S[gpu]
    if tier in ("480", "256"):
        return ratio_480 * pixels / C3_480P_PIXELS
    return pixels / C3_720P_PIXELS


def c3_latent_forwards(chunk: int, hints: int, guidance: float, control_guidance: float) -> int:
    """Latent-frame forwards of one transfer step (reference 1.6: 1, 2 or 3 forwards)."""
    latent = 1 + (chunk - 1) // 4
    with_controls = (hints + 1) * latent
    if control_guidance != 1.0:
        return 2 * with_controls + latent
    return 2 * with_controls if guidance != 1.0 else with_controls


def c3_step_seconds(
    profile: GpuProfile, model: str, tier: str, pixels: int, forwards: int
) -> float:
    """One sampler step of a transfer chunk on one GPU."""
    t2v_step = c3_t2v_720p_s(profile, model) / C3_T2V_STEPS
    scale = c3_pixel_factor(profile, tier, pixels) * forwards / C3_T2V_LATENT_FORWARDS
    return t2v_step * scale


def c3_memory_gb(model: str, shards: int, guardrails_on_gpu: bool) -> float:
    weights = C3_WEIGHTS_GB[model] / max(1, shards)
    return weights + C3_ACTIVATION_GB + (C3_GUARDRAIL_GB if guardrails_on_gpu else 0.0)


def c3_load_seconds(model: str, shards: int, guardrails: bool) -> float:
    loaded = C3_WEIGHTS_GB[model] / max(1, shards) + (C3_GUARDRAIL_GB if guardrails else 0.0)
    return PROCESS_START_S + loaded / LOAD_GB_PER_S
