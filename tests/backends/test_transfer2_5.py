"""Contract tests of what the Transfer2.5 backend renders and how it reads results."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from cosmos_workflow.backends import get_backend
from cosmos_workflow.backends.transfer2_5 import DEFAULT_NEGATIVE_PROMPT, SAMPLES_FILE
from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.domain.params import Backend, JobKind, validate_params
from cosmos_workflow.domain.states import FailureClass
from cosmos_workflow.domain.work import HostTarget, RunWork
from tests.backends.jobs import job_work, run_work
from tests.backends.nvidia_cli import T25_SAMPLE_KEYS

BACKEND = get_backend(Backend.TRANSFER2_5)
WORKDIR = "/jobs/job1"
T25 = Backend.TRANSFER2_5


def two_runs(distilled: bool = False) -> list[RunWork]:
    params = validate_params(
        {"backend": "transfer2.5", "guidance": 4, "sigma_max": 80, "distilled": distilled}
    )
    return [
        run_work("r1", {Control.EDGE: 0.8}, Path("/data/a.mp4"), backend=T25, params=params),
        run_work(
            "r2",
            {Control.DEPTH: 0.5, Control.VIS: 0.3},
            Path("/data/b.mp4"),
            backend=T25,
            params=params,
            control_paths={Control.DEPTH: Path("/data/b_depth.mp4")},
        ),
    ]


def test_samples_use_only_schema_keys_with_the_schema_types() -> None:
    rendered = BACKEND.render(job_work(two_runs(), backend=T25), HostTarget(), WORKDIR)
    samples = [json.loads(line) for line in rendered.files[SAMPLES_FILE].splitlines()]
    schema = T25_SAMPLE_KEYS  # NVIDIA's InferenceArguments is extra="forbid"
    assert [s["name"] for s in samples] == ["r1", "r2"]
    for sample in samples:
        assert set(sample) <= schema
        assert {
            "name",
            "prompt",
            "negative_prompt",
            "video_path",
            "seed",
            "guidance",
            "num_steps",
            "sigma_max",
        } <= set(sample)
        assert isinstance(sample["sigma_max"], str) and sample["sigma_max"] == "80.0"
        assert isinstance(sample["guidance"], int) and sample["guidance"] == 4
    first, second = samples
    assert first["edge"] == {"control_weight": 0.8, "preset_edge_threshold": "medium"}
    assert "depth" not in first and "vis" not in first
    assert second["depth"] == {
        "control_weight": 0.5,
        "control_path": f"{WORKDIR}/inputs/r2/depth.mp4",
    }
    assert second["vis"] == {"control_weight": 0.3, "preset_blur_strength": "medium"}
    assert second["video_path"] == f"{WORKDIR}/inputs/r2/input.mp4"
    assert rendered.outputs == {"r1": "outputs/r1.mp4", "r2": "outputs/r2.mp4"}
    assert rendered.stage[Path("inputs/r2/depth.mp4").as_posix()] == Path("/data/b_depth.mp4")


def test_argv_single_and_multi_gpu() -> None:
    job = job_work(two_runs(), backend=T25)
    single = BACKEND.render(job, HostTarget(code_dir="/t25"), WORKDIR)
    assert single.argv == (
        "python",
        "/t25/examples/inference.py",
        "-i",
        f"{WORKDIR}/{SAMPLES_FILE}",
        "-o",
        f"{WORKDIR}/outputs",
    )
    assert single.cwd == "/t25" and single.env == {}
    multi = BACKEND.render(job, HostTarget(gpus=8, disable_guardrails=True), ".")
    assert multi.argv == (
        "torchrun",
        "--nproc_per_node",
        "8",
        "examples/inference.py",
        "-i",
        SAMPLES_FILE,
        "-o",
        "outputs",
        "--disable-guardrails",
    )


def test_distilled_selects_the_experimental_model() -> None:
    rendered = BACKEND.render(job_work(two_runs(True)[:1], backend=T25), HostTarget(), WORKDIR)
    argv = rendered.argv
    assert argv[argv.index("--model") + 1] == "edge/distilled"
    assert rendered.env == {"COSMOS_EXPERIMENTAL_CHECKPOINTS": "1"}


def test_only_inference_jobs() -> None:
    job = job_work(two_runs()[:1], backend=T25, kind=JobKind.UPSCALE)
    with pytest.raises(InvalidInput):
        BACKEND.render(job, HostTarget(), WORKDIR)


def stdout_line(message: str, level: str = "INFO") -> str:
    return f"[05-01 10:00:00|{level}|cosmos_transfer2/inference.py:1:f] {message}"


def debug_line(message: str, where: str = "cosmos_transfer2/inference.py:167:generate") -> str:
    return f"[05-01 10:00:00|CRITICAL|{where}] {message}"


PRESETS = "cosmos_transfer2/_src/imaginaire/auxiliary/guardrail/common/presets.py:74:run_video"


def three_runs() -> list[RunWork]:
    first, second = two_runs()
    return [first, second, dataclasses.replace(first, run_id="r3")]


def test_debug_log_is_read_back_and_names_the_blocked_sample() -> None:
    job = job_work(three_runs(), backend=T25)
    rendered = BACKEND.render(job, HostTarget(), WORKDIR)
    # cosmos_oss/init.py writes debug.log into the -o folder.
    assert rendered.read_back == ("outputs/debug.log",)
    stdout = [stdout_line(f"[{i}/3] Processing sample r{i}") for i in (1, 2, 3)]
    debug = "\n".join(
        [
            debug_line("[1/3] Processing sample r1"),
            debug_line("[2/3] Processing sample r2"),
            debug_line("GUARDRAIL BLOCKED: VIDEOCONTENTSAFETYFILTER: unsafe", PRESETS),
            debug_line("[3/3] Processing sample r3"),
        ]
    )
    produced = {"outputs/r1.mp4", "outputs/r1.json", "outputs/r2.json", "outputs/r3.json"}
    texts = {"outputs/debug.log": debug}
    outcomes = BACKEND.collect(job, rendered, produced, stdout, 0, texts)
    assert outcomes["r1"].output == "outputs/r1.mp4"
    assert outcomes["r2"].failure is FailureClass.GUARDRAIL
    assert "VIDEOCONTENTSAFETYFILTER" in outcomes["r2"].message
    # No output and no block: not produced (the worker records a missing output).
    assert outcomes["r3"].failure is None and outcomes["r3"].output is None
    # Without debug.log the video block is invisible: r2 is only "not produced".
    unread = BACKEND.collect(job, rendered, produced, stdout, 0)
    assert unread["r2"].failure is None


def test_a_text_block_on_stdout_is_attributed_to_its_sample() -> None:
    job = job_work(three_runs(), backend=T25)
    rendered = BACKEND.render(job, HostTarget(), WORKDIR)
    stdout = [
        stdout_line("[1/3] Processing sample r1"),
        stdout_line("[2/3] Processing sample r2"),
        stdout_line("[3/3] Processing sample r3"),
        stdout_line("Guardrail blocked generation. Prompt: p", "CRITICAL"),
    ]
    produced = {"outputs/r1.mp4", "outputs/r2.mp4"}
    outcomes = BACKEND.collect(job, rendered, produced, stdout, 0)
    assert outcomes["r1"].output and outcomes["r2"].output
    assert outcomes["r3"].failure is FailureClass.GUARDRAIL
    crashed = BACKEND.collect(job, rendered, {"outputs/r1.json"}, [], 1)
    assert crashed["r1"].failure is None and crashed["r1"].output is None


def test_negative_prompt_default_and_empty() -> None:
    runs = [dataclasses.replace(run, negative_prompt=None) for run in two_runs()]
    rendered = BACKEND.render(job_work(runs, backend=T25), HostTarget(), WORKDIR)
    samples = [json.loads(line) for line in rendered.files[SAMPLES_FILE].splitlines()]
    assert {s["negative_prompt"] for s in samples} == {DEFAULT_NEGATIVE_PROMPT}
    assert DEFAULT_NEGATIVE_PROMPT.startswith("The video captures a game playing, with bad")
    empty = [dataclasses.replace(runs[0], negative_prompt="")]
    with pytest.raises(InvalidInput, match="empty negative prompt"):
        BACKEND.render(job_work(empty, backend=T25), HostTarget(), WORKDIR)


def test_distilled_takes_exactly_the_edge_key() -> None:
    edge = two_runs(True)[0]
    BACKEND.render(job_work([edge], backend=T25), HostTarget(), WORKDIR)
    for weights in ({Control.DEPTH: 1.0}, {Control.EDGE: 0.5, Control.VIS: 0.5}):
        run = dataclasses.replace(edge, weights=weights)
        with pytest.raises(InvalidInput, match="edge control alone"):
            BACKEND.render(job_work([run], backend=T25), HostTarget(), WORKDIR)


def test_classify_failure() -> None:
    assert BACKEND.classify_failure(1, ["1 validation error for InferenceArguments"]) is (
        FailureClass.BAD_INPUT
    )
    assert BACKEND.classify_failure(1, ["torch.OutOfMemoryError: CUDA out of memory."]) is (
        FailureClass.OUT_OF_MEMORY
    )
    assert BACKEND.classify_failure(1, ["Segmentation fault"]) is FailureClass.CRASH
    duplicate = ["Error: Inference samplename r1 is not unique"]
    assert BACKEND.classify_failure(1, duplicate) is FailureClass.BAD_INPUT
    # keep_going (the default) moves on after a block: a later exit is not the guardrail's.
    blocked = [stdout_line("Guardrail blocked generation. Prompt: p"), "Segmentation fault"]
    assert BACKEND.classify_failure(1, blocked) is FailureClass.CRASH
