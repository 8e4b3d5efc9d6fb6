"""`cosmos verify-batching`: prove, on a real host, whether a kind of batching keeps outputs.

A few runs are rendered alone, one model process each, and the same runs (same seeds and
parameters) again batched: all in one process with their control sets mixed (`mixed`), and all
denoised in one tensor (`gpu_batch`, Transfer1 `--batch_size` k). Each run's two outputs are
compared frame by frame; the verdict is stored per (backend, model variant, control set, GPU
profile) and the planner may then make that kind of batch without output changes allowed.

On the simulator, the simulator's own reading of NVIDIA's code decides (its GPU batching draws
noise for the whole batch, as NVIDIA's does), and the verdict is stored as simulated: it is
trusted only for plans made for simulated hosts.

Nothing here touches the queue: verification processes are not jobs."""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import BaseModel

from cosmos_workflow.backends import get_backend
from cosmos_workflow.backends.base import RunOutcome
from cosmos_workflow.domain.controls import Control, ControlSet, control_set_key, parse_control
from cosmos_workflow.domain.errors import ExecutionError, InvalidInput
from cosmos_workflow.domain.ids import new_id
from cosmos_workflow.domain.params import (
    Backend,
    ExecutionParams,
    JobKind,
    check_controls_for_params,
    validate_params,
)
from cosmos_workflow.domain.verdicts import (
    COSMOS3_REASON,
    BatchingKind,
    VerdictKey,
    identical_by_construction,
)
from cosmos_workflow.domain.work import JobWork, RunWork, VideoInfo
from cosmos_workflow.hosts.base import Host
from cosmos_workflow.services import media
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.targets import HostChoice, choose_host
from cosmos_workflow.store import catalog
from cosmos_workflow.store.verdicts import save_verdict
from cosmos_workflow.worker.execute import host_command, host_environment, read_back
from cosmos_workflow.worker.hosts import open_host

log = logging.getLogger(__name__)

DEFAULT_MIN_PSNR_DB = 50.0  # below this two renders are visibly different, not encoder noise
MAX_VERIFY_RUNS = 8  # every run alone is one model load
DEFAULT_WEIGHT = 0.5


class RunComparison(BaseModel):
    run: str  # a label: which prompt and controls
    bit_identical: bool
    psnr_db: float | None  # None: bit-identical


class VerificationResult(BaseModel):
    kind: str
    backend: str
    variant: str
    controls: str
    gpu_profile: str
    simulated: bool
    identical: bool  # every run kept its output: the kind of batch is `verified` here
    bit_identical: bool
    min_psnr_db: float | None
    runs_compared: int
    comparisons: list[RunComparison]


class VerificationReport(BaseModel):
    host: str
    results: list[VerificationResult]


@dataclass(frozen=True)
class VerifyRequest:
    prompt_ids: tuple[str, ...]
    controls: ControlSet
    params: ExecutionParams  # backend defaults, base or distilled: every run renders with them
    kinds: tuple[BatchingKind, ...]
    min_psnr_db: float = DEFAULT_MIN_PSNR_DB
    host_name: str | None = None
    simulate: bool = False

    @property
    def backend(self) -> Backend:
        return self.params.backend


def build_verify_request(
    prompt_ids: Sequence[str],
    controls: Sequence[str],
    *,
    backend: str = "transfer1",
    kinds: Sequence[str] = (),
    distilled: bool = False,
    min_psnr_db: float = DEFAULT_MIN_PSNR_DB,
    host_name: str | None = None,
    simulate: bool = False,
) -> VerifyRequest:
    """Validate everything but the prompts' existence; InvalidInput names the field."""
    ids = tuple(dict.fromkeys(p.strip() for p in prompt_ids if p.strip()))
    if not ids:
        raise InvalidInput("give at least one prompt id to render", field="prompt_ids")
    params = validate_params({"backend": backend, "distilled": distilled})
    chosen = frozenset(parse_control(c) for c in controls if c.strip())
    if not chosen:
        raise InvalidInput("give the control set to verify, e.g. depth,seg", field="controls")
    check_controls_for_params([c.value for c in chosen], params)
    wanted = _kinds(kinds, params.backend, chosen)
    if not 0.0 < min_psnr_db <= 100.0:
        raise InvalidInput("min PSNR must be above 0 and at most 100 dB", field="min_psnr_db")
    return VerifyRequest(ids, chosen, params, wanted, min_psnr_db, host_name, simulate)


def _kinds(
    given: Sequence[str], backend: Backend, controls: ControlSet
) -> tuple[BatchingKind, ...]:
    if identical_by_construction(backend):
        raise InvalidInput(
            f"nothing to verify for {backend.value}: every batch is identical by construction "
            f"({COSMOS3_REASON})",
            field="backend",
        )
    try:
        kinds = tuple(dict.fromkeys(BatchingKind(k) for k in given))
    except ValueError:
        known = ", ".join(k.value for k in BatchingKind)
        message = f"unknown batching kind in {list(given)}; known: {known}"
        raise InvalidInput(message, field="kind") from None
    possible = []
    if len(controls) > 1:
        possible.append(BatchingKind.MIXED)  # mixing needs at least two control sets
    if backend is Backend.TRANSFER1:
        possible.append(BatchingKind.GPU_BATCH)  # only Transfer1 has GPU batching
    if not kinds:
        kinds = tuple(possible)
    for kind in kinds:
        if kind not in possible:
            why = (
                "mixing needs two or more controls to mix"
                if kind is BatchingKind.MIXED
                else f"{backend.value} has no GPU batching"
            )
            raise InvalidInput(f"cannot verify {kind.value} here: {why}", field="kind")
    if not kinds:
        raise InvalidInput(
            f"nothing to verify for {backend.value} with one control; give two or more",
            field="controls",
        )
    return kinds


def verify_batching(ctx: Context, request: VerifyRequest) -> VerificationReport:
    """Render, compare and store one verdict per requested kind of batching."""
    choice = choose_host(ctx.settings, request.host_name, request.simulate)
    runs = _base_runs(ctx, request)
    host = open_host(choice, ctx.settings)
    root = ctx.settings.home / "verifications" / new_id("vb")
    try:
        results = [
            _verify_kind(ctx, choice, host, request, kind, runs, root) for kind in request.kinds
        ]
    finally:
        host.close()
        shutil.rmtree(root, ignore_errors=True)
    return VerificationReport(host=choice.config.name, results=results)


def _base_runs(ctx: Context, request: VerifyRequest) -> list[RunWork]:
    """One run per prompt with every control of the set at the default weight."""
    runs = []
    with ctx.db.read() as session:
        for prompt_id in request.prompt_ids:
            prompt = catalog.find_prompt(session, prompt_id)
            source = catalog.get_input(session, prompt.input_id)
            assert source is not None
            runs.append(
                RunWork(
                    run_id=prompt_id,
                    prompt=prompt.text,
                    negative_prompt=prompt.negative or None,
                    weights=dict.fromkeys(request.controls, DEFAULT_WEIGHT),
                    params=request.params,
                    video_path=Path(source.video_path),
                    video=VideoInfo(source.frames, source.fps, source.width, source.height),
                    control_paths={Control(k): Path(v) for k, v in source.controls.items()},
                )
            )
    return runs


def _kind_runs(kind: BatchingKind, runs: list[RunWork]) -> list[RunWork]:
    """The runs one kind is verified with. Mixing: each control alone, from the first prompt
    (a process then holds several control sets). GPU batching: every prompt with the whole set,
    plus a second weighting when there is only one prompt (a batch needs two items)."""
    if kind is BatchingKind.MIXED:
        first = runs[0]
        chosen = [
            replace(first, run_id=f"{first.run_id}_{c.value}", weights={c: DEFAULT_WEIGHT})
            for c in Control
            if c in first.weights
        ]
    else:
        chosen = [replace(r, run_id=f"{r.run_id}_all") for r in runs]
        if len(chosen) == 1:
            heavier = dict.fromkeys(runs[0].weights, 0.8)
            chosen.append(replace(runs[0], run_id=f"{runs[0].run_id}_heavy", weights=heavier))
    if len(chosen) > MAX_VERIFY_RUNS:
        raise InvalidInput(
            f"at most {MAX_VERIFY_RUNS} runs per verification (each renders alone once)",
            field="prompt_ids",
        )
    return chosen


def _verify_kind(
    ctx: Context,
    choice: HostChoice,
    host: Host,
    request: VerifyRequest,
    kind: BatchingKind,
    base: list[RunWork],
    root: Path,
) -> VerificationResult:
    runs = _kind_runs(kind, base)
    if kind is BatchingKind.GPU_BATCH:
        _check_one_tensor(runs)
    alone = {}
    for index, run in enumerate(runs):
        job = JobWork(
            f"{root.name}_{kind.value}_a{index}", JobKind.INFERENCE, request.backend, (run,)
        )
        alone.update(_render_on_host(ctx, choice, host, job, root / "alone"))
    size = len(runs) if kind is BatchingKind.GPU_BATCH else 1
    batch = JobWork(
        f"{root.name}_{kind.value}", JobKind.INFERENCE, request.backend, tuple(runs), size
    )
    batched = _render_on_host(ctx, choice, host, batch, root / kind.value)
    comparisons = []
    for run in runs:
        same, psnr = media.compare_videos(alone[run.run_id], batched[run.run_id])
        comparisons.append(RunComparison(run=run.run_id, bit_identical=same, psnr_db=psnr))
    return _store(ctx, choice, request, kind, comparisons)


def _check_one_tensor(runs: Sequence[RunWork]) -> None:
    from cosmos_workflow.planner.compat import aspect_bucket

    shapes = {(r.video.frames, aspect_bucket(r.video.width, r.video.height)) for r in runs}
    if len(shapes) > 1:
        raise InvalidInput(
            "a GPU batch needs inputs of one frame count and aspect: choose prompts of one input",
            field="prompt_ids",
        )


def _render_on_host(
    ctx: Context, choice: HostChoice, host: Host, job: JobWork, dest: Path
) -> dict[str, Path]:
    """Run one model process on the host and bring every run's output here."""
    backend = get_backend(job.backend)
    workdir = host.job_dir(job.job_id)
    rendered = backend.render(job, choice.target, workdir)
    host.stage(workdir, rendered.files, rendered.stage)
    argv, cwd, container = host_command(choice, job.job_id, rendered, workdir, host)
    lines: list[str] = []
    log_path = ctx.settings.logs_dir / f"{job.job_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log.info("verification process %s: %d run(s)", job.job_id, len(job.runs))
    result = host.run(
        argv,
        workdir=workdir,
        cwd=cwd,
        env=host_environment(choice, rendered, sim_time_scale=ctx.settings.sim_time_scale),
        on_line=lines.append,
        cancel=threading.Event(),
        timeout_s=choice.config.timeout_seconds,
        log_path=log_path,
        container=container,
    )
    code = result.exit_code if result.exit_code is not None else -1
    produced = host.list_files(workdir)
    texts = read_back(host, workdir, rendered, dest / f"{job.job_id}.read_back")
    outcomes = backend.collect(job, rendered, produced, lines, code, texts)
    missing = [r.run_id for r in job.runs if _output(outcomes.get(r.run_id)) is None]
    if code != 0 or missing:
        tail = " | ".join(line.strip() for line in lines[-5:])
        raise ExecutionError(
            f"verification process {job.job_id} failed (exit {code}; no output for "
            f"{', '.join(missing) or 'none'}); log {log_path}: {tail}"
        )
    wanted = {r.run_id: str(_output(outcomes.get(r.run_id))) for r in job.runs}
    fetched = host.fetch(workdir, list(wanted.values()), dest / job.job_id)
    host.remove(workdir)
    return {run_id: fetched[rel] for run_id, rel in wanted.items()}


def _output(outcome: RunOutcome | None) -> str | None:
    return outcome.output if outcome is not None else None


def _store(
    ctx: Context,
    choice: HostChoice,
    request: VerifyRequest,
    kind: BatchingKind,
    comparisons: list[RunComparison],
) -> VerificationResult:
    psnrs = [c.psnr_db for c in comparisons if c.psnr_db is not None]
    bit_identical = all(c.bit_identical for c in comparisons)
    min_psnr = min(psnrs) if psnrs else None
    identical = bit_identical or (min_psnr is not None and min_psnr >= request.min_psnr_db)
    key = VerdictKey.of(
        request.backend, request.params.distilled, kind, request.controls, choice.config.gpu_profile
    )
    details = {
        "host": choice.config.name,
        "min_psnr_threshold_db": request.min_psnr_db,
        "comparisons": [c.model_dump() for c in comparisons],
    }
    with ctx.db.write() as session:
        save_verdict(
            session,
            key,
            identical=identical,
            bit_identical=bit_identical,
            min_psnr_db=min_psnr,
            runs_compared=len(comparisons),
            simulated=choice.simulate,
            details=details,
        )
    return VerificationResult(
        kind=kind.value,
        backend=key.backend.value,
        variant=key.variant,
        controls=control_set_key(request.controls),
        gpu_profile=key.gpu_profile,
        simulated=choice.simulate,
        identical=identical,
        bit_identical=bit_identical,
        min_psnr_db=min_psnr,
        runs_compared=len(comparisons),
        comparisons=comparisons,
    )
