"""The memory model: GPU memory one model process needs, and the largest GPU batch that fits.

memory = base weights + control branches loaded + per item of a GPU batch (activations of one
clip's tokens, plus the item's decoded video buffers, which grow with its frames) + a reserve.
Numbers come from the Cosmos Transfer contract document ("reference"); what has no published
figure is marked ASSUMPTION and is corrected in practice by learned out-of-memory limits."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.params import Backend
from cosmos_workflow.planner.cost import T1_CLIP_FRAMES, T25_CHUNK_FRAMES, loaded_branches

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


def predict_memory_gb(
    backend: Backend, controls: Iterable[Control], gpu_batch_size: int, frames: int
) -> float:
    """GPU memory of one process loading `controls`, denoising `gpu_batch_size` items at once,
    each of `frames` input frames (inputs shorter than a clip are padded to a clip)."""
    params = MEMORY_PARAMS[backend]
    clip = T25_CHUNK_FRAMES if backend is Backend.TRANSFER2_5 else T1_CLIP_FRAMES
    per_item = params.item_gb + params.frame_gb * max(frames, clip)
    branches = loaded_branches(backend, controls)
    return RESERVE_GB + params.base_gb + params.branch_gb * branches + per_item * gpu_batch_size


def fits(backend: Backend, controls: Iterable[Control], frames: int, gpu_memory_gb: float) -> bool:
    """Whether one item at a time fits at all."""
    return predict_memory_gb(backend, controls, 1, frames) <= gpu_memory_gb


def max_gpu_batch_size(
    backend: Backend,
    controls: Iterable[Control],
    frames: int,
    gpu_memory_gb: float,
    cap: int | None = None,
    learned_limit: int | None = None,
) -> int:
    """The largest GPU batch predicted to fit, never below 1. A configured cap and a limit
    learned from an out-of-memory failure both win over the prediction. Transfer2.5 processes
    samples one at a time, so its answer is always 1."""
    if backend is Backend.TRANSFER2_5:
        return 1
    chosen = list(controls)
    single = predict_memory_gb(backend, chosen, 1, frames)
    per_item = predict_memory_gb(backend, chosen, 2, frames) - single
    size = 1 + int((gpu_memory_gb - single) // per_item) if gpu_memory_gb >= single else 1
    for limit in (cap, learned_limit):
        if limit is not None:
            size = min(size, limit)
    return max(1, size)
