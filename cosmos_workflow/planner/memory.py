"""The memory model: GPU memory one model process needs, and the largest GPU batch that fits.

memory = base weights + control branches loaded + per item of a GPU batch (activations of one
clip's tokens, plus the item's decoded video buffers, which grow with its frames) + a reserve.
Numbers come from the Cosmos Transfer contract document ("reference"); what has no published
figure is marked ASSUMPTION and is corrected in practice by learned out-of-memory limits.

Cosmos 3 generates one sample at a time, chunk by chunk, moving each finished chunk to the CPU
(transfer.py L562): a process holds its checkpoint, the guardrail models unless they are turned
off, and the activations of ONE sample's chunk, whose sequence is the target plus one block per
hint (transfer.py L423, `[text, ctrl_1 .. ctrl_N, target]`). Memory is per GPU: a slot that
shards Super over several GPUs is not modelled."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.params import (
    C3_DEFAULT_CHECKPOINT,
    Backend,
    ExecutionParams,
    default_params,
)
from cosmos_workflow.domain.work import QueuedRun
from cosmos_workflow.planner.cost import (
    C3_PIXELS,
    T1_CLIP_FRAMES,
    T25_CHUNK_FRAMES,
    loaded_branches,
    shape_of,
)

GB = 1e9
BF16_BYTES = 2
FP32_BYTES = 4
# Live activation tensors of one DiT block during an inference pass, in units of one
# [tokens x hidden] tensor (q, k, v, attention output, 4x MLP hidden, residual, norm).
# ASSUMPTION: the code's exact working set was not measured.
ACTIVATION_TENSORS = 10
# Decoded video held per frame of an item: the input and the output at 1280x704 RGB in fp32.
# ASSUMPTION: buffers of on-the-fly controls are not counted.
FRAME_GB = 2 * 1280 * 704 * 3 * FP32_BYTES / GB
RESERVE_GB = 2.0  # ASSUMPTION: CUDA context and allocator fragmentation


@dataclass(frozen=True, slots=True)
class MemoryParams:
    base_gb: float  # every weight loaded once per process, without control branches
    branch_gb: float  # per loaded control branch
    item_gb: float  # activations of one GPU-batch item (one clip's tokens)
    frame_gb: float  # decoded video buffers per frame of an item


def _transfer1() -> MemoryParams:
    # Weights (reference 1.8): 7B DiT in bf16; T5-11B *encoder* in fp32 (no dtype given, ~5.5B
    # parameters, ASSUMPTION: half of T5-11B); Llama-Guard-3-8B bf16; SigLIP fp32 (~0.4B);
    # Cosmos tokenizer/VAE and RetinaFace (ASSUMPTION: ~1 GB together).
    base = (7e9 * BF16_BYTES + 5.5e9 * FP32_BYTES + 8e9 * BF16_BYTES + 0.4e9 * FP32_BYTES) / GB
    # A branch is 3 of the 28 blocks of the 7B DiT (reference 1.8: num_control_blocks = 3).
    branch = 7e9 * 3 / 28 * BF16_BYTES / GB
    # One item: 56,320 tokens per 121-frame 1280x704 clip (reference 1.7), hidden 4096.
    item = 56_320 * 4096 * BF16_BYTES * ACTIVATION_TENSORS / GB
    return MemoryParams(base_gb=base + 1.0, branch_gb=branch, item_gb=item, frame_gb=FRAME_GB)


T25_PUBLISHED_GB = 65.4  # "Cosmos-Transfer2.5-2B | 65.4 GB" required VRAM (reference 2.7)


def _transfer2_5() -> MemoryParams:
    # A branch is 4 VACE blocks of a 28-layer 2B DiT (reference 2.6; 28 layers ASSUMPTION).
    branch = 2e9 * 4 / 28 * BF16_BYTES / GB
    # One 93-frame chunk: latent 24 x 44 x 80 = 84,480 tokens (Wan VAE 4x temporal, 16x spatial
    # with patching; reference 2.5), hidden 2048 (ASSUMPTION for the 2B DiT).
    item = 84_480 * 2048 * BF16_BYTES * ACTIVATION_TENSORS / GB
    # The published 65.4 GB is one single-control process generating 93 frames: base is the rest.
    base = T25_PUBLISHED_GB - RESERVE_GB - branch - item - FRAME_GB * T25_CHUNK_FRAMES
    return MemoryParams(base_gb=base, branch_gb=branch, item_gb=item, frame_gb=FRAME_GB)


MEMORY_PARAMS: dict[Backend, MemoryParams] = {
    Backend.TRANSFER1: _transfer1(),
    Backend.TRANSFER2_5: _transfer2_5(),
}

# Cosmos 3 weights, bf16, both towers: "Cosmos3-Nano (8B) | 32 GB", "Cosmos3-Super (32B) | 128 GB"
# (NVIDIA/cosmos-framework 5eee9ed, docs/faq.md L151-156; the same bytes in
# inference/args.py L1174-1186, `model_memory_bytes`).
C3_WEIGHTS_GB = {"Cosmos3-Nano": 32.0, "Cosmos3-Super": 128.0}
# Hidden size of the generation tower. ASSUMPTION: the Qwen3 sizes the towers are named after
# (8B: 4096, 32B: 5120); the model configs do not state it.
C3_HIDDEN = {"Cosmos3-Nano": 4096, "Cosmos3-Super": 5120}
# Guardrail models, loaded with `--guardrails` though transfer never runs them
# (common/inference.py L135): Qwen/Qwen3Guard-Gen-0.6B in bf16 (guardrail/qwen3guard/
# qwen3guard.py L30-39) = 1.2 GB, plus RetinaFace ResNet-50 (face_blur_filter.py L55; ASSUMPTION:
# ~27M parameters in fp32, 0.1 GB).
C3_GUARDRAIL_GB = 0.6e9 * BF16_BYTES / GB + 0.1
C3_VAE_GB = 1.0  # ASSUMPTION: the Wan2.2 VAE and the VLM processor, outside model_memory_bytes
# One token per 32x32 pixels of a latent frame: 16x VAE compression (Cosmos3-Nano.yaml L150)
# times patch_spatial 2 (L38).
C3_PIXELS_PER_TOKEN = 32 * 32


def cosmos3_block_gb(params: ExecutionParams, frames: int) -> float:
    """Activations of one target-sized block of a chunk (the target or one hint's control):
    tokens x hidden x 2 bytes x ACTIVATION_TENSORS (the ASSUMPTION Transfer uses too)."""
    shape = shape_of(params, frames)
    pixels = C3_PIXELS.get(shape.resolution, C3_PIXELS["720"])
    tokens = shape.chunk_latent_frames * pixels / C3_PIXELS_PER_TOKEN
    hidden = C3_HIDDEN.get(params.checkpoint or C3_DEFAULT_CHECKPOINT, C3_HIDDEN["Cosmos3-Nano"])
    return tokens * hidden * BF16_BYTES * ACTIVATION_TENSORS / GB


def _cosmos3_memory_gb(
    controls: Iterable[Control], frames: int, params: ExecutionParams | None, guardrails: bool
) -> float:
    run = params or default_params(Backend.COSMOS3)
    checkpoint = run.checkpoint or C3_DEFAULT_CHECKPOINT
    weights = C3_WEIGHTS_GB.get(checkpoint, C3_WEIGHTS_GB[C3_DEFAULT_CHECKPOINT])
    fixed = RESERVE_GB + weights + C3_VAE_GB + (C3_GUARDRAIL_GB if guardrails else 0.0)
    blocks = 1 + len(frozenset(controls))
    return fixed + blocks * cosmos3_block_gb(run, frames)


def predict_memory_gb(
    backend: Backend,
    controls: Iterable[Control],
    gpu_batch_size: int,
    frames: int,
    *,
    params: ExecutionParams | None = None,
    guardrails: bool = True,
) -> float:
    """GPU memory of one process loading `controls`, denoising `gpu_batch_size` items at once,
    each of `frames` input frames (inputs shorter than a clip are padded to a clip).

    Cosmos 3: one sample holding `controls`, with `params`' checkpoint, chunk and resolution
    (None: NVIDIA's defaults); `guardrails` False when the host passes `--no-guardrails`."""
    if backend is Backend.COSMOS3:
        return _cosmos3_memory_gb(controls, frames, params, guardrails)
    model = MEMORY_PARAMS[backend]
    clip = T25_CHUNK_FRAMES if backend is Backend.TRANSFER2_5 else T1_CLIP_FRAMES
    per_item = model.item_gb + model.frame_gb * max(frames, clip)
    branches = loaded_branches(backend, controls)
    return RESERVE_GB + model.base_gb + model.branch_gb * branches + per_item * gpu_batch_size


def fits(backend: Backend, controls: Iterable[Control], frames: int, gpu_memory_gb: float) -> bool:
    """Whether one item at a time fits at all."""
    return predict_memory_gb(backend, controls, 1, frames) <= gpu_memory_gb


def mixing_fits(
    backend: Backend, controls: Iterable[Control], frames: int, gpu_memory_gb: float
) -> bool:
    """Whether runs whose controls make up `controls` may share a process, memory-wise.

    Always for Cosmos 3: its process holds the same weights for every hint and one sample at
    a time, so sharing needs no more memory than the largest run needs alone."""
    if backend is Backend.COSMOS3:
        return True
    return fits(backend, controls, frames, gpu_memory_gb)


def process_memory_gb(
    runs: Sequence[QueuedRun], controls: Iterable[Control], gpu_batch_size: int
) -> float:
    """GPU memory of the process running `runs`, loading `controls`: for Cosmos 3 its largest
    run's alone (one sample at a time), else the union at the GPU batch size."""
    backend = runs[0].backend
    if backend is Backend.COSMOS3:
        return max(
            predict_memory_gb(backend, run.controls, 1, run.video.frames, params=run.params)
            for run in runs
        )
    frames = max(run.video.frames for run in runs)
    return predict_memory_gb(backend, controls, gpu_batch_size, frames)


def max_gpu_batch_size(
    backend: Backend,
    controls: Iterable[Control],
    frames: int,
    gpu_memory_gb: float,
    cap: int | None = None,
    learned_limit: int | None = None,
) -> int:
    """The largest GPU batch predicted to fit, never below 1. A configured cap and a limit
    learned from an out-of-memory failure both win over the prediction. Transfer2.5 and
    Cosmos 3 process samples one at a time, so their answer is always 1."""
    if backend in (Backend.TRANSFER2_5, Backend.COSMOS3):
        return 1
    chosen = list(controls)
    single = predict_memory_gb(backend, chosen, 1, frames)
    per_item = predict_memory_gb(backend, chosen, 2, frames) - single
    size = 1 + int((gpu_memory_gb - single) // per_item) if gpu_memory_gb >= single else 1
    for limit in (cap, learned_limit):
        if limit is not None:
            size = min(size, limit)
    return max(1, size)
