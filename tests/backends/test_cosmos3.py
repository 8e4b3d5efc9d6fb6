"""Contract tests of what the Cosmos 3 backend renders and how it reads results.

Every rendered samples file is read back through the stand-in of NVIDIA's sample schema
(tests/backends/nvidia_cli.py), with the staged files really in place."""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cosmos_workflow.backends import get_backend
from cosmos_workflow.backends.base import (
    FailureDetected,
    Progress,
    RenderedJob,
    SamplingStarted,
    VideoSaved,
)
from cosmos_workflow.backends.cosmos3 import (
    ENTRY_MODULE,
    NOT_REACHED,
    SAMPLES_FILE,
    Cosmos3Backend,
    aspect_ratio,
)
from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.domain.params import (
    C3_RESOLUTIONS,
    Backend,
    ExecutionParams,
    JobKind,
    Preset,
    validate_params,
)
from cosmos_workflow.domain.states import FailureClass
from cosmos_workflow.domain.work import HostTarget, JobWork, RunWork, VideoInfo
from tests.backends.jobs import job_work, run_work
from tests.backends.nvidia_cli import C3_HINT_KEYS, cosmos3_parser, cosmos3_samples

C3 = Backend.COSMOS3
BACKEND = get_backend(C3)


def params(controls: Mapping[Control, float], **raw: Any) -> ExecutionParams:
    return validate_params({"backend": "cosmos3", **raw}, [c.value for c in controls])


def c3_run(
    run_id: str,
    weights: Mapping[Control, float],
    inputs: Path,
    *,
    controls: tuple[Control, ...] = (),
    **raw: Any,
) -> RunWork:
    """A run whose input video and control videos exist under `inputs`."""
    inputs.mkdir(parents=True, exist_ok=True)
    video = inputs / f"{run_id}.mp4"
    video.write_bytes(b"mp4")
    paths = {}
    for control in controls:
        paths[control] = inputs / f"{run_id}_{control.value}.mp4"
        paths[control].write_bytes(b"mp4")
    run = run_work(run_id, weights, video, backend=C3, params=params(weights, **raw))
    return dataclasses.replace(run, control_paths=paths)


def three_runs(inputs: Path) -> list[RunWork]:
    return [
        c3_run("r1", {Control.EDGE: 0.8}, inputs),
        c3_run(
            "r2",
            {Control.DEPTH: 0.5, Control.VIS: 0.3},
            inputs,
            controls=(Control.DEPTH,),
            blur="high",
        ),
        c3_run("r3", {Control.WSM: 1.0}, inputs, controls=(Control.WSM,)),
    ]


def job(runs: list[RunWork]) -> JobWork:
    return job_work(runs, backend=C3)


def materialize(rendered: RenderedJob, workdir: Path) -> list[dict[str, Any]]:
    """Write the rendered files and stage the inputs as a host would, then read the samples
    the way NVIDIA does (the stand-in raises ValueError with NVIDIA's words)."""
    for relpath, text in rendered.files.items():
        (workdir / relpath).parent.mkdir(parents=True, exist_ok=True)
        (workdir / relpath).write_text(text)
    for relpath, source in rendered.stage.items():
        (workdir / relpath).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, workdir / relpath)
    return cosmos3_samples(workdir / SAMPLES_FILE)


def entry_args(argv: tuple[str, ...]) -> list[str]:
    """The entry point's own argv, after checking the launcher: `python -m MODULE` or
    `torchrun <its flags> -m MODULE` (torchrun's flags must precede `-m`)."""
    index = argv.index("-m")
    assert argv[index + 1] == ENTRY_MODULE
    launcher = argv[:index]
    assert launcher == ("python",) or (
        launcher[0] == "torchrun" and all(flag.startswith("--") for flag in launcher[1:])
    )
    return list(argv[index + 2 :])


def test_backend_is_registered() -> None:
    assert isinstance(BACKEND, Cosmos3Backend)


# -- render ------------------------------------------------------------------------------------


def test_every_sample_passes_nvidia_schema_with_real_paths(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    rendered = BACKEND.render(job(three_runs(tmp_path / "in")), HostTarget(), str(workdir))
    samples = materialize(rendered, workdir)
    assert [s["name"] for s in samples] == ["r1", "r2", "r3"]
    first, second, third = samples
    assert first == {
        "name": "r1",
        "model_mode": "video2video",
        "prompt": "a robot arm picks up a red cube",
        "negative_prompt": "blurry, low quality",
        "vision_path": f"{workdir}/inputs/r1/input.mp4",
        "resolution": "720",
        "aspect_ratio": "4,3",  # the 64x48 input of tests/backends/jobs.py
        "fps": 24,
        "num_frames": 24,
        "num_steps": 35,
        # NVIDIA's own edge values (args.py _TRANSFER_DEFAULTS), resolved at enqueue.
        "guidance": 3.0,
        "control_guidance": 1.5,
        "shift": 10.0,
        "seed": 2026,
        "num_video_frames_per_chunk": 93,
        "num_conditional_frames": 1,
        "max_frames": 5000,
        "edge": {"weight": 0.8, "preset_edge_threshold": "medium"},
    }
    # Hints in NVIDIA's order (edge, blur, depth, seg, wsm), our vis as blur.
    assert [k for k in second if k in C3_HINT_KEYS] == ["blur", "depth"]
    assert second["blur"] == {"weight": 0.3, "preset_blur_strength": "high"}
    assert second["depth"] == {"weight": 0.5, "control_path": f"{workdir}/inputs/r2/depth.mp4"}
    assert (second["guidance"], second["control_guidance"]) == (6.0, 1.0)  # several hints
    assert third["wsm"]["control_path"] == f"{workdir}/inputs/r3/wsm.mp4"
    assert third["num_video_frames_per_chunk"] == 101  # the wsm hint's own default
    assert "sigma_max" not in third  # read by the edm sampler only
    assert rendered.outputs == {r: f"outputs/{r}/vision.mp4" for r in ("r1", "r2", "r3")}
    assert rendered.read_back == tuple(
        f"outputs/{r}/{name}"
        for r in ("r1", "r2", "r3")
        for name in ("sample_outputs.json", "sample_args.json")
    )
    assert rendered.env == {}


def test_argv_single_gpu(tmp_path: Path) -> None:
    rendered = BACKEND.render(job(three_runs(tmp_path)), HostTarget(code_dir="/c3"), "/jobs/j1")
    assert rendered.argv == (
        "python",
        "-m",
        "cosmos_framework.scripts.inference",
        "--parallelism-preset=latency",
        "-i",
        "/jobs/j1/samples.jsonl",
        "-o",
        "/jobs/j1/outputs",
        "--checkpoint-path",
        "Cosmos3-Nano",
        "--max-num-seqs",
        "1",
        "--sampler",
        "unipc",
    )
    assert rendered.cwd == "/c3"
    parsed = cosmos3_parser().parse_args(entry_args(rendered.argv))
    assert parsed.input_files == ["/jobs/j1/samples.jsonl"]
    assert parsed.diffusion_cache is None and parsed.guardrails is None  # the CLI's defaults


def test_argv_multi_gpu_and_process_switches(tmp_path: Path) -> None:
    runs = [
        c3_run(f"r{i}", {Control.EDGE: 1.0}, tmp_path, sampler="edm", diffusion_cache=False)
        for i in (1, 2)
    ]
    target = HostTarget(gpus=4, master_port=29517, disable_guardrails=True)
    rendered = BACKEND.render(job(runs), target, "/jobs/j1")
    assert rendered.argv[:5] == (
        "torchrun",
        "--nproc-per-node=4",
        "--master-port=29517",
        "-m",
        "cosmos_framework.scripts.inference",
    )
    parsed = cosmos3_parser().parse_args(entry_args(rendered.argv))
    assert parsed.sampler == "edm" and parsed.diffusion_cache is False
    assert parsed.guardrails is False and parsed.parallelism_preset == "latency"
    assert parsed.max_num_seqs == 1 and parsed.checkpoint_path == "Cosmos3-Nano"
    no_port = BACKEND.render(job(runs), HostTarget(gpus=2), "/jobs/j1").argv
    assert no_port[:4] == ("torchrun", "--nproc-per-node=2", "-m", ENTRY_MODULE)


def test_edm_renders_sigma_max(tmp_path: Path) -> None:
    run = c3_run("r1", {Control.EDGE: 1.0}, tmp_path / "in", sampler="edm", sigma_max=120)
    workdir = tmp_path / "work"
    sample = materialize(BACKEND.render(job([run]), HostTarget(), str(workdir)), workdir)[0]
    assert sample["sigma_max"] == 120.0


def test_aspect_ratio_is_nvidia_nearest_bucket() -> None:
    def bucket(width: int, height: int) -> str:
        return aspect_ratio(VideoInfo(frames=10, fps=24.0, width=width, height=height))

    assert bucket(1920, 1080) == "16,9"
    assert bucket(1080, 1920) == "9,16"
    assert bucket(640, 480) == "4,3"
    assert bucket(480, 640) == "3,4"
    assert bucket(500, 500) == "1,1"
    assert bucket(2560, 1080) == "16,9"  # wider than any bucket: the widest
    # Between 4:3 and 16:9 the boundary is their mean, (4/3 + 16/9) / 2 = 1.5556.
    assert bucket(1555, 1000) == "4,3"
    assert bucket(1556, 1000) == "16,9"


def test_fps_and_frames_follow_the_input(tmp_path: Path) -> None:
    run = c3_run("r1", {Control.EDGE: 1.0}, tmp_path / "in", max_frames=100)
    cases = [
        (VideoInfo(frames=300, fps=29.97, width=64, height=48), 30, 100),
        (VideoInfo(frames=1, fps=0.0, width=64, height=48), None, 2),
    ]
    for video, fps, frames in cases:
        workdir = tmp_path / f"work{frames}"
        probed = dataclasses.replace(run, video=video)
        rendered = BACKEND.render(job([probed]), HostTarget(), str(workdir))
        sample = materialize(rendered, workdir)[0]
        assert sample.get("fps") == fps and sample["num_frames"] == frames
    fixed = dataclasses.replace(run, params=dataclasses.replace(run.params, fps=12))
    rendered = BACKEND.render(job([fixed]), HostTarget(), str(tmp_path / "w12"))
    assert json.loads(rendered.files[SAMPLES_FILE])["fps"] == 12


def test_negative_prompt_default_empty_and_own(tmp_path: Path) -> None:
    run = c3_run("r1", {Control.EDGE: 1.0}, tmp_path / "in")
    for negative, expected in ((None, None), ("", ""), ("-blurry", "-blurry")):
        renamed = dataclasses.replace(run, negative_prompt=negative)
        rendered = BACKEND.render(job([renamed]), HostTarget(), "/jobs/j1")
        sample = json.loads(rendered.files[SAMPLES_FILE])
        assert sample.get("negative_prompt") == expected
        assert ("negative_prompt" in sample) is (negative is not None)


def test_refusals(tmp_path: Path) -> None:
    good = c3_run("r1", {Control.EDGE: 1.0}, tmp_path)

    def refused(runs: list[RunWork], match: str, workdir: str = "/jobs/j1") -> None:
        with pytest.raises(InvalidInput, match=match):
            BACKEND.render(job(runs), HostTarget(), workdir)

    for other in (
        c3_run("r2", {Control.EDGE: 1.0}, tmp_path, checkpoint="Cosmos3-Super"),
        c3_run("r2", {Control.EDGE: 1.0}, tmp_path, sampler="edm"),
        c3_run("r2", {Control.EDGE: 1.0}, tmp_path, diffusion_cache=False),
    ):
        refused([good, other], "must share checkpoint, sampler and diffusion cache")
    refused([good, dataclasses.replace(good)], "unique")
    refused([good], "must be absolute", workdir="jobs/j1")
    refused([dataclasses.replace(good, video_path=tmp_path / "r1.mov")], "mp4")
    for control in (Control.DEPTH, Control.SEG, Control.WSM):
        bare = c3_run("r2", {control: 1.0}, tmp_path)
        refused([bare], f"the {control.value} control needs a control video")
    odd = dataclasses.replace(good, control_paths={Control.EDGE: tmp_path / "edge.gif"})
    refused([odd], "cannot read the edge control")
    refused([dataclasses.replace(good, weights={Control.EDGE: -0.5})], "must not be negative")
    zero = {Control.EDGE: 0.0, Control.VIS: 0.0}
    refused([dataclasses.replace(good, weights=zero)], "positive sum")
    t25 = run_work("r2", {Control.EDGE: 1.0}, tmp_path / "r1.mp4", backend=Backend.TRANSFER2_5)
    refused([t25], "transfer2.5 parameters")
    with pytest.raises(InvalidInput, match="no upscale entry point"):
        BACKEND.render(job_work([good], backend=C3, kind=JobKind.UPSCALE), HostTarget(), "/j")


def test_the_stand_in_refuses_what_nvidia_refuses(tmp_path: Path) -> None:
    """The stand-in must fail where NVIDIA fails, or the render tests prove nothing."""
    workdir = tmp_path / "work"
    rendered = BACKEND.render(job(three_runs(tmp_path / "in")), HostTarget(), str(workdir))
    materialize(rendered, workdir)
    good = [json.loads(line) for line in rendered.files[SAMPLES_FILE].splitlines()]
    broken: list[tuple[dict[str, Any], str]] = [
        ({**good[0], "control_weight": 1.0}, "Extra inputs are not permitted"),
        ({**good[0], "edge": {"weight": 1.0, "preset_blur_strength": "low"}}, "Extra inputs"),
        ({**good[0], "vision_path": str(workdir / "nope.mp4")}, "Path does not point to a file"),
        ({**good[0], "guidance": 8.0}, "guidance"),
        ({**good[0], "aspect_ratio": "2,1"}, "aspect_ratio"),
        ({**good[0], "fps": 24.5}, "fps"),
        ({k: v for k, v in good[0].items() if k != "edge"}, "at least one control hint"),
        ({**good[1], "depth": {"weight": 1.0}}, "Missing pre-computed control input"),
        ({**good[0], "edge": {"weight": 0.0}}, "positive sum"),
    ]
    for sample, match in broken:
        (workdir / SAMPLES_FILE).write_text(json.dumps(sample) + "\n")
        with pytest.raises(ValueError, match=match):
            cosmos3_samples(workdir / SAMPLES_FILE)
    (workdir / SAMPLES_FILE).write_text(json.dumps(good[0]) + "\n" + json.dumps(good[0]) + "\n")
    with pytest.raises(ValueError, match="Duplicate name: 'r1'"):
        cosmos3_samples(workdir / SAMPLES_FILE)
    with pytest.raises(SystemExit):
        cosmos3_parser().parse_args(["-i", "s.jsonl", "--checkpoint-path", "x", "--seed", "7"])


CONTROLS = list(Control)


@st.composite
def any_run(draw: st.DrawFn) -> tuple[dict[Control, float], dict[str, Any]]:
    chosen = draw(st.sets(st.sampled_from(CONTROLS), min_size=1))
    weights = {c: draw(st.floats(0.01, 1.0)) for c in chosen}
    raw: dict[str, Any] = {
        "steps": draw(st.integers(1, 1000)),
        "seed": draw(st.integers(0, 2**31 - 64)),
        "resolution": draw(st.sampled_from(C3_RESOLUTIONS)),
        "blur": draw(st.sampled_from(list(Preset))).value,
        "canny": draw(st.sampled_from(list(Preset))).value,
        "sampler": draw(st.sampled_from(["unipc", "edm"])),
        "diffusion_cache": draw(st.booleans()),
        "max_frames": draw(st.integers(1, 100_000)),
        "chunk_frames": draw(st.integers(2, 300)),
    }
    for name, high in (("guidance", 7.0), ("control_guidance", 10.0), ("shift", 100.0)):
        if draw(st.booleans()):
            raw[name] = draw(st.floats(0.01, high))
    if draw(st.booleans()):
        raw["fps"] = draw(st.integers(1, 120))
    if raw["sampler"] == "edm" and draw(st.booleans()):
        raw["sigma_max"] = draw(st.floats(0.0, 200.0))
    return weights, raw


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    runs=st.lists(any_run(), min_size=1, max_size=4),
    video=st.builds(
        VideoInfo,
        frames=st.integers(1, 10_000),
        fps=st.floats(0.0, 240.0),
        width=st.integers(16, 8192),
        height=st.integers(16, 8192),
    ),
    gpus=st.integers(1, 8),
)
def test_every_valid_run_renders_a_sample_nvidia_accepts(
    runs: list[tuple[dict[Control, float], dict[str, Any]]], video: VideoInfo, gpus: int
) -> None:
    """Any valid parameters and weights: the samples pass NVIDIA's schema, the argv its setup
    parser. The process settings are the first run's (a job shares them)."""
    first = runs[0][1]
    shared = {k: first[k] for k in ("sampler", "diffusion_cache")}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        work = []
        for i, (weights, raw) in enumerate(runs):
            raw = {**raw, **shared}
            if raw["sampler"] != "edm":
                raw.pop("sigma_max", None)
            raw["conditional_frames"] = min(raw["chunk_frames"] - 1, 4)
            paths = tuple(c for c in weights if c not in (Control.EDGE, Control.VIS))
            run = c3_run(f"r{i}", weights, root / "in", controls=paths, **raw)
            work.append(dataclasses.replace(run, video=video))
        rendered = BACKEND.render(job(work), HostTarget(gpus=gpus), str(root / "work"))
        samples = materialize(rendered, root / "work")
    assert [s["name"] for s in samples] == [f"r{i}" for i in range(len(runs))]
    cosmos3_parser().parse_args(entry_args(rendered.argv))


# -- log ---------------------------------------------------------------------------------------

WHERE = "cosmos_framework/inference/inference.py:1843:_generate_transfer_batch"


def line(message: str, level: str = "INFO", where: str = WHERE) -> str:
    """A console line as common/init.py:45-52 formats it (job name empty in inference)."""
    return f"[05-01 10:00:00|job=|{level}|{where}] {message}"


def test_parse_line_reads_nvidia_exact_strings() -> None:
    started = BACKEND.parse_line(
        line("[RANK 0] Saved sample args to '/jobs/j1/outputs/r1/sample_args.json'")
    )
    assert isinstance(started, SamplingStarted) and started.at is not None
    done = BACKEND.parse_line(
        line(
            "[RANK 0] Saved transfer outputs to '/jobs/j1/outputs/r1/sample_outputs.json'",
            "SUCCESS",
        )
    )
    assert done == VideoSaved(path="/jobs/j1/outputs/r1/vision.mp4", at=started.at)
    bar = "Sampling:  40%|████      | 14/35 [00:28<00:42,  2.01s/it]"
    assert BACKEND.parse_line(bar) == Progress(step=14, total=35)
    redrawn = "Sampling:   0%|          | 0/35 [00:00<?, ?it/s]\r" + bar.replace("14/35", "15/35")
    assert BACKEND.parse_line(redrawn) == Progress(step=15, total=35)
    rank_line = "[05-01 10:00:00|job=|[Node0  /1  ][RANK1    /4    ][MainProc]| INFO|a.py:1:f] x"
    assert BACKEND.parse_line(rank_line) is None
    for quiet in (
        line("Using sampler: UniPC (shift=10.0, num_steps=35)"),
        line("Loaded 3 samples"),
        line("Computing edge control input on the fly"),
    ):
        assert BACKEND.parse_line(quiet) is None


def test_parse_line_failures() -> None:
    oom = BACKEND.parse_line("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate")
    assert isinstance(oom, FailureDetected) and oom.cls is FailureClass.OUT_OF_MEMORY
    for message in (
        "ValueError: Error validating parameters from '/jobs/j1/samples.jsonl' at sample 1",
        "  Extra inputs are not permitted [type=extra_forbidden, input_value=1, input_type=int]",
        "ValueError: Duplicate name: 'r1'",
        "FileNotFoundError: Missing pre-computed control input for 'depth'. Provide a "
        "control_path in the transfer config.",
        "ValueError: Invalid vision extension: .mov",
        "AssertionError: control_weights must have a positive sum, got [0.0]",
    ):
        event = BACKEND.parse_line(message)
        assert isinstance(event, FailureDetected) and event.cls is FailureClass.BAD_INPUT


# -- collect -----------------------------------------------------------------------------------

SUCCESS = json.dumps({"args": {"name": "x"}, "status": "success", "outputs": []})


def collect(
    runs: list[RunWork], produced: set[str], lines: list[str], exit_code: int, texts: set[str]
) -> dict[str, Any]:
    """Collect with `texts` = the given sample_outputs.json files, each a success."""
    rendered = BACKEND.render(job(runs), HostTarget(), "/jobs/j1")
    read = {rel: SUCCESS for rel in texts}
    assert set(read) <= set(rendered.read_back)
    return BACKEND.collect(job(runs), rendered, produced, lines, exit_code, read)


def test_success_needs_sample_outputs_and_the_video(tmp_path: Path) -> None:
    runs = three_runs(tmp_path)[:2]
    produced = {
        "outputs/r1/vision.mp4",
        "outputs/r1/sample_outputs.json",
        "outputs/r1/sample_args.json",
        "outputs/r2/vision.mp4",  # a late failure: no sample_outputs.json
        "outputs/r2/sample_args.json",
    }
    lines = ["Traceback (most recent call last):", "OSError: [Errno 28] No space left on device"]
    outcomes = collect(runs, produced, lines, 1, {"outputs/r1/sample_outputs.json"})
    assert outcomes["r1"].output == "outputs/r1/vision.mp4"
    assert outcomes["r2"].output is None and outcomes["r2"].failure is FailureClass.CRASH
    assert "No space left" in outcomes["r2"].message
    # A success file whose video is gone is no success either.
    gone = collect(runs, set(), [], 0, {"outputs/r1/sample_outputs.json"})
    assert gone["r1"].output is None and "vision.mp4 is missing" in gone["r1"].message


def test_crash_mid_job(tmp_path: Path) -> None:
    """r1 succeeded, r2 started (its sample_args line) and died, r3 never started."""
    runs = three_runs(tmp_path)
    lines = [
        line("[RANK 0] Saved sample args to '/jobs/j1/outputs/r1/sample_args.json'"),
        line("[RANK 0] Saved transfer outputs to '/jobs/j1/outputs/r1/sample_outputs.json'"),
        line("[RANK 0] Saved sample args to '/jobs/j1/outputs/r2/sample_args.json'"),
        "Traceback (most recent call last):",
        "RuntimeError: CUDA error: an illegal memory access was encountered",
    ]
    produced = {"outputs/r1/vision.mp4", "outputs/r1/sample_outputs.json"}
    outcomes = collect(runs, produced, lines, 1, {"outputs/r1/sample_outputs.json"})
    assert outcomes["r1"].output == "outputs/r1/vision.mp4"
    assert outcomes["r2"].failure is FailureClass.CRASH and not outcomes["r2"].not_attempted
    assert "illegal memory access" in outcomes["r2"].message
    assert outcomes["r3"].not_attempted and outcomes["r3"].message == NOT_REACHED
    assert outcomes["r3"].failure is None and outcomes["r3"].output is None
    # Known from its sample_args.json alone (the line lost), r2 is still the started one.
    quiet = collect(runs, produced | {"outputs/r2/sample_args.json"}, [], 1, set())
    assert quiet["r2"].failure is FailureClass.CRASH and quiet["r3"].not_attempted


def test_exit_zero_with_a_missing_file_is_a_missing_output(tmp_path: Path) -> None:
    runs = three_runs(tmp_path)[:2]
    produced = {"outputs/r1/vision.mp4", "outputs/r1/sample_outputs.json"}
    outcomes = collect(runs, produced, [], 0, {"outputs/r1/sample_outputs.json"})
    assert outcomes["r1"].output == "outputs/r1/vision.mp4"
    r2 = outcomes["r2"]
    assert r2.output is None and r2.failure is None and not r2.not_attempted
    assert "outputs/r2/sample_outputs.json was not written" in r2.message


def test_a_refused_sample_is_charged_and_the_others_requeued(tmp_path: Path) -> None:
    runs = three_runs(tmp_path)
    lines = [
        "ValueError: Error validating parameters from '/jobs/j1/samples.jsonl' at sample 1",
        "  Extra inputs are not permitted",
    ]
    outcomes = collect(runs, set(), lines, 1, set())
    assert outcomes["r2"].failure is FailureClass.BAD_INPUT
    assert "at sample 1" in outcomes["r2"].message
    assert outcomes["r1"].not_attempted and outcomes["r3"].not_attempted


def test_a_failure_before_any_sample_is_every_runs(tmp_path: Path) -> None:
    """Nothing started and no sample named: requeueing them uncharged would loop forever."""
    runs = three_runs(tmp_path)
    lines = ["ValueError: Checkpoint directory does not exist: /ckpt"]
    outcomes = collect(runs, set(), lines, 1, set())
    assert all(o.failure is FailureClass.BAD_INPUT for o in outcomes.values())
    assert not any(o.not_attempted for o in outcomes.values())
    killed = collect(runs, set(), [], -9, set())
    assert all(o.failure is FailureClass.CRASH for o in killed.values())
    assert killed["r1"].message == "the process exited with code -9"


def test_a_written_status_other_than_success(tmp_path: Path) -> None:
    runs = three_runs(tmp_path)[:1]
    rendered = BACKEND.render(job(runs), HostTarget(), "/jobs/j1")
    skip = json.dumps({"args": {"name": "r1"}, "status": "skip", "message": "Skipping 'r1'"})
    texts = {"outputs/r1/sample_outputs.json": skip}
    produced = {"outputs/r1/vision.mp4"}
    outcomes = BACKEND.collect(job(runs), rendered, produced, [], 0, texts)
    assert outcomes["r1"].output is None and outcomes["r1"].message == "Skipping 'r1'"


def test_classify_failure() -> None:
    assert BACKEND.classify_failure(0, ["CUDA out of memory"]) is None
    oom = ["torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"]
    assert BACKEND.classify_failure(1, oom) is FailureClass.OUT_OF_MEMORY
    bad = ["ValueError: Path does not point to a file: /jobs/j1/inputs/r1/input.mp4"]
    assert BACKEND.classify_failure(1, bad) is FailureClass.BAD_INPUT
    assert BACKEND.classify_failure(1, ["Segmentation fault"]) is FailureClass.CRASH
    # Guardrail lines cannot come from a transfer sample; they are no class of their own.
    assert BACKEND.classify_failure(1, ["GUARDRAIL BLOCKED: x"]) is FailureClass.CRASH
