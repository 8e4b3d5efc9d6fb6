"""Which queued runs may share one model process, per backend (reference 1.4, 1.5, 2.4).

Transfer1: the spec and command line hold one negative prompt, seed, steps, guidance,
sigma_max, fps, blur and canny preset and distilled flag for the whole process, so those must be
equal within a batch. Items denoised in one tensor (`--batch_size` > 1) must also share the frame
count, the aspect bucket and the control set. A run in a process with more controls than it asked
for gets weight 0 for the others.

Transfer2.5: sampling parameters are per sample. The model is decided by the union of control
keys in the process: one key -> that single-control model; more -> the multicontrol model for
every sample. `distilled` must match.

Cosmos 3 (NVIDIA/cosmos-framework 5eee9ed): the checkpoint (`--checkpoint-path`), the sampler
(`--sampler`) and the diffusion cache (`--diffusion-cache`) are arguments of the process; every
other field is the sample's own (OmniSampleOverrides, inference/args.py). The model is loaded
once for all samples (scripts/inference.py L25) and every transfer sample, whatever its hints,
runs on that one model (`generate_transfer_sample(sample_args=..., model=self.model)`,
inference.py L1849), so any control mix, resolution, length, step count, guidance, seed or
negative prompt shares a process without a reload. The parallelism layout and the guardrails
flag are the host's, equal within a slot. Transfer is never tensor-batched
(`assert len(sample_args_list) == 1`, inference.py L1528-1529).

Runs of different backends or priorities never share a process. Whether a batch that may form
keeps every run's output is a separate question, answered by `domain.verdicts.batch_verdict`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from cosmos_workflow.domain.controls import Control, ControlSet
from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.domain.params import Backend
from cosmos_workflow.domain.work import QueuedRun

# Transfer1 resolution buckets (reference 1.7): name, width, height.
ASPECT_BUCKETS: tuple[tuple[str, int, int], ...] = (
    ("1:1", 960, 960),
    ("4:3", 960, 704),
    ("3:4", 704, 960),
    ("16:9", 1280, 704),
    ("9:16", 704, 1280),
)


@lru_cache(maxsize=1024)
def aspect_bucket(width: int, height: int) -> str:
    """The Transfer1 bucket nearest to the input's aspect ratio."""
    if width <= 0 or height <= 0:
        return ASPECT_BUCKETS[0][0]
    ratio = width / height
    return min(ASPECT_BUCKETS, key=lambda bucket: abs(bucket[1] / bucket[2] - ratio))[0]


def process_key(run: QueuedRun) -> tuple[Any, ...]:
    """Runs with equal keys may share one process (control sets aside)."""
    params = run.params
    if run.backend is Backend.TRANSFER2_5:
        return (run.backend.value, run.priority, params.distilled)
    if run.backend is Backend.COSMOS3:
        return (
            run.backend.value,
            run.priority,
            params.checkpoint,
            params.sampler,
            params.diffusion_cache,
        )
    return (
        run.backend.value,
        run.priority,
        params.distilled,
        run.negative_prompt,
        params.seed,
        params.steps,
        float(params.guidance),
        params.sigma_max,
        params.fps,
        params.blur.value,
        params.canny.value,
    )


def gpu_batch_key(run: QueuedRun) -> tuple[int, str, ControlSet]:
    """Transfer1 items in one tensor must share this: frames, aspect bucket, control set."""
    return (run.video.frames, aspect_bucket(run.video.width, run.video.height), run.controls)


def control_union(runs: Iterable[QueuedRun]) -> ControlSet:
    union: set[Control] = set()
    for run in runs:
        union |= run.controls
    return frozenset(union)


def can_share(runs: Sequence[QueuedRun]) -> bool:
    """Whether these runs may form one process (their outputs aside)."""
    if not runs:
        return True
    first = process_key(runs[0])
    return all(process_key(run) == first for run in runs[1:])


def require_one_process(prompt_runs: Sequence[QueuedRun]) -> None:
    """Refuse a new job whose runs could not share its one model process: Transfer1 takes one
    negative prompt per process, so a job of prompts with different negative prompts would be
    accepted and then fail. Each run is named by its `run_id`: at enqueue, its prompt's id."""
    groups: dict[tuple[Any, ...], list[str]] = {}
    for run in prompt_runs:
        groups.setdefault(process_key(run), []).append(run.run_id)
    if len(groups) < 2:
        return
    shown = "; ".join(", ".join(ids) for ids in groups.values())
    raise InvalidInput(
        f"these prompts have different negative prompts, and {prompt_runs[0].backend.value} "
        f"runs one negative prompt per job: queue one job per group instead: {shown}",
        field="prompt_ids",
    )


def valid_gpu_batch(runs: Sequence[QueuedRun]) -> bool:
    """Whether these runs may be denoised together (Transfer1 `--batch_size` > 1). Never for
    Transfer2.5 or Cosmos 3: both generate one sample at a time."""
    if not runs or runs[0].backend is not Backend.TRANSFER1:
        return False
    first = gpu_batch_key(runs[0])
    return all(gpu_batch_key(run) == first for run in runs[1:])
