"""The cost model: predicted GPU seconds of one model process running a set of runs.

One process pays a load once (process start, base weights, then its control branches) and then,
per run, a fixed overhead (text encoding, guardrails, VAE, mp4 write) plus its sampling: clips (or
chunks) x forward passes x the cost of one pass. Sampling grows with the number of control
branches evaluated per pass. Transfer1 can denoise several items in one tensor (`--batch_size`),
which costs less than running them one after another.

Cosmos 3 loads one checkpoint for every hint (no control branch to load) and generates each
sample alone, chunk by chunk: a chunk's step costs one DiT forward per guidance term, and each
control is one more target-sized block in the forwards that carry the controls
(`cosmos3_forwards`). Its units are forwards of one target-sized block of a 93-frame chunk.

Defaults per GPU profile are in `cost_defaults`, each number with its derivation; measured timings
refit them (`calibration.fit_cost_params`)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from typing import Any

from cosmos_workflow.domain.controls import Control, ControlSet
from cosmos_workflow.domain.params import (
    C3_DEFAULT_CHUNK_FRAMES,
    C3_DEFAULT_CONDITIONAL_FRAMES,
    C3_DEFAULT_MAX_FRAMES,
    C3_DEFAULT_RESOLUTION,
    C3_MULTI_HINT_DEFAULTS,
    Backend,
    ExecutionParams,
    rounded_chunk,
)
from cosmos_workflow.domain.work import QueuedRun

T1_CLIP_FRAMES = 121  # frames per Transfer1 clip; 120 new frames per extra clip (reference 1.7)
T25_CHUNK_FRAMES = 93  # frames per Transfer2.5 chunk (reference 2.5)
T25_CONDITIONAL_FRAMES = 1  # default num_conditional_frames: chunk overlap (reference 2.3)
T25_DISTILLED_STEPS = 4  # the distilled Transfer2.5 model samples 4 steps, no CFG (reference 2.3)
T25_ALL_CONTROLS = 4  # a multicontrol Transfer2.5 process loads all 4 branches (reference 2.4)

# Cosmos 3 (NVIDIA/cosmos-framework 5eee9ed). The Wan2.2 VAE compresses time 4x
# (configs/model/Cosmos3-Nano.yaml L151), so a chunk of c frames is (c - 1) / 4 + 1 latent frames
# and NVIDIA's default 93-frame chunk is 24: the unit of Cosmos 3's `pass_seconds`.
C3_TEMPORAL_COMPRESSION = 4
C3_UNIT_LATENT_FRAMES = (C3_DEFAULT_CHUNK_FRAMES - 1) // C3_TEMPORAL_COMPRESSION + 1  # 24
C3_LARGE_CHECKPOINT = "Cosmos3-Super"
# Weights (args.py L1174-1186; docs/faq.md L151-156): Nano 32 GB, Super 128 GB. Super's load is
# counted as Nano's plus 3 more Nano-sized reads: `branch_load_seconds` is the time of one.
C3_SUPER_EXTRA_LOADS = 3
# Cost of one forward at each resolution tier relative to 720p, for the same latent frames.
# 480: published, Cosmos3-Nano text-to-video 720p vs 480p on one H100, 59.83 s / 207.78 s
# (NVIDIA/cosmos inference_benchmarks.md @aca7057 L35-68; H200 and B200 give 0.281 and 0.289).
# 768 (1360x768) and 256 (320x192), ASSUMPTION, no figure: above 480 the cost follows the power
# law of pixels that joins 480p (832x480) and 720p (1280x720) (exponent
# ln(207.78 / 59.83) / ln(921600 / 399360) = 1.489: attention grows faster than the pixels);
# below 480 it falls in proportion to the pixels, no faster (attention's share shrinks).
C3_480_OVER_720 = 59.83 / 207.78
C3_PIXELS = {"256": 320 * 192, "480": 832 * 480, "720": 1280 * 720, "768": 1360 * 768}
C3_PIXEL_EXPONENT = math.log(1 / C3_480_OVER_720) / math.log(C3_PIXELS["720"] / C3_PIXELS["480"])
C3_RESOLUTION_COST: dict[str, float] = {
    "256": C3_480_OVER_720 * C3_PIXELS["256"] / C3_PIXELS["480"],
    "480": C3_480_OVER_720,
    "720": 1.0,
    "768": math.pow(C3_PIXELS["768"] / C3_PIXELS["720"], C3_PIXEL_EXPONENT),
}


@dataclass(frozen=True, slots=True)
class CostParams:
    """Cost parameters of one backend on one GPU profile (seconds unless said otherwise)."""

    process_start_seconds: float  # process start + base weights (DiT, text encoder, VAE, guards)
    branch_load_seconds: float  # per control branch (T1) or control checkpoint (T2.5) loaded
    run_overhead_seconds: float  # per run: text encoding, guardrails, VAE, mp4 write
    pass_seconds: float  # one DiT forward pass over one clip, base model, one branch evaluated
    branch_fraction: float  # extra pass cost per evaluated control branch (the first included)
    gpu_batch_marginal: float  # share of one item's sampling each extra GPU-batch item adds
    distilled_factor: float  # cost of a distilled pass relative to a base pass
    # Cosmos 3: cost of a Cosmos3-Super forward relative to a Cosmos3-Nano one (1 elsewhere).
    super_factor: float = 1.0

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CostParams:
        """Stored parameters; a field added after they were stored takes its default."""
        return cls(**{f.name: float(data[f.name]) for f in fields(cls) if f.name in data})


@dataclass(frozen=True, slots=True)
class JobEstimate:
    """Predicted GPU time of one model process."""

    load_seconds: float
    compute_seconds: float

    @property
    def total_seconds(self) -> float:
        return self.load_seconds + self.compute_seconds


def clip_count(backend: Backend, frames: int) -> int:
    """Clips (Transfer1) or chunks (Transfer2.5) an input of `frames` frames is generated in."""
    if backend is Backend.TRANSFER2_5:
        if frames <= T25_CHUNK_FRAMES:
            return 1
        stride = T25_CHUNK_FRAMES - T25_CONDITIONAL_FRAMES
        return 1 + math.ceil((frames - T25_CHUNK_FRAMES) / stride)
    return max(1, math.ceil((frames - 1) / (T1_CLIP_FRAMES - 1)))


def passes_per_clip(backend: Backend, steps: int, distilled: bool) -> int:
    """DiT forward passes per clip: steps x 2 with classifier-free guidance.

    Transfer1 distilled is one step without CFG; Transfer2.5 distilled is 4 steps without CFG."""
    if not distilled:
        return steps * 2
    return T25_DISTILLED_STEPS if backend is Backend.TRANSFER2_5 else 1


def loaded_branches(
    backend: Backend, controls: Iterable[Control], checkpoint: str | None = None
) -> int:
    """Control branches a process loads: Transfer1 one per control; Transfer2.5 one
    single-control checkpoint, or all four for multicontrol. Cosmos 3 loads none (one
    checkpoint serves every hint); what it counts is the extra Nano-sized weight reads of its
    checkpoint (Super: 3)."""
    if backend is Backend.COSMOS3:
        return C3_SUPER_EXTRA_LOADS if checkpoint == C3_LARGE_CHECKPOINT else 0
    count = len(frozenset(controls))
    if backend is Backend.TRANSFER2_5:
        return 1 if count <= 1 else T25_ALL_CONTROLS
    return count


def evaluated_branches(
    backend: Backend, process_controls: ControlSet, run_controls: ControlSet
) -> int:
    """Branches evaluated per pass for one run. Transfer1 runs every loaded branch (a weight of
    0 only scales its output); Transfer2.5 skips branches whose control input is all zeros, and
    a Cosmos 3 sample's sequence holds its own hints only (transfer.py L486-489), so a run
    there pays for its own controls only."""
    if backend in (Backend.TRANSFER2_5, Backend.COSMOS3):
        return max(1, len(run_controls))
    return max(1, len(process_controls))


def load_seconds(
    params: CostParams,
    backend: Backend,
    controls: Iterable[Control],
    checkpoint: str | None = None,
) -> float:
    return params.process_start_seconds + params.branch_load_seconds * loaded_branches(
        backend, controls, checkpoint
    )


# --- Cosmos 3 --------------------------------------------------------------------------------


def cosmos3_forwards(guidance: float, control_guidance: float) -> tuple[int, int]:
    """DiT forwards per denoising step of a Cosmos 3 transfer chunk, and how many of them carry
    the control blocks (NVIDIA/cosmos-framework 5eee9ed, model/generator/omni_mot_model.py):

    - control_guidance != 1: the conditional forward, the control-free forward of control-CFG
      (target only, inference/transfer.py L348-358) and the negative-prompt forward, which runs
      even at guidance 1 (L3364-3370): 3 forwards, the controls in 2;
    - else guidance != 1: conditional and negative prompt, both with the controls (L3343-3354);
    - both 1: the single conditional forward (L3338-3339)."""
    if control_guidance != 1.0:
        return 3, 2
    if guidance != 1.0:
        return 2, 2
    return 1, 1


def cosmos3_chunks(
    frames: int, chunk_frames: int, conditional_frames: int, max_frames: int
) -> tuple[int, int]:
    """(chunks, frames per chunk) of a Cosmos 3 transfer sample (transfer.py L43-54, L440-444):
    the control's frames (at most max_frames), in chunks rounded up to 4k+1 frames that overlap
    by `conditional_frames`; a single frame is one 1-frame chunk."""
    total = max(1, min(frames, max_frames))
    chunk = 1 if total == 1 else rounded_chunk(chunk_frames)
    if total <= chunk:
        return 1, chunk
    stride = max(1, chunk - conditional_frames)
    return 1 + math.ceil((total - chunk) / stride), chunk


@dataclass(frozen=True, slots=True)
class SamplingShape:
    """What one run's sampling cost depends on, besides its controls, with its units worked
    out once (`shape_of` caches it): `units`, base-model passes (Cosmos 3: forwards of the
    target block, in units of a 93-frame 720p chunk), and `control_units`, the passes that
    evaluate each control (Transfer1 and Transfer2.5: every pass; Cosmos 3: the forwards that
    carry the controls, one block per hint). Both before the branch and variant factors."""

    backend: Backend
    frames: int
    steps: int
    distilled: bool
    large: bool  # Cosmos3-Super
    units: float
    control_units: float
    chunk_latent_frames: int = 0  # Cosmos 3
    resolution: str = C3_DEFAULT_RESOLUTION  # Cosmos 3


def shape_of(params: ExecutionParams, frames: int) -> SamplingShape:
    if params.backend is Backend.COSMOS3:
        return _cosmos3_shape(params, frames)
    return _transfer_shape(params.backend, frames, params.steps, params.distilled)


@lru_cache(maxsize=8192)
def _transfer_shape(backend: Backend, frames: int, steps: int, distilled: bool) -> SamplingShape:
    units = float(clip_count(backend, frames) * passes_per_clip(backend, steps, distilled))
    return SamplingShape(backend, frames, steps, distilled, False, units, units)


@lru_cache(maxsize=8192)
def _cosmos3_shape(params: ExecutionParams, frames: int) -> SamplingShape:
    # Stored Cosmos 3 parameters always hold control_guidance; NVIDIA's generic value otherwise.
    control = (
        C3_MULTI_HINT_DEFAULTS[1] if params.control_guidance is None else params.control_guidance
    )
    forwards, carrying = cosmos3_forwards(float(params.guidance), control)
    chunks, chunk = cosmos3_chunks(
        frames,
        params.chunk_frames or C3_DEFAULT_CHUNK_FRAMES,
        C3_DEFAULT_CONDITIONAL_FRAMES
        if params.conditional_frames is None
        else params.conditional_frames,
        params.max_frames or C3_DEFAULT_MAX_FRAMES,
    )
    latent = (chunk - 1) // C3_TEMPORAL_COMPRESSION + 1
    resolution = params.resolution or C3_DEFAULT_RESOLUTION
    # Forwards of one target-sized block of a 93-frame 720p chunk, per forward per step.
    block = (
        chunks
        * params.steps
        * latent
        / C3_UNIT_LATENT_FRAMES
        * C3_RESOLUTION_COST.get(resolution, 1.0)
    )
    return SamplingShape(
        backend=params.backend,
        frames=frames,
        steps=params.steps,
        distilled=False,
        large=params.checkpoint == C3_LARGE_CHECKPOINT,
        units=block * forwards,
        control_units=block * carrying,
        chunk_latent_frames=latent,
        resolution=resolution,
    )


# --- any backend -----------------------------------------------------------------------------


def sampling_units(shape: SamplingShape) -> float:
    """Base-model passes of one run, before the branch and variant factors."""
    return shape.units


def control_units(shape: SamplingShape) -> float:
    """Passes of one run that evaluate each control branch (see `SamplingShape`)."""
    return shape.control_units


def variant_factor(params: CostParams, shape: SamplingShape) -> float:
    """Cost of the run's model variant relative to the base one: distilled, or Cosmos3-Super."""
    if shape.distilled:
        return params.distilled_factor
    return params.super_factor if shape.large else 1.0


def shape_seconds(params: CostParams, shape: SamplingShape, branches: int) -> float:
    """Sampling seconds of one run of this shape evaluating `branches` control branches."""
    units = sampling_units(shape) + params.branch_fraction * control_units(shape) * branches
    return params.pass_seconds * variant_factor(params, shape) * units


def run_sampling_seconds(
    params: CostParams, backend: Backend, run: QueuedRun, process_controls: ControlSet
) -> float:
    """Sampling seconds of one run on its own (GPU batch of one)."""
    branches = evaluated_branches(backend, process_controls, run.controls)
    return shape_seconds(params, shape_of(run.params, run.video.frames), branches)


def gpu_batch_seconds(params: CostParams, item_seconds: Sequence[float]) -> float:
    """Sampling seconds of items denoised together in one tensor: the longest item, plus a
    marginal share of it per extra item."""
    if not item_seconds:
        return 0.0
    return max(item_seconds) * (1.0 + params.gpu_batch_marginal * (len(item_seconds) - 1))


class CostModel:
    """Cost parameters per (backend, GPU profile); an unknown profile falls back to
    `fallback_profile` of the same backend."""

    def __init__(
        self,
        params: Mapping[tuple[Backend, str], CostParams],
        fallback_profile: str = "h100-80gb",
    ) -> None:
        self._params = dict(params)
        self.fallback_profile = fallback_profile
        # Queues repeat the same few run shapes: one prediction per distinct shape is enough.
        self._predictions: dict[tuple[Any, ...], JobEstimate] = {}

    def params_for(self, backend: Backend, gpu_profile: str) -> CostParams:
        found = self._params.get((backend, gpu_profile))
        if found is not None:
            return found
        fallback = self._params.get((backend, self.fallback_profile))
        if fallback is None:
            raise KeyError(f"no cost parameters for {backend.value} on {gpu_profile}")
        return fallback

    def with_params(self, backend: Backend, gpu_profile: str, params: CostParams) -> CostModel:
        """A copy with one (backend, profile) replaced, e.g. by calibrated parameters."""
        merged = dict(self._params)
        merged[(backend, gpu_profile)] = params
        return CostModel(merged, self.fallback_profile)

    @property
    def entries(self) -> Mapping[tuple[Backend, str], CostParams]:
        return dict(self._params)

    def predict(
        self,
        backend: Backend,
        gpu_profile: str,
        runs: Sequence[QueuedRun],
        gpu_batch_size: int = 1,
        controls: ControlSet | None = None,
    ) -> JobEstimate:
        """GPU seconds of ONE process running `runs` in this order, `gpu_batch_size` items per
        sampling call. The process loads `controls` (default: the union of the runs')."""
        loaded: ControlSet = (
            controls if controls is not None else frozenset().union(*(r.controls for r in runs))
        )
        size = max(1, gpu_batch_size)
        key = (backend, gpu_profile, size, loaded, tuple(_shape(run) for run in runs))
        cached = self._predictions.get(key)
        if cached is None:
            cached = self._predictions[key] = self._predict(
                backend, gpu_profile, runs, size, loaded
            )
        return cached

    def _predict(
        self,
        backend: Backend,
        gpu_profile: str,
        runs: Sequence[QueuedRun],
        size: int,
        loaded: ControlSet,
    ) -> JobEstimate:
        params = self.params_for(backend, gpu_profile)
        sampling = 0.0
        for start in range(0, len(runs), size):
            chunk = runs[start : start + size]
            items = [run_sampling_seconds(params, backend, run, loaded) for run in chunk]
            sampling += gpu_batch_seconds(params, items)
        compute = sampling + params.run_overhead_seconds * len(runs)
        checkpoint = runs[0].params.checkpoint if runs else None
        return JobEstimate(load_seconds(params, backend, loaded, checkpoint), compute)


def _shape(run: QueuedRun) -> tuple[Any, ...]:
    """What a run's predicted seconds depend on."""
    return (shape_of(run.params, run.video.frames), run.controls)
