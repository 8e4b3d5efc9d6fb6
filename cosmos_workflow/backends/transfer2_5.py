"""Cosmos-Transfer2.5: one JSONL of samples for examples/inference.py, and reading its log.

Contract: InferenceArguments (cosmos_transfer2/config.py, `extra="forbid"`) as described in
docs/contracts.md. Samples run one after another in one process; every sampling parameter is per
sample, so runs with different parameters still share the process."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from cosmos_workflow.backends import base
from cosmos_workflow.backends.base import (
    GuardrailBlocked,
    LogEvent,
    RenderedJob,
    RunOutcome,
    SamplingStarted,
    VideoSaved,
    at_workdir,
)
from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.domain.params import JobKind
from cosmos_workflow.domain.states import FailureClass
from cosmos_workflow.domain.work import HostTarget, JobWork, RunWork

INFERENCE_SCRIPT = "examples/inference.py"
SAMPLES_FILE = "samples.jsonl"
OUTPUT_DIR = "outputs"
DISTILLED_MODEL = "edge/distilled"
# Needed for `--model edge/distilled` to be a valid choice (reference 2.1).
EXPERIMENTAL_ENV = {"COSMOS_EXPERIMENTAL_CHECKPOINTS": "1"}

# InferenceArguments' `negative_prompt` default (config.py 210, 520), rendered when a run has none.
DEFAULT_NEGATIVE_PROMPT = (
    "The video captures a game playing, with bad crappy graphics and cartoonish frames. It "
    "represents a recording of old outdated games. The lighting looks very fake. The textures "
    "are very raw and basic. The geometries are very primitive. The images are very pixelated "
    "and of poor CG quality. There are many subtitles in the footage. Overall, the video is "
    "unrealistic at all."
)
# cosmos_oss/init.py writes every log record of rank 0, at DEBUG level, to `debug.log` in the
# output folder. The video guardrail's only line (`GUARDRAIL BLOCKED: ...`, from a
# `cosmos_transfer2._src` logger) is filtered out of stdout, so collect reads it from there.
DEBUG_LOG = f"{OUTPUT_DIR}/debug.log"

# cosmos_transfer2/inference.py: each sample starts with `[i/n] Processing sample <name>` and,
# when it was not blocked, ends with `Generated video saved to <output_dir>/<name>.<mp4|jpg>`.
SAMPLE_STARTED = re.compile(r"^\[(?P<i>\d+)/(?P<n>\d+)\] Processing sample (?P<name>.+?)\s*$")
SAVED_VIDEO = re.compile(r"^Generated video saved to (?P<path>.+?)\s*$")
# A blocked prompt or negative prompt logs "Guardrail blocked generation. Prompt: ..." (visible on
# stdout); the guardrail itself logs "GUARDRAIL BLOCKED: <reason>" (debug.log only) for prompts
# and videos alike.
GUARDRAIL_MARKERS = ("Guardrail blocked generation", "GUARDRAIL BLOCKED:")
# With keep_going=False (never rendered) a block raises this instead of moving on.
GUARDRAIL_EXIT = "Exception: Guardrail blocked"

# Refusals of examples/inference.py before any model loads: pydantic validation of each sample
# (printed after "Error validating parameters from ..."), the file and name checks of
# config.py, missing files.
BAD_INPUT_MARKERS = (
    "validation error for",
    "Error validating parameters from",
    "Extra inputs are not permitted",
    "No controls provided",
    "Unsupported file extension",
    "Path does not point to a file",
    "Error: Inference samplename",
    "Error: No inference parameter files",
    "Error: No inference samples",
    "FileNotFoundError",
    "No such file or directory",
)


class Transfer25Backend:
    """Renders and reads cosmos-transfer2.5 inference jobs."""

    def render(self, job: JobWork, target: HostTarget, workdir: str) -> RenderedJob:
        if job.kind is not JobKind.INFERENCE:
            raise InvalidInput(f"Transfer2.5 has no {job.kind.value} entry point; use transfer1")
        if not job.runs:
            raise InvalidInput(f"job {job.job_id} has no runs to render")
        distilled = {run.params.distilled for run in job.runs}
        if len(distilled) > 1:
            raise InvalidInput("distilled and base runs load different models; split the job")
        if distilled == {True}:
            _check_distilled(job)
        stage: dict[str, Any] = {}
        lines = [json.dumps(_sample(run, workdir, stage)) for run in job.runs]
        names = [run.run_id for run in job.runs]
        if len(set(names)) != len(names):
            raise InvalidInput("sample names (run ids) must be unique within a job")
        argv = _launcher(target)
        argv += ["-i", at_workdir(workdir, SAMPLES_FILE), "-o", at_workdir(workdir, OUTPUT_DIR)]
        env: dict[str, str] = {}
        if distilled == {True}:
            argv += ["--model", DISTILLED_MODEL]
            env.update(EXPERIMENTAL_ENV)
        if target.disable_guardrails:
            argv.append("--disable-guardrails")
        return RenderedJob(
            argv=tuple(argv),
            cwd=target.code_dir,
            env=env,
            files={SAMPLES_FILE: "\n".join(lines) + "\n"},
            stage=stage,
            outputs={run.run_id: f"{OUTPUT_DIR}/{run.run_id}.mp4" for run in job.runs},
            read_back=(DEBUG_LOG,),
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
        """Outputs are named by sample, so there is no index shift. A sample without its mp4 failed
        on the guardrail when a block line follows its `Processing sample` line (in debug.log,
        where video blocks are logged, or on stdout); otherwise it was not produced."""
        names = [run.run_id for run in job.runs]
        blocks = _blocks(log_lines, names)
        if texts and DEBUG_LOG in texts:
            # debug.log first: it has the guardrail's own reason before the summary line.
            blocks |= _blocks(texts[DEBUG_LOG].splitlines(), names)
        outcomes: dict[str, RunOutcome] = {}
        for run in job.runs:
            expected = rendered.outputs[run.run_id]
            block = blocks.get(run.run_id)
            if expected in produced:
                outcomes[run.run_id] = RunOutcome(output=expected)
            elif block is not None:
                outcomes[run.run_id] = RunOutcome(failure=FailureClass.GUARDRAIL, message=block)
            else:
                outcomes[run.run_id] = RunOutcome(message=f"{expected} was not produced")
        return outcomes

    def classify_failure(self, exit_code: int, log_lines: Sequence[str]) -> FailureClass | None:
        if exit_code == 0:
            return None
        if base.first_matching(log_lines, base.OOM_MARKERS):
            return FailureClass.OUT_OF_MEMORY
        if base.first_matching(log_lines, BAD_INPUT_MARKERS):
            return FailureClass.BAD_INPUT
        # keep_going (the default) skips a blocked sample and carries on: only the exception of
        # keep_going=False ends the process on a block.
        if base.first_matching(log_lines, (GUARDRAIL_EXIT,)):
            return FailureClass.GUARDRAIL
        return FailureClass.CRASH


def _check_distilled(job: JobWork) -> None:
    """Only `edge/distilled` is registered: with any other hint key across the samples, or with
    several (the multicontrol branch list), the entry point raises KeyError on ModelKey."""
    for run in job.runs:
        if set(run.weights) != {Control.EDGE}:
            raise InvalidInput(
                f"run {run.run_id}: the distilled Transfer2.5 model takes the edge control alone"
            )


def _blocks(lines: Sequence[str], names: Sequence[str]) -> dict[str, str]:
    """The first guardrail message of each blocked sample, by sample name. Samples run in order
    and a block belongs to the sample started last; a start line is matched by its name, or by
    its position `[i/n]` should the name not be one of the job's."""
    blocks: dict[str, str] = {}
    current: str | None = None
    for line in lines:
        message = base.split_log_line(base.last_carriage_segment(line)).message
        started = SAMPLE_STARTED.match(message)
        if started:
            current = _sample_name(started, names)
        elif current is not None and _is_guardrail(message):
            blocks.setdefault(current, message)
    return blocks


def _sample_name(started: re.Match[str], names: Sequence[str]) -> str | None:
    if started["name"] in names:
        return started["name"]
    position = int(started["i"])
    return names[position - 1] if 1 <= position <= len(names) else None


def _launcher(target: HostTarget) -> list[str]:
    script = base.in_checkout(target, INFERENCE_SCRIPT)
    if target.gpus > 1:
        return [
            "torchrun",
            "--nproc_per_node",
            str(target.gpus),
            *base.master_port_flags(target),
            script,
        ]
    return ["python", script]


def _sample(run: RunWork, workdir: str, stage: dict[str, Any]) -> dict[str, Any]:
    """One InferenceArguments object. Only schema keys: the model refuses any other key."""
    params = run.params
    video = f"inputs/{run.run_id}/input{run.video_path.suffix or '.mp4'}"
    stage[video] = run.video_path
    sample: dict[str, Any] = {
        "name": run.run_id,
        "prompt": run.prompt,
        "negative_prompt": base.negative_prompt(run, DEFAULT_NEGATIVE_PROMPT),
        "video_path": at_workdir(workdir, video),
        "seed": params.seed,
        "guidance": round(params.guidance),
        "num_steps": params.steps,
    }
    if params.sigma_max is not None:
        sample["sigma_max"] = repr(float(params.sigma_max))
    for control in Control:
        if control in run.weights:
            sample[control.value] = _control(run, control, workdir, stage)
    return sample


def _control(run: RunWork, control: Control, workdir: str, stage: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"control_weight": float(run.weights[control])}
    source = run.control_paths.get(control)
    if source is not None:
        relpath = f"inputs/{run.run_id}/{control.value}{source.suffix or '.mp4'}"
        stage[relpath] = source
        entry["control_path"] = at_workdir(workdir, relpath)
    if control is Control.VIS:
        entry["preset_blur_strength"] = run.params.blur.value
    if control is Control.EDGE:
        entry["preset_edge_threshold"] = run.params.canny.value
    return entry


def _is_guardrail(line: str) -> bool:
    return any(marker in line for marker in GUARDRAIL_MARKERS)


def parse_line(line: str) -> LogEvent | None:
    parsed, progress = base.read_line(line)
    if progress is not None:
        return progress
    message, at = parsed.message, parsed.at
    if SAMPLE_STARTED.match(message):
        return SamplingStarted(at=at)
    saved = SAVED_VIDEO.search(message)
    if saved:
        return VideoSaved(path=saved["path"], at=at)
    if _is_guardrail(message):
        return GuardrailBlocked(None, False, message, at=at)
    return base.failure_event(message, at, BAD_INPUT_MARKERS)
