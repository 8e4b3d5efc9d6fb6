"""Contract tests of what the Transfer2.5 backend renders and how it reads results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cosmos_workflow.backends import get_backend
from cosmos_workflow.backends.transfer2_5 import SAMPLES_FILE
from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.domain.params import Backend, JobKind, validate_params
from cosmos_workflow.domain.states import FailureClass
from cosmos_workflow.domain.work import HostTarget
from cosmos_workflow.simulator.transfer2_5 import InferenceArguments
from tests.backends.jobs import job_work, run_work

BACKEND = get_backend(Backend.TRANSFER2_5)
WORKDIR = "/jobs/job1"
T25 = Backend.TRANSFER2_5


def two_runs(distilled: bool = False) -> list:
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
    schema = set(InferenceArguments.model_fields)
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
        "examples/inference.py",
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


def test_collect_by_name_and_guardrail_skips() -> None:
    job = job_work(two_runs(), backend=T25)
    rendered = BACKEND.render(job, HostTarget(), WORKDIR)
    log = ["[05-01 10:00:00|CRITICAL|inference.py:1:f] Guardrail blocked generation. Prompt: p"]
    produced = {"outputs/r1.json", "outputs/r2.json", "outputs/r2.mp4"}
    outcomes = BACKEND.collect(job, rendered, produced, log, 0)
    assert outcomes["r1"].failure is FailureClass.GUARDRAIL
    assert outcomes["r2"].output == "outputs/r2.mp4"
    crashed = BACKEND.collect(job, rendered, {"outputs/r1.json"}, [], 1)
    assert crashed["r1"].failure is None and crashed["r1"].output is None


def test_classify_failure() -> None:
    assert BACKEND.classify_failure(1, ["1 validation error for InferenceArguments"]) is (
        FailureClass.BAD_INPUT
    )
    assert BACKEND.classify_failure(1, ["torch.OutOfMemoryError: CUDA out of memory."]) is (
        FailureClass.OUT_OF_MEMORY
    )
    assert BACKEND.classify_failure(1, ["Segmentation fault"]) is FailureClass.CRASH
