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

# Messages the simulator prints; the real sample-start line is not documented in the reference,
# so the first tqdm bar of a sample also counts as its start (see parse_line).
SAMPLE_STARTED = re.compile(r"^Generating sample (?P<name>\S+)")
SAVED_VIDEO = re.compile(r"Saved video to (?P<path>.+?)\s*$")
# Both guardrail messages of a blocked sample (reference 2.4).
GUARDRAIL_MARKERS = ("Guardrail blocked generation", "Guardrail blocked video2world generation")

BAD_INPUT_MARKERS = (
    "validation error for",
    "Extra inputs are not permitted",
    "No controls provided",
    "Unsupported file extension",
    "Path does not point to a file",
    "Sample names must be unique",
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
        """Outputs are named by sample, so there is no index shift. A sample the guardrail
        skipped has its `<name>.json` (written before generation) but no mp4; when the log's
        guardrail lines are exactly as many as such samples, each of them failed on the
        guardrail."""
        blocked_lines = [line for line in log_lines if _is_guardrail(line)]
        missing = [
            run
            for run in job.runs
            if rendered.outputs[run.run_id] not in produced
            and f"{OUTPUT_DIR}/{run.run_id}.json" in produced
        ]
        guardrail = exit_code == 0 and blocked_lines and len(blocked_lines) == len(missing)
        outcomes: dict[str, RunOutcome] = {}
        for run in job.runs:
            expected = rendered.outputs[run.run_id]
            if expected in produced:
                outcomes[run.run_id] = RunOutcome(output=expected)
            elif guardrail and run in missing:
                message = base.split_log_line(blocked_lines[missing.index(run)]).message
                outcomes[run.run_id] = RunOutcome(failure=FailureClass.GUARDRAIL, message=message)
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
        if any(_is_guardrail(line) for line in log_lines):
            return FailureClass.GUARDRAIL
        return FailureClass.CRASH


def _launcher(target: HostTarget) -> list[str]:
    if target.gpus > 1:
        return ["torchrun", "--nproc_per_node", str(target.gpus), INFERENCE_SCRIPT]
    return ["python", INFERENCE_SCRIPT]


def _sample(run: RunWork, workdir: str, stage: dict[str, Any]) -> dict[str, Any]:
    """One InferenceArguments object. Only schema keys: the model refuses any other key."""
    params = run.params
    video = f"inputs/{run.run_id}/input{run.video_path.suffix or '.mp4'}"
    stage[video] = run.video_path
    sample: dict[str, Any] = {
        "name": run.run_id,
        "prompt": run.prompt,
        "negative_prompt": run.negative_prompt,
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
