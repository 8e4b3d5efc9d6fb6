"""Cosmos-Transfer1: the controlnet spec, the batch JSONL, the torchrun argv, and reading its log.

Contract: cosmos_transfer1/diffusion/inference/transfer.py as described in docs/contracts.md.
Flags are rendered as `--flag value` (two tokens): transfer.py only notices a CLI override of a
spec key when the literal `--key` token is in sys.argv; `--key=value` would let the spec win. The
one exception is a text value starting with `-` (argparse would read it as an option): it is
rendered `--flag=value`, which is safe because no such key is ever put in the spec."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cosmos_workflow.backends import base
from cosmos_workflow.backends.base import (
    GuardrailBlocked,
    LogEvent,
    Progress,
    PromptUpsampled,
    RenderedJob,
    RunOutcome,
    SamplingStarted,
    VideoSaved,
    at_workdir,
)
from cosmos_workflow.domain.controls import Control, effective_weights
from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.domain.params import JobKind
from cosmos_workflow.domain.states import FailureClass
from cosmos_workflow.domain.work import HostTarget, JobWork, RunWork

TRANSFER_SCRIPT = "cosmos_transfer1/diffusion/inference/transfer.py"
UPSAMPLER_SCRIPT = "cosmos_transfer1/auxiliary/upsampler/inference/upsampler_pipeline.py"
SPEC_FILE = "controlnet_spec.json"
BATCH_FILE = "batch_input.jsonl"
OUTPUT_DIR = "outputs"

# The only memory figure NVIDIA published for Transfer1 inference is the historical README's
# "Supported Hardware: 80GB H100" (reference 1.9). Below that we turn on the offloads that lower
# the peak: the T5-11B text encoder (loaded in fp32, reference 1.8) and the guardrail models
# (Llama-Guard-3-8B among them). `--offload_diffusion_transformer` is never used: the DiT must be
# resident while sampling, so deleting it after each batch lowers no peak and only adds reloads.
FULL_MEMORY_GB = 80.0
LOW_MEMORY_OFFLOADS = ("--offload_text_encoder_model", "--offload_guardrail_models")
# The 4K upscaler documentation's command always passes this flag (reference 1.12).
UPSCALE_OFFLOADS = ("--offload_text_encoder_model",)

# transfer.py's `--negative_prompt` default (transfer.py 62-67), rendered when a run has none.
DEFAULT_NEGATIVE_PROMPT = (
    "The video captures a game playing, with bad crappy graphics and cartoonish frames. It "
    "represents a recording of old outdated games. The lighting looks very fake. The textures "
    "are very raw and basic. The geometries are very primitive. The images are very pixelated "
    "and of poor CG quality. There are many subtitles in the footage. Overall, the video is "
    "unrealistic at all."
)

# The upsampler prints its result with a bare `print("Upsampled prompt:", text)`: no loguru
# prefix, one space after the colon. A model answer may hold line breaks, so the unprefixed lines
# after it continue the text until the next loguru line or the end of the output.
UPSAMPLED_PREFIX = "Upsampled prompt:"
# Its `__main__` deletes OMP_NUM_THREADS from the environment, which torchrun only sets for more
# than one process per node: without it a one-process launch dies with KeyError.
UPSAMPLER_ENV = {"OMP_NUM_THREADS": "1"}

# Logged by `generate()` at the start of every GPU batch (one call per batch).
BATCH_MARKER = "Running batch generation with batch_size="
SAVED_VIDEO = re.compile(r"Saved video to (?P<path>.+?)\s*$")
TEXT_BLOCKED = re.compile(r"Input text prompt (?P<index>\d+) is not safe")
VIDEO_BLOCKED = re.compile(r"Generated video (?P<index>\d+) is not safe")
WHOLE_BATCH_BLOCKED = "Guardrail blocked generation for entire batch."

# Refusals of transfer.py / inference_utils.py before any model loads (reference 1.2-1.4), plus
# argparse usage errors and missing files: re-running the same input fails the same way.
BAD_INPUT_MARKERS = (
    "Must have 'input_video' specified if sigma_max < 80",
    "controlnet must have 'input_control' video specified",
    "Invalid hint_key:",
    "No default distilled checkpoint for",
    "must be a valid non-negative float or a path to a .pt file",
    "the following arguments are required",
    "error: argument",
    "error: unrecognized arguments",
    "FileNotFoundError",
    "No such file or directory",
)


class Transfer1Backend:
    """Renders and reads cosmos-transfer1 jobs (inference, upscale, enhance)."""

    def render(self, job: JobWork, target: HostTarget, workdir: str) -> RenderedJob:
        if not job.runs:
            raise InvalidInput(f"job {job.job_id} has no runs to render")
        if job.kind is JobKind.ENHANCE:
            return _render_enhance(job, target, workdir)
        if job.kind is JobKind.UPSCALE:
            return _render_upscale(job, target, workdir)
        return _render_inference(job, target, workdir)

    def parse_line(self, line: str) -> LogEvent | None:
        return parse_line(line)

    def collect(
        self,
        job: JobWork,
        rendered: RenderedJob,
        produced: set[str],
        log_lines: Sequence[str],
        exit_code: int,
        texts: Mapping[str, str] | None = None,
    ) -> dict[str, RunOutcome]:
        if job.kind is JobKind.ENHANCE:
            return _collect_enhance(job, log_lines)
        if BATCH_FILE in rendered.files:
            return _collect_batch(job, rendered, produced, log_lines, exit_code)
        return _collect_single(job, rendered, produced, log_lines)

    def classify_failure(self, exit_code: int, log_lines: Sequence[str]) -> FailureClass | None:
        return classify_failure(exit_code, log_lines)


# -- rendering ---------------------------------------------------------------------------------


def _launcher(target: HostTarget, script: str) -> list[str]:
    return [
        "torchrun",
        "--nproc_per_node",
        str(target.gpus),
        "--nnodes",
        "1",
        "--node_rank",
        "0",
        *base.master_port_flags(target),
        base.in_checkout(target, script),
    ]


def _number(value: float) -> str:
    return repr(float(value))


def _env(target: HostTarget) -> dict[str, str]:
    # The documented launch is `PYTHONPATH=$(pwd) torchrun ...` from the checkout (reference 1.1).
    return {"PYTHONPATH": target.code_dir}


def _staged_video(run: RunWork, name: str, source: Path) -> str:
    return f"inputs/{run.run_id}/{name}{source.suffix or '.mp4'}"


def _check_process_globals(job: JobWork) -> None:
    """Sampling settings and the negative prompt are per process in Transfer1 (reference 1.4)."""
    first = job.runs[0]
    for run in job.runs[1:]:
        if run.params != first.params or run.negative_prompt != first.negative_prompt:
            raise InvalidInput(
                f"run {run.run_id} cannot share a Transfer1 process with {first.run_id}: "
                "parameters and negative prompt are global to the process"
            )


def _ordered(controls: set[Control]) -> list[Control]:
    return [control for control in Control if control in controls]


def _control_entry(
    run: RunWork,
    control: Control,
    weight: float,
    workdir: str,
    video: str,
    stage: dict[str, Path],
) -> dict[str, Any]:
    """One control dict for a run. A precomputed control video is staged and used. A control at
    weight 0 (in the batch only because another run asked for it) points at the run's own RGB
    video: transfer.py would otherwise run the depth/seg preprocessor models (or blur/Canny) to
    build a control that contributes nothing. None means: compute it on the fly."""
    source = run.control_paths.get(control)
    entry: dict[str, Any] = {"control_weight": weight}
    if source is not None:
        relpath = _staged_video(run, control.value, source)
        stage[relpath] = source
        entry["input_control"] = at_workdir(workdir, relpath)
    elif weight == 0.0:
        entry["input_control"] = video
    else:
        entry["input_control"] = None
    return entry


def _spec_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A spec-level control dict: an absent `input_control` means on-the-fly computation."""
    return {key: value for key, value in entry.items() if value is not None}


def _render_inference(job: JobWork, target: HostTarget, workdir: str) -> RenderedJob:
    _check_process_globals(job)
    first = job.runs[0]
    controls = _ordered({c for run in job.runs for c in run.controls})
    if first.params.distilled and controls != [Control.EDGE]:
        raise InvalidInput("the distilled Transfer1 model takes the edge control alone")
    stage: dict[str, Path] = {}
    videos: dict[str, str] = {}
    entries: dict[str, dict[str, dict[str, Any]]] = {}
    for run in job.runs:
        relpath = _staged_video(run, "input", run.video_path)
        stage[relpath] = run.video_path
        videos[run.run_id] = at_workdir(workdir, relpath)
        weights = effective_weights(controls, run.weights)
        entries[run.run_id] = {
            control.value: _control_entry(
                run, control, weights[control], workdir, videos[run.run_id], stage
            )
            for control in controls
        }
    spec: dict[str, Any] = {"input_video_path": videos[first.run_id]}
    files: dict[str, str] = {}
    outputs: dict[str, str] = {}
    extra: list[str]
    if len(job.runs) == 1:
        spec = {"prompt": first.prompt, **spec}
        spec.update({key: _spec_entry(e) for key, e in entries[first.run_id].items()})
        outputs[first.run_id] = f"{OUTPUT_DIR}/{first.run_id}.mp4"
        extra = ["--video_save_name", first.run_id]
    else:
        # The spec keeps `input_video_path` because transfer.py validates every control against
        # the global input video even in batch mode (reference 1.4); each line's `visual_input`
        # is what is generated from. Every line overrides every control of the spec, so no run
        # inherits another run's weight or control video.
        spec.update({key: _spec_entry(e) for key, e in entries[first.run_id].items()})
        lines = [
            json.dumps(
                {
                    "visual_input": videos[run.run_id],
                    "prompt": run.prompt,
                    "control_overrides": entries[run.run_id],
                }
            )
            for run in job.runs
        ]
        files[BATCH_FILE] = "\n".join(lines) + "\n"
        for index, run in enumerate(job.runs):
            outputs[run.run_id] = f"{OUTPUT_DIR}/video_{index}/output.mp4"
        extra = [
            "--batch_input_path",
            at_workdir(workdir, BATCH_FILE),
            "--batch_size",
            str(max(1, job.gpu_batch_size)),
        ]
    files[SPEC_FILE] = json.dumps(spec, indent=2) + "\n"
    argv = [
        *_launcher(target, TRANSFER_SCRIPT),
        "--checkpoint_dir",
        base.in_checkout(target, target.checkpoint_dir),
        "--controlnet_specs",
        at_workdir(workdir, SPEC_FILE),
        *extra,
        *_sampling_flags(first, target, workdir),
    ]
    if first.params.distilled:
        argv.append("--use_distilled")
    if target.gpu_memory_gb < FULL_MEMORY_GB:
        argv.extend(LOW_MEMORY_OFFLOADS)
    return RenderedJob(
        argv=tuple(argv),
        cwd=target.code_dir,
        env=_env(target),
        files=files,
        stage=stage,
        outputs=outputs,
    )


def _sampling_flags(run: RunWork, target: HostTarget, workdir: str) -> list[str]:
    params = run.params
    return [
        "--num_steps",
        str(params.steps),
        "--guidance",
        _number(params.guidance),
        "--seed",
        str(params.seed),
        "--sigma_max",
        # transfer.py has no "no noise" value; 80 and above means the input is not used.
        _number(80.0 if params.sigma_max is None else params.sigma_max),
        "--fps",
        str(params.fps),
        "--blur_strength",
        params.blur.value,
        "--canny_threshold",
        params.canny.value,
        *base.text_flag("--negative_prompt", base.negative_prompt(run, DEFAULT_NEGATIVE_PROMPT)),
        "--num_gpus",
        str(target.gpus),
        "--video_save_folder",
        at_workdir(workdir, OUTPUT_DIR),
    ]


def _single_run(job: JobWork) -> RunWork:
    if len(job.runs) != 1:
        raise InvalidInput(f"a {job.kind.value} job holds exactly one run, not {len(job.runs)}")
    return job.runs[0]


def _render_upscale(job: JobWork, target: HostTarget, workdir: str) -> RenderedJob:
    """The 4K upscaler: the `upscale` control on the finished video (reference 1.12). No prompt:
    the pipeline then uses its default "high-quality video" prompt. Batching is off for upscale
    in transfer.py, so no JSONL and no --batch_size."""
    run = _single_run(job)
    if run.params.upscale_weight is None:
        raise InvalidInput(f"upscale run {run.run_id} has no upscale weight in its parameters")
    relpath = _staged_video(run, "input", run.video_path)
    spec = {
        "input_video_path": at_workdir(workdir, relpath),
        "upscale": {"control_weight": run.params.upscale_weight},
    }
    argv = [
        *_launcher(target, TRANSFER_SCRIPT),
        "--checkpoint_dir",
        base.in_checkout(target, target.checkpoint_dir),
        "--controlnet_specs",
        at_workdir(workdir, SPEC_FILE),
        "--video_save_name",
        run.run_id,
        *_sampling_flags(run, target, workdir),
        *UPSCALE_OFFLOADS,
    ]
    if target.gpu_memory_gb < FULL_MEMORY_GB:
        argv.extend(f for f in LOW_MEMORY_OFFLOADS if f not in UPSCALE_OFFLOADS)
    return RenderedJob(
        argv=tuple(argv),
        cwd=target.code_dir,
        env=_env(target),
        files={SPEC_FILE: json.dumps(spec, indent=2) + "\n"},
        stage={relpath: run.video_path},
        outputs={run.run_id: f"{OUTPUT_DIR}/{run.run_id}.mp4"},
    )


def _render_enhance(job: JobWork, target: HostTarget, workdir: str) -> RenderedJob:
    """The prompt upsampler. Launched through torchrun on one process because the upsampler reads
    os.environ["RANK"] (reference 1.1); `--offload_prompt_upsampler` as every NVIDIA example
    pairs it (reference 1.11). Nothing is written: the prompt is read from the output."""
    run = _single_run(job)
    relpath = _staged_video(run, "input", run.video_path)
    single = HostTarget(gpus=1, code_dir=target.code_dir, master_port=target.master_port)
    argv = [
        *_launcher(single, UPSAMPLER_SCRIPT),
        *base.text_flag("--prompt", run.prompt),
        "--input_video",
        at_workdir(workdir, relpath),
        "--checkpoint_dir",
        base.in_checkout(target, target.checkpoint_dir),
        "--offload_prompt_upsampler",
    ]
    return RenderedJob(
        argv=tuple(argv),
        cwd=target.code_dir,
        env={**_env(target), **UPSAMPLER_ENV},
        stage={relpath: run.video_path},
    )


# -- reading the log ---------------------------------------------------------------------------


def parse_line(line: str) -> LogEvent | None:
    parsed, progress = base.read_line(line)
    if progress is not None:
        # The only bar is `for i_clip in tqdm(range(N_clip))`: it counts clips, not steps.
        return Progress(step=progress.step, total=progress.total, clip=progress.step)
    message, at = parsed.message, parsed.at
    if message.startswith(BATCH_MARKER):
        return SamplingStarted(at=at)
    saved = SAVED_VIDEO.search(message)
    if saved:
        return VideoSaved(path=saved["path"], at=at)
    for pattern, stage in ((TEXT_BLOCKED, "text"), (VIDEO_BLOCKED, "video")):
        blocked = pattern.search(message)
        if blocked:
            return GuardrailBlocked(int(blocked["index"]), False, message, at=at, stage=stage)
    if WHOLE_BATCH_BLOCKED in message:
        return GuardrailBlocked(None, True, message, at=at)
    if parsed.level is None and message.startswith(UPSAMPLED_PREFIX):
        return PromptUpsampled(message[len(UPSAMPLED_PREFIX) :].strip())
    return base.failure_event(message, at, BAD_INPUT_MARKERS)


def classify_failure(exit_code: int, log_lines: Sequence[str]) -> FailureClass | None:
    """Why a process that exited non-zero failed. Out of memory wins over everything (a process
    can log a refusal-looking line after an OOM). A whole-batch guardrail block ends transfer.py:
    it logs the block and then unpacks the None that `generate()` returned (TypeError, exit 1), so
    that exit is the guardrail's, not a crash worth retrying. A per-item block does not end the
    process, so it explains no exit."""
    if exit_code == 0:
        return None
    if base.first_matching(log_lines, base.OOM_MARKERS):
        return FailureClass.OUT_OF_MEMORY
    if base.first_matching(log_lines, (WHOLE_BATCH_BLOCKED,)):
        return FailureClass.GUARDRAIL
    if base.first_matching(log_lines, BAD_INPUT_MARKERS):
        return FailureClass.BAD_INPUT
    return FailureClass.CRASH


# -- collecting outputs ------------------------------------------------------------------------


def _collect_single(
    job: JobWork, rendered: RenderedJob, produced: set[str], log_lines: Sequence[str]
) -> dict[str, RunOutcome]:
    run = job.runs[0]
    expected = rendered.outputs[run.run_id]
    if expected in produced:
        return {run.run_id: RunOutcome(output=expected)}
    blocked = [e for e in map(parse_line, log_lines) if isinstance(e, GuardrailBlocked)]
    if blocked:
        return {run.run_id: RunOutcome(failure=FailureClass.GUARDRAIL, message=blocked[0].message)}
    return {run.run_id: RunOutcome(message=f"{expected} was not produced")}


@dataclass
class _BatchLog:
    """What the log says about one GPU batch, i.e. one `generate()` call."""

    text: set[int] = field(default_factory=set)  # "Input text prompt N": 1-based in the batch
    video: set[int] = field(default_factory=set)  # "Generated video N": 1-based among text-passed
    whole: bool = False  # "Guardrail blocked generation for entire batch."


@dataclass(frozen=True)
class _Placement:
    """Where each item of a batch went, replaying `generate()`'s two guardrail filters."""

    index: dict[int, int]  # position in the batch -> index in the returned list
    text: set[int]  # positions blocked at the text check
    video: set[int]  # positions blocked at the video check


def _batch_size(rendered: RenderedJob) -> int:
    argv = list(rendered.argv)
    return int(argv[argv.index("--batch_size") + 1]) if "--batch_size" in argv else 1


def _batch_logs(log_lines: Sequence[str]) -> list[_BatchLog]:
    """One entry per GPU batch: each `generate()` call starts with BATCH_MARKER, and its
    guardrail lines, as well as the whole-batch line transfer.py logs after it, follow."""
    batches: list[_BatchLog] = []
    for event in map(parse_line, log_lines):
        if isinstance(event, SamplingStarted):
            batches.append(_BatchLog())
        elif isinstance(event, GuardrailBlocked) and batches:
            current = batches[-1]
            if event.whole_batch:
                current.whole = True
            elif event.index is not None:
                (current.text if event.stage == "text" else current.video).add(event.index)
    return batches


def _place(count: int, log: _BatchLog) -> _Placement | None:
    """The text check keeps the safe prompts in order; the video check numbers the videos of
    those survivors and keeps the safe ones; item i of what is left is saved as
    `video_<batch_start + i>`. None when the log names an item that cannot exist."""
    if any(not 1 <= n <= count for n in log.text):
        return None
    passed = [p for p in range(count) if p + 1 not in log.text]
    if any(not 1 <= n <= len(passed) for n in log.video):
        return None
    video = {passed[n - 1] for n in log.video}
    kept = [p for p in passed if p not in video]
    text = {n - 1 for n in log.text}
    return _Placement({p: i for i, p in enumerate(kept)}, text, video)


def _output_at(k: int) -> str:
    return f"{OUTPUT_DIR}/video_{k}/output.mp4"


NOT_REACHED = (
    "transfer.py ended after a whole-batch guardrail block in an earlier GPU batch; "
    "this run was never tried"
)


def _collect_batch(
    job: JobWork,
    rendered: RenderedJob,
    produced: set[str],
    log_lines: Sequence[str],
    exit_code: int,
) -> dict[str, RunOutcome]:
    """Batch by batch. After a whole-batch block transfer.py dies (TypeError on the None it
    got back), so the runs of every later batch were not attempted."""
    size = _batch_size(rendered)
    logs = _batch_logs(log_lines)
    outcomes: dict[str, RunOutcome] = {}
    ended = False
    for number, start in enumerate(range(0, len(job.runs), size)):
        runs = job.runs[start : start + size]
        if ended:
            outcomes.update(
                {r.run_id: RunOutcome(not_attempted=True, message=NOT_REACHED) for r in runs}
            )
            continue
        log = logs[number] if number < len(logs) else _BatchLog()
        outcomes.update(_collect_one_batch(runs, start, log, produced, exit_code))
        ended = log.whole and exit_code != 0
    return outcomes


def _collect_one_batch(
    runs: Sequence[RunWork],
    start: int,
    log: _BatchLog,
    produced: set[str],
    exit_code: int,
) -> dict[str, RunOutcome]:
    placement = _place(len(runs), log)
    if log.whole:
        return {r.run_id: _blocked(p, placement) for p, r in enumerate(runs)}
    if placement is None:
        return _unmatched(runs, "the guardrail log names an item outside its batch")
    written = {k for k in range(start, start + len(runs)) if _output_at(k) in produced}
    if exit_code == 0 and written != {start + i for i in range(len(placement.index))}:
        return _unmatched(runs, "the batch wrote other outputs than its guardrail lines explain")
    outcomes: dict[str, RunOutcome] = {}
    for position, run in enumerate(runs):
        if position not in placement.index:
            outcomes[run.run_id] = _blocked(position, placement)
            continue
        output = _output_at(start + placement.index[position])
        outcomes[run.run_id] = (
            RunOutcome(output=output)
            if output in produced
            else RunOutcome(message=f"{output} was not produced")
        )
    return outcomes


def _blocked(position: int, placement: _Placement | None) -> RunOutcome:
    item = f"batch item {position + 1}"
    if placement is not None and position in placement.text:
        message = f"the guardrail blocked the prompt of {item}"
    elif placement is not None and position in placement.video:
        message = f"the guardrail blocked the generated video of {item}"
    else:
        message = f"the guardrail blocked generation for the entire batch ({item})"
    return RunOutcome(failure=FailureClass.GUARDRAIL, message=message)


def _unmatched(runs: Sequence[RunWork], reason: str) -> dict[str, RunOutcome]:
    message = f"{reason}; outputs of this batch cannot be matched to runs"
    return {r.run_id: RunOutcome(message=message) for r in runs}


def _collect_enhance(job: JobWork, log_lines: Sequence[str]) -> dict[str, RunOutcome]:
    run = job.runs[0]
    prompt = upsampled_prompt(log_lines)
    if prompt is None:
        return {run.run_id: RunOutcome(message="the upsampler printed no prompt")}
    return {run.run_id: RunOutcome(enhanced_prompt=prompt)}


def upsampled_prompt(log_lines: Sequence[str]) -> str | None:
    """The text of the last bare `Upsampled prompt: <text>` line (print puts one space after the
    colon) with the unprefixed lines after it, up to the next loguru line or the end."""
    answers: list[list[str]] = []
    collecting = False
    for line in log_lines:
        parsed = base.split_log_line(line)
        if parsed.level is not None:
            collecting = False
        elif parsed.message.startswith(UPSAMPLED_PREFIX):
            answers.append([parsed.message[len(UPSAMPLED_PREFIX) :].removeprefix(" ")])
            collecting = True
        elif collecting:
            answers[-1].append(parsed.message)
    text = "\n".join(answers[-1]).strip() if answers else ""
    return text or None
