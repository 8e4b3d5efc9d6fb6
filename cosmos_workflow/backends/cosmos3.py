"""Cosmos 3 transfer: one JSONL of samples for `cosmos_framework.scripts.inference`, and its log.

Contract: OmniSampleOverrides (cosmos_framework/inference/args.py, `extra="forbid"`) of
NVIDIA/cosmos-framework@5eee9ed, as described in docs/contracts.md ("Cosmos 3 inference").
Transfer is a mode of the one omni checkpoint: a sample is a transfer sample because it holds a
hint block. The model loads once per process; samples then run one after another, each writing
`<out>/<name>/sample_args.json` before generation and `<out>/<name>/sample_outputs.json` last,
only on success. An exception inside generation ends the whole process, so the samples after it
never run."""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cosmos_workflow.backends import base
from cosmos_workflow.backends.base import (
    LogEvent,
    RenderedJob,
    RunOutcome,
    SamplingStarted,
    VideoSaved,
)
from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.domain.params import Backend, JobKind
from cosmos_workflow.domain.states import FailureClass
from cosmos_workflow.domain.work import HostTarget, JobWork, RunWork, VideoInfo

ENTRY_MODULE = "cosmos_framework.scripts.inference"
SAMPLES_FILE = "samples.jsonl"
OUTPUT_DIR = "outputs"
VISION_FILE = "vision.mp4"
SAMPLE_ARGS_FILE = "sample_args.json"
SAMPLE_OUTPUTS_FILE = "sample_outputs.json"
# `throughput` deadlocks transfer on several GPUs: the control-CFG forward runs on one rank only
# (tests/nano_inference_smoke_test.py:19-27, 452-461). `latency` is also the CLI's default
# (common/args.py:781); it is rendered so the command does not depend on that default.
PARALLELISM_FLAG = "--parallelism-preset=latency"
# Transfer samples are asserted to run one per batch (inference.py:1528-1529); 1 is the default
# (common/args.py:919), rendered for the same reason.
MAX_NUM_SEQS = "1"

# TransferHintKey's order (args.py:225-230), the order NVIDIA builds the control sequence in
# whatever the JSON order (args.py:740-743). Our `vis` is Cosmos 3's `blur`.
HINTS: tuple[tuple[Control, str], ...] = (
    (Control.EDGE, "edge"),
    (Control.VIS, "blur"),
    (Control.DEPTH, "depth"),
    (Control.SEG, "seg"),
    (Control.WSM, "wsm"),
)
# Only edge and blur are computed from the RGB input when no control video is given; any other
# hint raises FileNotFoundError at generation, outside any try (transfer.py:116-119).
ON_THE_FLY = frozenset({Control.EDGE, Control.VIS})
# A control video is read by read_media_frames (vision.py:185-186, 199-206), suffix lowercased.
CONTROL_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".png", ".jpg", ".jpeg")
# vision_path must be a video for video2video: VIDEO_EXTENSIONS is [".mp4"] (common/args.py:54);
# an image suffix makes the sample image-conditioned, anything else raises "Invalid vision
# extension" (args.py:382-395).
VISION_SUFFIX = ".mp4"
# detect_aspect_ratio (vision.py:189-194): the bucket nearest to width/height, first on a tie.
ASPECT_RATIOS: tuple[tuple[str, float], ...] = (
    ("16,9", 16 / 9),
    ("4,3", 4 / 3),
    ("1,1", 1.0),
    ("3,4", 3 / 4),
    ("9,16", 9 / 16),
)

# `[RANK 0] Saved sample args to '<out>/<name>/sample_args.json'` (inference.py:1841-1843): the
# sample's generation begins. `[RANK 0] Saved transfer outputs to '<out>/<name>/
# sample_outputs.json'` (inference.py:1887-1889, SUCCESS level): the sample is done, its
# vision.mp4 written before it (inference.py:1868-1872).
SAMPLE_STARTED = re.compile(
    r"Saved sample args to '(?P<path>.*/(?P<name>[^/]+)/sample_args\.json)'"
)
SAMPLE_DONE = re.compile(
    r"Saved transfer outputs to '(?P<path>.*/(?P<name>[^/]+)/sample_outputs\.json)'"
)
# A sample refused by pydantic: its file and 0-based index (common/args.py:1068-1070).
REFUSED_SAMPLE = re.compile(
    r"Error validating parameters from '(?P<file>[^']*)' at sample (?P<i>\d+)"
)
# Cosmos 3's own refusals of a sample or of the input files; none is worth a retry.
BAD_INPUT_MARKERS = (
    "Error validating parameters from",  # common/args.py:1068-1070
    "validation error for",  # pydantic's own summary line
    "Extra inputs are not permitted",  # extra="forbid", common/args.py:288-300
    "Duplicate name:",  # common/args.py:1013-1014 (unreachable at 5eee9ed; kept for a fix)
    "Unsupported file extension:",  # common/args.py:1056
    "No inference parameter files",  # common/args.py:1083
    "Path does not point to a file",  # common/args.py:277-278
    "Invalid vision extension",  # args.py:393
    "transfer inference requires",  # args.py:825-827, 897-900
    "Missing pre-computed control input",  # transfer.py:116-119
    "Unsupported media extension",  # vision.py:205-206
    "control_weights must",  # transfer.py:183-188
    "num_first_chunk_conditional_frames > 0 requires",  # transfer.py:419-420
    "num_conditional_frames must be smaller than",  # transfer.py:49-51
    "Checkpoint directory does not exist",  # common/args.py:679-680
    "Missing negative prompt file",  # args.py:61
)
# The last line of a Python traceback: `SomeError: message`.
EXCEPTION_LINE = re.compile(r"^(?:[\w.]+\.)?\w*(?:Error|Exception)\b:?")
NOT_REACHED = "the process ended before this sample"


class Cosmos3Backend:
    """Renders and reads Cosmos 3 transfer jobs."""

    def render(self, job: JobWork, target: HostTarget, workdir: str) -> RenderedJob:
        _check_job(job, workdir)
        checkpoint, sampler, diffusion_cache = _process_params(job)
        stage: dict[str, Path] = {}
        lines = [json.dumps(_sample(run, workdir, stage)) for run in job.runs]
        argv = [
            *_launcher(target),
            PARALLELISM_FLAG,
            "-i",
            posixpath.join(workdir, SAMPLES_FILE),
            "-o",
            posixpath.join(workdir, OUTPUT_DIR),
            "--checkpoint-path",
            checkpoint,
            "--max-num-seqs",
            MAX_NUM_SEQS,
            # Always rendered: it decides whether sigma_max or shift is read (args.py:106-109).
            "--sampler",
            sampler,
        ]
        if not diffusion_cache:
            # This CLI turns the cache on by default (scripts/inference.py:30).
            argv.append("--no-diffusion-cache")
        if target.disable_guardrails:
            # Transfer never applies them (inference.py:1826-1896); this only skips loading them.
            argv.append("--no-guardrails")
        return RenderedJob(
            argv=tuple(argv),
            cwd=target.code_dir,
            files={SAMPLES_FILE: "\n".join(lines) + "\n"},
            stage=stage,
            outputs={run.run_id: output_path(run.run_id, VISION_FILE) for run in job.runs},
            read_back=tuple(
                output_path(run.run_id, name)
                for run in job.runs
                for name in (SAMPLE_OUTPUTS_FILE, SAMPLE_ARGS_FILE)
            ),
        )

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
        """A run succeeded when its sample_outputs.json says so and its vision.mp4 is there.

        Otherwise: with exit 0 its output is missing; after a failed process, a started sample
        failed with the process (its own failure), and a sample the process never reached is
        not attempted, provided the process reached some sample (or NVIDIA named the refused
        one): a failure before any sample is every run's, or the job would be requeued forever."""
        texts = texts or {}
        started = _started(job, produced, texts, log_lines)
        refused = _refused_sample(job, log_lines)
        reached = bool(started) or refused is not None
        failure = self.classify_failure(exit_code, log_lines)
        reason = _error_message(log_lines, exit_code)
        outcomes: dict[str, RunOutcome] = {}
        for run in job.runs:
            done = _finished(run.run_id, rendered, produced, texts)
            if done is not None:
                outcomes[run.run_id] = done
            elif exit_code == 0:
                missing = output_path(run.run_id, SAMPLE_OUTPUTS_FILE)
                outcomes[run.run_id] = RunOutcome(message=f"{missing} was not written")
            elif run.run_id in started or run.run_id == refused or not reached:
                outcomes[run.run_id] = RunOutcome(failure=failure, message=reason)
            else:
                outcomes[run.run_id] = RunOutcome(not_attempted=True, message=NOT_REACHED)
        return outcomes

    def classify_failure(self, exit_code: int, log_lines: Sequence[str]) -> FailureClass | None:
        """Out of memory, bad input or a crash. Transfer samples never run the guardrails
        (inference.py:1826-1896), so there is no guardrail class."""
        if exit_code == 0:
            return None
        if base.first_matching(log_lines, base.OOM_MARKERS):
            return FailureClass.OUT_OF_MEMORY
        if base.first_matching(log_lines, BAD_INPUT_MARKERS):
            return FailureClass.BAD_INPUT
        return FailureClass.CRASH


def output_path(run_id: str, name: str) -> str:
    """A file of one sample's output folder, relative to the work directory: NVIDIA writes each
    sample under `<-o>/<name>` (scripts/inference.py:50-52) and the name is the run id."""
    return f"{OUTPUT_DIR}/{run_id}/{name}"


# -- render ------------------------------------------------------------------------------------


def _check_job(job: JobWork, workdir: str) -> None:
    if job.kind is not JobKind.INFERENCE:
        raise InvalidInput(f"Cosmos 3 has no {job.kind.value} entry point; use transfer1")
    if not job.runs:
        raise InvalidInput(f"job {job.job_id} has no runs to render")
    # `-i`, `-o` and every path in the samples are read from the checkout (the command's cwd),
    # so a relative work directory would point into it.
    if not posixpath.isabs(workdir):
        raise InvalidInput(f"the Cosmos 3 work directory must be absolute, got {workdir!r}")
    names = [run.run_id for run in job.runs]
    if len(set(names)) != len(names):
        # NVIDIA's duplicate check never fires (its set of names is never added to,
        # common/args.py:1003-1015): both samples would write one folder, the later winning.
        raise InvalidInput("sample names (run ids) must be unique within a job")
    for run in job.runs:
        if run.params.backend is not Backend.COSMOS3:
            raise InvalidInput(
                f"run {run.run_id} has {run.params.backend.value} parameters, not Cosmos 3 ones"
            )


def _process_params(job: JobWork) -> tuple[str, str, bool]:
    """The checkpoint, sampler and diffusion cache: setup flags, one per process."""
    chosen = {
        (run.params.checkpoint, run.params.sampler, run.params.diffusion_cache) for run in job.runs
    }
    if len(chosen) > 1:
        raise InvalidInput(
            "the runs of one Cosmos 3 job must share checkpoint, sampler and diffusion cache "
            "(each is a setting of the whole process); split the job"
        )
    checkpoint, sampler, cache = chosen.pop()
    if checkpoint is None or sampler is None or cache is None:
        raise InvalidInput("a Cosmos 3 run needs its checkpoint, sampler and diffusion cache")
    return checkpoint, sampler, cache


def _launcher(target: HostTarget) -> list[str]:
    """`python -m` or `torchrun ... -m`: torchrun's own flags come before `-m` (docs/faq.md:
    240-255), spelt as NVIDIA's docs spell them."""
    if target.gpus > 1:
        port = [] if target.master_port is None else [f"--master-port={target.master_port}"]
        return ["torchrun", f"--nproc-per-node={target.gpus}", *port, "-m", ENTRY_MODULE]
    return ["python", "-m", ENTRY_MODULE]


def _sample(run: RunWork, workdir: str, stage: dict[str, Path]) -> dict[str, Any]:
    """One OmniSampleOverrides object: only its keys (extra="forbid"), absolute paths, every
    sampling value explicit so sample_args.json shows what ran."""
    params = run.params
    chunk, conditional, max_frames = _chunking(run)
    if run.video_path.suffix.lower() != VISION_SUFFIX:
        raise InvalidInput(
            f"run {run.run_id}: Cosmos 3 reads the input video as video only with the .mp4 "
            f"suffix (got {run.video_path.name!r}); convert it to mp4",
            field="video",
        )
    video = f"inputs/{run.run_id}/input{VISION_SUFFIX}"
    stage[video] = run.video_path
    sample: dict[str, Any] = {
        "name": run.run_id,
        "model_mode": "video2video",
        "prompt": run.prompt,
    }
    if run.negative_prompt is not None:
        # None keeps NVIDIA's default; "" is a valid choice here (no negative conditioning).
        sample["negative_prompt"] = run.negative_prompt
    sample["vision_path"] = posixpath.join(workdir, video)
    sample["resolution"] = _required(run, "resolution", params.resolution)
    sample["aspect_ratio"] = aspect_ratio(run.video)
    fps = _fps(run)
    if fps is not None:
        sample["fps"] = fps
    sample["num_frames"] = _num_frames(run.video, max_frames)
    sample["num_steps"] = params.steps
    sample["guidance"] = float(params.guidance)
    sample["control_guidance"] = float(_required(run, "control_guidance", params.control_guidance))
    sample["shift"] = float(_required(run, "shift", params.shift))
    if params.sampler == "edm" and params.sigma_max is not None:
        sample["sigma_max"] = float(params.sigma_max)  # read only by the edm sampler
    sample["seed"] = params.seed
    sample["num_video_frames_per_chunk"] = chunk
    sample["num_conditional_frames"] = conditional
    sample["max_frames"] = max_frames
    _check_weights(run)
    for control, hint in HINTS:
        if control in run.weights:
            sample[hint] = _hint(run, control, workdir, stage)
    return sample


def _required(run: RunWork, name: str, value: Any) -> Any:
    if value is None:
        raise InvalidInput(f"run {run.run_id} has no Cosmos 3 {name}", field=name)
    return value


def _chunking(run: RunWork) -> tuple[int, int, int]:
    params = run.params
    return (
        _required(run, "chunk_frames", params.chunk_frames),
        _required(run, "conditional_frames", params.conditional_frames),
        _required(run, "max_frames", params.max_frames),
    )


def aspect_ratio(video: VideoInfo) -> str:
    """NVIDIA's nearest aspect bucket of the input (vision.py:189-194). Rendered because the
    defaults' "16,9" (defaults/video2video/sample_args.json) wins over detection
    (transfer.py:400-407) and would crop, say, a 4:3 input to 16:9."""
    current = video.width / video.height
    return min(ASPECT_RATIOS, key=lambda item: (item[1] - current) ** 2)[0]


def _fps(run: RunWork) -> int | None:
    """The run's fps, else the input's rounded rate; none when the input has no rate (NVIDIA's
    default 24 then applies). With a vision_path NVIDIA writes the input's rate whatever this
    says (transfer.py:437); it also goes into the prompt metadata (transfer.py:462)."""
    if run.params.fps is not None:
        return run.params.fps
    rate = round(run.video.fps)
    return rate if rate >= 1 else None


def _num_frames(video: VideoInfo, max_frames: int) -> int:
    """The output's length, at least 2. It does not set the length (the first control's frames
    do, transfer.py:436-440) but 1 would make the output a .jpg (args.py:437-438)."""
    return max(2, min(video.frames, max_frames))


def _check_weights(run: RunWork) -> None:
    """Weights are normalised at generation, where a negative one or a zero sum is an uncaught
    AssertionError that ends the process (transfer.py:181-189)."""
    weights = list(run.weights.values())
    if any(weight < 0 for weight in weights):
        raise InvalidInput(
            f"run {run.run_id}: control weights must not be negative", field="weights"
        )
    if not sum(weights) > 0:
        raise InvalidInput(
            f"run {run.run_id}: control weights must have a positive sum", field="weights"
        )


def _hint(run: RunWork, control: Control, workdir: str, stage: dict[str, Path]) -> dict[str, Any]:
    """One hint block: EdgeTransferOverrides, BlurTransferOverrides or TransferOverrides
    (args.py:274-295)."""
    entry: dict[str, Any] = {"weight": float(run.weights[control])}
    source = run.control_paths.get(control)
    if source is not None:
        suffix = source.suffix.lower()
        if suffix not in CONTROL_SUFFIXES:
            raise InvalidInput(
                f"run {run.run_id}: Cosmos 3 cannot read the {control.value} control "
                f"{source.name!r}; use one of {', '.join(CONTROL_SUFFIXES)}",
                field="controls",
            )
        relpath = f"inputs/{run.run_id}/{control.value}{suffix}"
        stage[relpath] = source
        entry["control_path"] = posixpath.join(workdir, relpath)
    elif control not in ON_THE_FLY:
        raise InvalidInput(
            f"run {run.run_id}: Cosmos 3 computes only edge and blur controls itself; the "
            f"{control.value} control needs a control video",
            field="controls",
        )
    if control is Control.EDGE:
        entry["preset_edge_threshold"] = run.params.canny.value
    if control is Control.VIS:
        entry["preset_blur_strength"] = run.params.blur.value
    return entry


# -- log ---------------------------------------------------------------------------------------


def parse_line(line: str) -> LogEvent | None:
    parsed, progress = base.read_line(line)
    if progress is not None:
        return progress  # the UniPC bar `Sampling: ...| k/n [...]` (samplers/unipc.py:83)
    message, at = parsed.message, parsed.at
    if SAMPLE_STARTED.search(message):
        return SamplingStarted(at=at)
    done = SAMPLE_DONE.search(message)
    if done:
        return VideoSaved(path=posixpath.join(posixpath.dirname(done["path"]), VISION_FILE), at=at)
    return base.failure_event(message, at, BAD_INPUT_MARKERS)


# -- collect -----------------------------------------------------------------------------------


def _started(
    job: JobWork, produced: set[str], texts: Mapping[str, str], log_lines: Sequence[str]
) -> set[str]:
    """Runs whose generation began: their sample_args.json exists or its line was logged."""
    names = {run.run_id for run in job.runs}
    started = {
        run.run_id
        for run in job.runs
        if output_path(run.run_id, SAMPLE_ARGS_FILE) in produced
        or output_path(run.run_id, SAMPLE_ARGS_FILE) in texts
    }
    for line in log_lines:
        found = SAMPLE_STARTED.search(line)
        if found and found["name"] in names:
            started.add(found["name"])
    return started


def _refused_sample(job: JobWork, log_lines: Sequence[str]) -> str | None:
    """The run whose sample NVIDIA refused while reading the samples file, by its index."""
    for line in log_lines:
        found = REFUSED_SAMPLE.search(line)
        if found and posixpath.basename(found["file"]) == SAMPLES_FILE:
            index = int(found["i"])
            return job.runs[index].run_id if index < len(job.runs) else None
    return None


def _finished(
    run_id: str, rendered: RenderedJob, produced: set[str], texts: Mapping[str, str]
) -> RunOutcome | None:
    """The outcome sample_outputs.json gives, None without one. A vision.mp4 alone is no
    success: it is written before the control videos and sample_outputs.json (inference.py:
    1868-1889), so a late failure can leave it."""
    text = texts.get(output_path(run_id, SAMPLE_OUTPUTS_FILE))
    if text is None:
        return None
    try:
        written = json.loads(text)
    except ValueError:
        return RunOutcome(message=f"{output_path(run_id, SAMPLE_OUTPUTS_FILE)} is not JSON")
    status = written.get("status") if isinstance(written, dict) else None
    expected = rendered.outputs[run_id]
    if status == "success":
        if expected in produced:
            return RunOutcome(output=expected)
        return RunOutcome(message=f"sample_outputs.json says success but {expected} is missing")
    reason = written.get("message") if isinstance(written, dict) else None
    return RunOutcome(message=str(reason or f"the sample ended with status {status!r}"))


def _error_message(log_lines: Sequence[str], exit_code: int) -> str:
    """Why the process failed: its out-of-memory or refusal line, else the last exception line
    of the traceback."""
    line = base.first_matching(log_lines, (*base.OOM_MARKERS, *BAD_INPUT_MARKERS))
    if line is None:
        exceptions = [text for text in map(str.strip, log_lines) if EXCEPTION_LINE.match(text)]
        line = exceptions[-1] if exceptions else None
    return line[-500:] if line else f"the process exited with code {exit_code}"
