"""Cosmos-Transfer1: the controlnet spec, the batch JSONL, the torchrun argv, and reading its log.

Contract: cosmos_transfer1/diffusion/inference/transfer.py as described in docs/contracts.md.
Every flag is rendered as `--flag value` (two tokens): transfer.py only notices a CLI override of
a spec key when the literal `--key` token is in sys.argv; `--key=value` would let the spec win."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cosmos_workflow.backends import base
from cosmos_workflow.backends.base import (
    GuardrailBlocked,
    LogEvent,
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

# The prompt upsampler's result is read from this log message: `Upsampled prompt: <text>`. The
# text runs to the end of the line; lines without a loguru prefix that follow it continue it (a
# model answer may hold line breaks). The simulator prints exactly this shape.
UPSAMPLED_PREFIX = "Upsampled prompt:"

BATCH_MARKER = "Running batch generation with batch_size="
SAVED_VIDEO = re.compile(r"Saved video to (?P<path>.+?)\s*$")
TEXT_BLOCKED = re.compile(r"Input text prompt (?P<index>\d+) is not safe")
VIDEO_BLOCKED = re.compile(r"Generated video (?P<index>\d+) is not safe")
WHOLE_BATCH_BLOCKED = "Guardrail blocked generation for entire batch."
BATCH_OUTPUT = re.compile(r"video_(?P<k>\d+)/output\.mp4$")

# Refusals of transfer.py / inference_utils.py before any model loads (reference 1.2-1.4), plus
# argparse usage errors and missing files: re-running the same input fails the same way.
BAD_INPUT_MARKERS = (
    "Must have 'input_video' specified if sigma_max < 80",
    "controlnet must have 'input_control' video specified",
    "Invalid hint_key:",
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
        script,
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
        target.checkpoint_dir,
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
        "--negative_prompt",
        run.negative_prompt,
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
    relpath = _staged_video(run, "input", run.video_path)
    spec = {
        "input_video_path": at_workdir(workdir, relpath),
        "upscale": {"control_weight": job.upscale_weight},
    }
    argv = [
        *_launcher(target, TRANSFER_SCRIPT),
        "--checkpoint_dir",
        target.checkpoint_dir,
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
    pairs it (reference 1.11). Nothing is written: the prompt is read from the log."""
    run = _single_run(job)
    relpath = _staged_video(run, "input", run.video_path)
    single = HostTarget(gpus=1, code_dir=target.code_dir)
    argv = [
        *_launcher(single, UPSAMPLER_SCRIPT),
        "--prompt",
        run.prompt,
        "--input_video",
        at_workdir(workdir, relpath),
        "--checkpoint_dir",
        target.checkpoint_dir,
        "--offload_prompt_upsampler",
    ]
    return RenderedJob(
        argv=tuple(argv),
        cwd=target.code_dir,
        env=_env(target),
        stage={relpath: run.video_path},
    )


# -- reading the log ---------------------------------------------------------------------------


def parse_line(line: str) -> LogEvent | None:
    parsed, progress = base.read_line(line)
    if progress is not None:
        return progress
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
    if message.startswith(UPSAMPLED_PREFIX):
        return PromptUpsampled(message[len(UPSAMPLED_PREFIX) :].strip(), at=at)
    return base.failure_event(message, at, BAD_INPUT_MARKERS)


def classify_failure(exit_code: int, log_lines: Sequence[str]) -> FailureClass | None:
    """Why a process that exited non-zero failed. Out of memory wins over everything (a process
    can log a refusal-looking line after an OOM); a guardrail block alone never ends transfer.py
    with an error, so it only counts when nothing else explains the exit."""
    if exit_code == 0:
        return None
    if base.first_matching(log_lines, base.OOM_MARKERS):
        return FailureClass.OUT_OF_MEMORY
    if base.first_matching(log_lines, BAD_INPUT_MARKERS):
        return FailureClass.BAD_INPUT
    if any(isinstance(parse_line(line), GuardrailBlocked) for line in log_lines):
        return FailureClass.GUARDRAIL
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
class _BatchGuardrail:
    """What the log says the guardrail dropped from one GPU batch."""

    text: set[int]
    video: set[int]
    whole: bool = False
    messages: list[str] | None = None


def _batch_size(rendered: RenderedJob) -> int:
    argv = list(rendered.argv)
    return int(argv[argv.index("--batch_size") + 1]) if "--batch_size" in argv else 1


def _guardrail_by_batch(log_lines: Sequence[str], size: int) -> dict[int, _BatchGuardrail]:
    """Assign guardrail lines to GPU batches. A batch ends with its saved videos or with the
    whole-batch line; a guardrail line after such an end belongs to the next batch. Saved video
    paths name their batch exactly (`video_<k>`, k // batch_size)."""
    found: dict[int, _BatchGuardrail] = {}
    current, closed = 0, False
    for event in map(parse_line, log_lines):
        if isinstance(event, VideoSaved):
            match = BATCH_OUTPUT.search(event.path)
            if match:
                current, closed = int(match["k"]) // size, True
            continue
        if not isinstance(event, GuardrailBlocked):
            continue
        if closed:
            current, closed = current + 1, False
        entry = found.setdefault(current, _BatchGuardrail(set(), set(), messages=[]))
        assert entry.messages is not None
        entry.messages.append(event.message)
        if event.whole_batch:
            entry.whole, closed = True, True
        elif event.stage == "text":
            entry.text.add(event.index or 0)
        else:
            entry.video.add(event.index or 0)
    return found


def _survivors(count: int, text: set[int], video: set[int], video_after_text: bool) -> list[int]:
    """Positions (0-based) that reach the output list, under one reading of the video index: the
    log's "Generated video N" counts either the original batch or the items left after the text
    guardrail; the code does not say which, so both readings are computed."""
    after_text = [i for i in range(count) if i + 1 not in text]
    if video_after_text:
        return [pos for n, pos in enumerate(after_text, start=1) if n not in video]
    return [pos for pos in after_text if pos + 1 not in video]


def _collect_batch(
    job: JobWork,
    rendered: RenderedJob,
    produced: set[str],
    log_lines: Sequence[str],
    exit_code: int,
) -> dict[str, RunOutcome]:
    size = _batch_size(rendered)
    guardrail = _guardrail_by_batch(log_lines, size)
    outcomes: dict[str, RunOutcome] = {}
    for start in range(0, len(job.runs), size):
        runs = job.runs[start : start + size]
        found = guardrail.get(start // size)
        outcomes.update(_collect_one_batch(runs, start, found, produced, exit_code))
    return outcomes


def _output_at(k: int) -> str:
    return f"{OUTPUT_DIR}/video_{k}/output.mp4"


def _collect_one_batch(
    runs: Sequence[RunWork],
    start: int,
    found: _BatchGuardrail | None,
    produced: set[str],
    exit_code: int,
) -> dict[str, RunOutcome]:
    count = len(runs)
    if found is not None and found.whole:
        message = "the guardrail blocked generation for this entire batch"
        return {r.run_id: RunOutcome(failure=FailureClass.GUARDRAIL, message=message) for r in runs}
    text = found.text if found else set()
    video = found.video if found else set()
    if any(not 1 <= n <= count for n in text | video):
        return _ambiguous(runs, "the guardrail log names an item outside its batch")
    readings = (
        {tuple(_survivors(count, text, video, after)) for after in (False, True)}
        if video and text
        else {tuple(_survivors(count, text, video, False))}
    )
    written = [k for k in range(start, start + count) if _output_at(k) in produced]
    outcomes: dict[str, RunOutcome] = {}
    # A run is placed only when every reading of the log puts it at the same output.
    placements = [
        {survivor: start + i for i, survivor in enumerate(reading)} for reading in readings
    ]
    for position, run in enumerate(runs):
        places = {p.get(position) for p in placements}
        if len(places) > 1:
            outcomes[run.run_id] = RunOutcome(
                failure=FailureClass.GUARDRAIL,
                message="the guardrail dropped items of this batch and the log does not say "
                "whether this run's output was shifted; its output cannot be trusted",
            )
            continue
        place = places.pop()
        if place is None:
            outcomes[run.run_id] = RunOutcome(
                failure=FailureClass.GUARDRAIL,
                message=f"the guardrail blocked batch item {position + 1}",
            )
        elif _output_at(place) in produced:
            outcomes[run.run_id] = RunOutcome(output=_output_at(place))
        else:
            outcomes[run.run_id] = RunOutcome(message=f"{_output_at(place)} was not produced")
    expected = {start + i for i in range(len(next(iter(readings))))}
    if exit_code == 0 and set(written) != expected:
        return _ambiguous(
            runs, "the batch wrote other outputs than its logged guardrail drops explain"
        )
    return outcomes


def _ambiguous(runs: Sequence[RunWork], reason: str) -> dict[str, RunOutcome]:
    message = f"{reason}; outputs of this batch cannot be matched to runs"
    return {r.run_id: RunOutcome(failure=FailureClass.GUARDRAIL, message=message) for r in runs}


def _collect_enhance(job: JobWork, log_lines: Sequence[str]) -> dict[str, RunOutcome]:
    run = job.runs[0]
    prompt = upsampled_prompt(log_lines)
    if prompt is None:
        return {run.run_id: RunOutcome(message="the upsampler printed no prompt")}
    return {run.run_id: RunOutcome(enhanced_prompt=prompt)}


def upsampled_prompt(log_lines: Sequence[str]) -> str | None:
    """The last `Upsampled prompt:` message with its unprefixed continuation lines."""
    result: str | None = None
    collecting = False
    parts: list[str] = []
    for line in log_lines:
        parsed = base.split_log_line(line)
        if parsed.level is not None:
            if collecting:
                result, collecting = "\n".join(parts).strip(), False
            if parsed.message.startswith(UPSAMPLED_PREFIX):
                parts, collecting = [parsed.message[len(UPSAMPLED_PREFIX) :].strip()], True
        elif collecting:
            parts.append(parsed.message)
    if collecting:
        result = "\n".join(parts).strip()
    return result or None
