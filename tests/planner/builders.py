"""Queued runs for planner tests: a plain builder and hypothesis strategies for whole queues."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations
from typing import Any

from hypothesis import strategies as st

from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.params import (
    C3_CHECKPOINTS,
    Backend,
    ExecutionParams,
    JobKind,
    default_params,
    validate_params,
)
from cosmos_workflow.domain.verdicts import BatchingKind, VerdictKey
from cosmos_workflow.domain.work import QueuedRun, VideoInfo

SIZES = [(1280, 704), (960, 960), (704, 1280), (1920, 1080)]
PROFILE = "h100-80gb"  # the GPU profile planner tests plan for
CONTROL_SETS = [
    frozenset(chosen) for size in range(1, 5) for chosen in combinations(list(Control), size)
]


def queued_run(
    run_id: str,
    job_id: str,
    *,
    weights: Mapping[Control, float] | None = None,
    priority: int = 0,
    queue_index: int = 0,
    backend: Backend = Backend.TRANSFER1,
    frames: int = 121,
    size: tuple[int, int] = (1280, 704),
    seed: int | None = None,
    steps: int = 35,
    distilled: bool = False,
    negative: str = "blurry, cartoonish",
    kind: JobKind = JobKind.INFERENCE,
    job_gpu_batch_size: int = 1,
    cosmos3: Mapping[str, Any] | None = None,
) -> QueuedRun:
    """`cosmos3`: Cosmos 3 parameters given as a user would (checkpoint, sampler, ...); every
    Cosmos 3 run's parameters are validated as at enqueue, with NVIDIA's per-hint defaults."""
    chosen = dict(weights or {Control.EDGE: 0.5})
    if backend is Backend.COSMOS3:
        raw = {"backend": backend.value, "steps": steps, **(cosmos3 or {})}
        if seed is not None:
            raw["seed"] = seed
        params = validate_params(raw, [control.value for control in chosen])
    else:
        base = default_params(backend)
        params = ExecutionParams(
            backend=backend,
            steps=steps,
            guidance=base.guidance,
            seed=base.seed if seed is None else seed,
            sigma_max=base.sigma_max,
            distilled=distilled,
        )
    return QueuedRun(
        run_id=run_id,
        job_id=job_id,
        priority=priority,
        queue_index=queue_index,
        weights=chosen,
        params=params,
        negative_prompt=negative,
        video=VideoInfo(frames=frames, fps=24.0, width=size[0], height=size[1]),
        kind=kind,
        job_gpu_batch_size=job_gpu_batch_size,
    )


weights_strategy = st.dictionaries(
    st.sampled_from(list(Control)),
    st.sampled_from([0.2, 0.25, 0.5, 0.8, 1.0]),
    min_size=1,
    max_size=4,
)


@st.composite
def queues(
    draw: st.DrawFn, max_jobs: int = 14, backends: tuple[Backend, ...] = tuple(Backend)
) -> list[QueuedRun]:
    """A queue of jobs of 1-4 runs: backend, priority and process-global parameters per job,
    control weights and videos per run (as the product queues them)."""
    runs: list[QueuedRun] = []
    for job in range(draw(st.integers(1, max_jobs))):
        backend = draw(st.sampled_from(backends))
        priority = draw(st.sampled_from([0, 0, 1]))
        seed = draw(st.sampled_from([1, 2]))
        steps = draw(st.sampled_from([35, 35, 20]))
        frames = draw(st.sampled_from([121, 121, 241, 93]))
        gpu = draw(st.sampled_from([1, 1, 2]))
        process = draw(cosmos3_process()) if backend is Backend.COSMOS3 else None
        for index in range(draw(st.integers(1, 4))):
            runs.append(
                queued_run(
                    f"run{job}_{index}",
                    f"job{job}",
                    weights=draw(weights_strategy),
                    priority=priority,
                    queue_index=job,
                    backend=backend,
                    frames=draw(st.sampled_from([frames, frames, 241])),
                    size=draw(st.sampled_from(SIZES)),
                    seed=seed,
                    steps=steps,
                    job_gpu_batch_size=gpu if backend is Backend.TRANSFER1 else 1,
                    cosmos3=None if process is None else {**process, **draw(cosmos3_sample())},
                )
            )
    return runs


def cosmos3_process() -> st.SearchStrategy[dict[str, Any]]:
    """What a Cosmos 3 process is loaded with: checkpoint, sampler, diffusion cache."""
    return st.fixed_dictionaries(
        {
            "checkpoint": st.sampled_from(C3_CHECKPOINTS),
            "sampler": st.sampled_from(["unipc", "unipc", "edm"]),
            "diffusion_cache": st.sampled_from([True, True, False]),
        }
    )


def cosmos3_sample() -> st.SearchStrategy[dict[str, Any]]:
    """Per-sample Cosmos 3 fields; those left out take NVIDIA's defaults for the hints."""
    return st.fixed_dictionaries(
        {},
        optional={
            "resolution": st.sampled_from(["480", "720", "256", "768"]),
            "guidance": st.sampled_from([1.0, 3.0, 6.0]),
            "control_guidance": st.sampled_from([1.0, 1.5, 3.0]),
            "chunk_frames": st.sampled_from([61, 93, 121]),
            "max_frames": st.sampled_from([100, 5000]),
        },
    )


# Every verification a planner test could read: both backends and kinds, every control set, on
# the planned profile and on another one (which must not count).
ALL_KEYS = [
    VerdictKey.of(backend, False, kind, controls, profile)
    for backend in Backend
    for kind in BatchingKind
    for controls in CONTROL_SETS
    for profile in (PROFILE, "h200-141gb")
]


def verified_keys() -> st.SearchStrategy[frozenset[VerdictKey]]:
    """Stored verifications: none, a few, or everything verified on both profiles."""
    return st.one_of(
        st.just(frozenset()),
        st.frozensets(st.sampled_from(ALL_KEYS), max_size=24),
        st.just(frozenset(ALL_KEYS)),
    )
