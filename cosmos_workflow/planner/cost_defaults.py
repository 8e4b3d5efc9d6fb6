"""Default cost parameters per backend and GPU profile, derived from NVIDIA's published figures.

"Reference" below is the Cosmos Transfer contract document (sections 1.7-1.9, 1.13, 2.4-2.7 and
Part 3). Every number is either computed here from a published figure, or marked ASSUMPTION:
there is no published figure and the value must be replaced by calibration on measured timings
(`cosmos calibrate`). docs/cost-model.md explains the same derivations in prose.

Published anchors:
- Transfer2.5 segmentation, single GPU, guardrails off, 720p (reference 2.7): "93-frame
  generation time" 92.25 s on B200; E2E for 121 frames (two chunks) 186.92 s on B200.
- Transfer2.5 edge, "Avg. Diffusion Time", 1 GPU (reference 2.7): base B200 179.7 s, H200 NVL
  374.4 s, H100 NVL 502.6 s; distilled speed-up over base 7.4x, 7.5x, 7.8x respectively.
- Transfer1-7B, paper Table 5 (reference 1.9), 1 B200, 5 s video (one 121-frame clip):
  diffusion 141.0 s, end-to-end 141.7 s (NVIDIA's own optimised implementation, not the repo's).
- Cosmos 3 (the Cosmos 3 contract document, section 4): NVIDIA publishes no transfer timing and
  no load time. The anchor is text-to-video generation time, BF16, batch 1, 189 frames at 720p
  (NVIDIA/cosmos inference_benchmarks.md @aca7057 L35-68 Nano, L142-169 Super, "average
  generation (sampling) time"): Cosmos3-Nano on one GPU H100 80GB 207.78 s, H200 214.28 s,
  B200 114.85 s; Cosmos3-Super B200 one GPU 407.50 s, H200 four GPUs 224.43 s (Nano on four
  H200: 67.48 s).
"""

from __future__ import annotations

from cosmos_workflow.domain.params import Backend
from cosmos_workflow.planner.cost import C3_UNIT_LATENT_FRAMES, CostModel, CostParams

DEFAULT_STEPS = 35  # default num_steps of both entry points (reference 1.2, 2.3)
CFG_PASSES = 2  # one conditional + one negative-prompt pass per step (reference 1.5, 2.6)

# Relative GPU speed, taken from ONE coherent published table: Transfer2.5 edge base diffusion
# time on one GPU (reference 2.7), normalised to B200; h100-80gb uses the H100 NVL column.
# ASSUMPTION for Transfer1: the same ratios hold for its 7B DiT.
EDGE_BASE_DIFFUSION_SECONDS = {"b200-192gb": 179.7, "h200-141gb": 374.4, "h100-80gb": 502.6}
# ASSUMPTION: no Transfer figure exists for A100. 2.5x the H100 time, from the ratio of dense
# BF16 tensor throughput of the two parts (about 3x) discounted for memory-bound phases.
A100_OVER_H100 = 2.5
EDGE_DISTILLED_SPEEDUP = {"b200-192gb": 7.4, "h200-141gb": 7.5, "h100-80gb": 7.8}  # reference 2.7
# ASSUMPTION: A100 distilled speed-up as published for H100 NVL.
A100_DISTILLED_SPEEDUP = 7.8

# Branch compute, derived from the architectures: Transfer1 evaluates 3 control blocks per
# branch next to the 28 base blocks (reference 1.8: num_control_blocks = 3, 28 blocks);
# Transfer2.5 has a VACE control block every 7th layer, "spaced_layer4" = 4 blocks per branch
# (reference 2.6; a 28-layer base is an ASSUMPTION for Cosmos-Predict2.5-2B).
T1_BRANCH_FRACTION = 3 / 28
T25_BRANCH_FRACTION = 4 / 28

# Transfer2.5: a 93-frame chunk with one (seg) branch = 35 steps x 2 CFG passes (reference 2.7).
T25_CHUNK_SECONDS_B200 = 92.25
T25_E2E_121_FRAMES_B200 = 186.92
# Per-run overhead = E2E of two chunks minus two chunk generations, guardrails disabled.
T25_RUN_OVERHEAD_B200 = T25_E2E_121_FRAMES_B200 - 2 * T25_CHUNK_SECONDS_B200  # 2.42 s

# Transfer1: paper Table 5, one 121-frame clip on one B200. ASSUMPTION: 35 steps with CFG and
# one control branch (the paper states neither).
T1_DIFFUSION_SECONDS_B200 = 141.0
T1_E2E_SECONDS_B200 = 141.7
T1_RUN_OVERHEAD_B200 = T1_E2E_SECONDS_B200 - T1_DIFFUSION_SECONDS_B200  # 0.7 s

# ASSUMPTION: no published batch speed-up exists for Transfer1 --batch_size > 1 (reference 1.5).
# A 56,320-token DiT pass is compute-bound, so an extra item is assumed to cost 90 % of one.
GPU_BATCH_MARGINAL = 0.9

# Load times: ASSUMPTION throughout, no official figure exists (reference Part 3.1). Estimated
# as bytes read at an effective 1 GB/s (disk + deserialise + copy to GPU) plus 30 s of imports
# and model construction, and taken equal on every GPU profile (load is I/O bound).
#   Transfer1 base: 7B DiT bf16 14 GB + T5-11B encoder fp32 ~22 GB + Llama-Guard-3-8B bf16
#   16 GB + SigLIP, VAE ~3 GB = 55 GB -> 55 s + 30 s.
#   Transfer1 branch: a full model is rebuilt from config and a control checkpoint read for
#   EVERY control (reference 1.8): ~20 s each.
#   Transfer2.5 base: Reason1.1-7B bf16 ~15 GB + Qwen3Guard ~8 GB + Wan VAE ~1 GB -> 24 s + 30 s.
#   Transfer2.5 checkpoint: 2B base + branch bf16, ~5 GB each; 1 or 4 are read (reference 2.6).
T1_PROCESS_START_SECONDS = 85.0
T1_BRANCH_LOAD_SECONDS = 20.0
T25_PROCESS_START_SECONDS = 54.0
T25_BRANCH_LOAD_SECONDS = 5.0

# Cosmos 3. The text-to-video anchor runs NVIDIA's defaults (cosmos-framework 5eee9ed,
# inference/defaults/text2video/sample_args.json L2-3, L18): 35 steps at guidance 6, i.e. two
# forwards per step (conditional and negative prompt, omni_mot_model.py L3343-3354), over one
# sequence of (189 - 1) / 4 + 1 = 48 latent frames. Cost taken linear in latent frames (the
# contract document's planning estimate; attention makes long sequences dearer, which
# calibration absorbs), so one forward of one target-sized block of a 93-frame (24 latent frame)
# chunk at 720p costs t2v seconds x 24 / (35 x 2 x 48).
C3_T2V_STEPS = 35
C3_T2V_FORWARDS = 2
C3_T2V_LATENT_FRAMES = (189 - 1) // 4 + 1  # 48
C3_NANO_T2V_720P_SECONDS = {"h100-80gb": 207.78, "h200-141gb": 214.28, "b200-192gb": 114.85}
# Super over Nano at equal GPU count: B200 on one GPU 407.50 / 114.85 = 3.548; H200 on four
# GPUs 224.43 / 67.48 = 3.326. ASSUMPTION: H100 (no Super figure) as H200, the same Hopper
# compute; A100 as H100. Predictions are for the Nano anchor's single GPU: on a slot of several
# GPUs both checkpoints speed up alike, which calibration on that slot absorbs.
C3_SUPER_OVER_NANO = {"b200-192gb": 407.50 / 114.85, "h200-141gb": 224.43 / 67.48}
# One control block costs one target block: the same tokens (a control video has the target's
# size and frames, transfer.py L486-491). Linear estimate, refitted by calibration.
C3_BRANCH_FRACTION = 1.0
# ASSUMPTION (no figure): 30 s of imports and model construction, the weights at 1 GB/s (Nano
# 32 GB, plus ~2 GB of VAE and guardrail models) and 60 s for torch.compile of the language
# region on the first sample (compile enabled, configs/model/Cosmos3-Nano.yaml L24-31).
C3_PROCESS_START_SECONDS = 30.0 + 34.0 + 60.0
# ASSUMPTION: each of Super's 3 extra Nano-sized weight reads (96 GB more) at 1 GB/s.
C3_EXTRA_LOAD_SECONDS = 32.0
# ASSUMPTION (no figure): per sample, reading and resizing the control videos, computing edge or
# blur on the CPU, encoding the prompt and writing vision.mp4 and one control_<hint>.mp4 per hint;
# mostly CPU and disk, so equal on every profile.
C3_RUN_OVERHEAD_SECONDS = 10.0

PROFILES = ("h100-80gb", "h200-141gb", "b200-192gb", "a100-80gb")
FALLBACK_PROFILE = "h100-80gb"


def speed_ratio(profile: str) -> float:
    """Time on `profile` relative to B200 (B200 = 1.0)."""
    b200 = EDGE_BASE_DIFFUSION_SECONDS["b200-192gb"]
    if profile == "a100-80gb":
        return EDGE_BASE_DIFFUSION_SECONDS["h100-80gb"] * A100_OVER_H100 / b200
    return EDGE_BASE_DIFFUSION_SECONDS[profile] / b200


def distilled_factor(profile: str) -> float:
    """Cost of a distilled pass relative to a base pass: base 35x2 passes, distilled 4 passes,
    published speed-up S, so factor = (70 / 4) / S (Transfer2.5 edge, reference 2.7).
    ASSUMPTION for Transfer1 distilled (one pass): the same factor."""
    speedup = A100_DISTILLED_SPEEDUP if profile == "a100-80gb" else EDGE_DISTILLED_SPEEDUP[profile]
    return (DEFAULT_STEPS * CFG_PASSES / 4) / speedup


def transfer1_params(profile: str) -> CostParams:
    ratio = speed_ratio(profile)
    passes = DEFAULT_STEPS * CFG_PASSES
    pass_b200 = T1_DIFFUSION_SECONDS_B200 / (passes * (1 + T1_BRANCH_FRACTION))
    return CostParams(
        process_start_seconds=T1_PROCESS_START_SECONDS,
        branch_load_seconds=T1_BRANCH_LOAD_SECONDS,
        run_overhead_seconds=T1_RUN_OVERHEAD_B200 * ratio,
        pass_seconds=pass_b200 * ratio,
        branch_fraction=T1_BRANCH_FRACTION,
        gpu_batch_marginal=GPU_BATCH_MARGINAL,
        distilled_factor=distilled_factor(profile),
    )


def transfer2_5_params(profile: str) -> CostParams:
    ratio = speed_ratio(profile)
    passes = DEFAULT_STEPS * CFG_PASSES
    pass_b200 = T25_CHUNK_SECONDS_B200 / (passes * (1 + T25_BRANCH_FRACTION))
    return CostParams(
        process_start_seconds=T25_PROCESS_START_SECONDS,
        branch_load_seconds=T25_BRANCH_LOAD_SECONDS,
        run_overhead_seconds=T25_RUN_OVERHEAD_B200 * ratio,
        pass_seconds=pass_b200 * ratio,
        branch_fraction=T25_BRANCH_FRACTION,
        gpu_batch_marginal=1.0,  # Transfer2.5 never batches items in one tensor (reference 2.4)
        distilled_factor=distilled_factor(profile),
    )


def cosmos3_params(profile: str) -> CostParams:
    """Cosmos 3 transfer: see the constants above. No term for the guardrails flag: transfer
    never runs them (inference.py `_generate_transfer_batch`), so they cost no sampling time."""
    if profile == "a100-80gb":
        t2v = C3_NANO_T2V_720P_SECONDS["h100-80gb"] * A100_OVER_H100
    else:
        t2v = C3_NANO_T2V_720P_SECONDS[profile]
    per_latent_frame = t2v / (C3_T2V_STEPS * C3_T2V_FORWARDS * C3_T2V_LATENT_FRAMES)
    large = C3_SUPER_OVER_NANO.get(profile, C3_SUPER_OVER_NANO["h200-141gb"])
    return CostParams(
        process_start_seconds=C3_PROCESS_START_SECONDS,
        branch_load_seconds=C3_EXTRA_LOAD_SECONDS,
        run_overhead_seconds=C3_RUN_OVERHEAD_SECONDS,
        pass_seconds=per_latent_frame * C3_UNIT_LATENT_FRAMES,
        branch_fraction=C3_BRANCH_FRACTION,
        gpu_batch_marginal=1.0,  # transfer is never batched (inference.py L1528-1529)
        distilled_factor=1.0,  # no distilled transfer checkpoint (domain.params refuses it)
        super_factor=large,
    )


def default_params() -> dict[tuple[Backend, str], CostParams]:
    params: dict[tuple[Backend, str], CostParams] = {}
    for profile in PROFILES:
        params[(Backend.TRANSFER1, profile)] = transfer1_params(profile)
        params[(Backend.TRANSFER2_5, profile)] = transfer2_5_params(profile)
        params[(Backend.COSMOS3, profile)] = cosmos3_params(profile)
    return params


def default_cost_model() -> CostModel:
    """The published-figure model; unknown GPU profiles fall back to h100-80gb."""
    return CostModel(default_params(), fallback_profile=FALLBACK_PROFILE)
