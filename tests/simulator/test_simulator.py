"""The simulator as a real process: outputs, refusals, faults, and what the backends read back."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import av

from cosmos_workflow.backends import get_backend
from cosmos_workflow.backends.base import SamplingStarted, split_log_line
from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.params import Backend, JobKind, upscale_params, validate_params
from cosmos_workflow.domain.states import FailureClass
from cosmos_workflow.domain.work import HostTarget, JobWork
from tests.backends.jobs import job_work, run_work
from tests.simulator.conftest import SimRun, simulate

T1 = get_backend(Backend.TRANSFER1)
T25 = get_backend(Backend.TRANSFER2_5)
T1_SCRIPT = "cosmos_transfer1/diffusion/inference/transfer.py"
RunJob = Callable[..., SimRun]


def decoded_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def mixed_batch(videos: dict[str, Path], size: int = 3) -> JobWork:
    runs = [
        run_work("r1", {Control.EDGE: 0.5}, videos["a"]),
        run_work(
            "r2", {Control.DEPTH: 0.4}, videos["b"], control_paths={Control.DEPTH: videos["depth"]}
        ),
        run_work("r3", {Control.EDGE: 0.3, Control.DEPTH: 0.6}, videos["a"]),
    ]
    return job_work(runs, gpu_batch_size=size)


def test_transfer1_batch_writes_playable_videos_in_the_real_layout(
    run_job: RunJob, videos: dict[str, Path]
) -> None:
    job = mixed_batch(videos)
    sim = run_job(job)
    assert sim.exit_code == 0, sim.stderr
    outcomes = sim.collect(job)
    for index, run in enumerate(job.runs):
        assert outcomes[run.run_id].output == f"outputs/video_{index}/output.mp4"
        assert decoded_frames(sim.workdir / outcomes[run.run_id].output) == 24
        prompt = sim.workdir / f"outputs/video_{index}/prompt.txt"
        assert prompt.read_text(encoding="utf-8") == run.prompt
    assert "Running batch generation with batch_size=3" in sim.stdout
    with av.open(str(sim.workdir / "outputs/video_0/output.mp4")) as container:
        assert container.streams.video[0].width <= 256


def test_log_timestamps_run_on_the_simulated_clock(
    run_job: RunJob, videos: dict[str, Path]
) -> None:
    sim = run_job(mixed_batch(videos))
    stamps = [split_log_line(line).at for line in sim.stdout.splitlines()]
    first = stamps[0]
    started = [T1.parse_line(line) for line in sim.stdout.splitlines()]
    sampling = next(e for e in started if isinstance(e, SamplingStarted))
    assert first is not None and sampling.at is not None and stamps[-1] is not None
    # Loading alone is tens of simulated seconds although the process slept for none of them.
    assert sampling.at - first > 10
    assert stamps[-1] - sampling.at > 35  # 35 steps of several simulated seconds each


def test_single_run_output_and_prompt_file(run_job: RunJob, videos: dict[str, Path]) -> None:
    job = job_work([run_work("solo", {Control.VIS: 0.7}, videos["a"])])
    sim = run_job(job)
    assert sim.exit_code == 0, sim.stderr
    assert sim.collect(job)["solo"].output == "outputs/solo.mp4"
    assert decoded_frames(sim.workdir / "outputs/solo.mp4") == 24
    assert (sim.workdir / "outputs/solo.txt").is_file()


def test_guardrail_fault_drops_an_item_and_collect_undoes_the_shift(
    run_job: RunJob, videos: dict[str, Path]
) -> None:
    job = mixed_batch(videos)
    sim = run_job(job, faults={"guardrail_block": [2]})
    assert sim.exit_code == 0
    assert "Input text prompt 2 is not safe" in sim.stdout
    assert sim.produced >= {"outputs/video_0/output.mp4", "outputs/video_1/output.mp4"}
    assert "outputs/video_2/output.mp4" not in sim.produced
    outcomes = sim.collect(job)
    assert outcomes["r1"].output == "outputs/video_0/output.mp4"
    assert outcomes["r2"].failure is FailureClass.GUARDRAIL
    assert outcomes["r3"].output == "outputs/video_1/output.mp4"


def test_whole_batch_blocked(run_job: RunJob, videos: dict[str, Path]) -> None:
    # transfer.py 376-387: the log line, then unpacking None ends the process; the third line of
    # the batch file never runs.
    job = mixed_batch(videos, size=2)
    sim = run_job(job, faults={"guardrail_block": [1, 2]})
    assert "Guardrail blocked generation for entire batch." in sim.stdout
    assert sim.exit_code == 1
    assert "TypeError: cannot unpack non-iterable NoneType object" in sim.stderr
    assert "outputs/video_2/output.mp4" not in sim.produced
    outcomes = sim.collect(job)
    assert outcomes["r1"].failure is outcomes["r2"].failure is FailureClass.GUARDRAIL
    assert outcomes["r3"].output is None and outcomes["r3"].not_attempted


def test_out_of_memory_after_load(run_job: RunJob, videos: dict[str, Path]) -> None:
    sim = run_job(mixed_batch(videos), faults={"oom_above_batch_size": 2})
    assert sim.exit_code == 1
    assert "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate" in sim.stderr
    assert T1.classify_failure(sim.exit_code, sim.lines) is FailureClass.OUT_OF_MEMORY
    small = run_job(
        job_work(
            [run_work("x", {Control.EDGE: 1.0}, videos["a"])],
        ),
        faults={"memory_gb": 24},
    )
    assert T1.classify_failure(small.exit_code, small.lines) is FailureClass.OUT_OF_MEMORY


def test_profile_memory_decides_without_faults(run_job: RunJob, videos: dict[str, Path]) -> None:
    job = job_work([run_work("x", {Control.EDGE: 1.0}, videos["a"])])
    sim = run_job(job, env={"COSMOS_SIM_PROFILE": "l40s-48gb"})
    assert sim.exit_code == 1 and "CUDA out of memory" in sim.stderr
    offloaded = run_job(
        job_work([run_work("y", {Control.EDGE: 1.0}, videos["a"])]),
        target=HostTarget(gpu_memory_gb=48.0),
        env={"COSMOS_SIM_PROFILE": "l40s-48gb"},
    )
    assert offloaded.exit_code == 0, offloaded.stderr


def test_crash_fault(run_job: RunJob, videos: dict[str, Path]) -> None:
    sim = run_job(mixed_batch(videos), faults={"crash_after_steps": 3})
    assert sim.exit_code == 1
    assert "Traceback (most recent call last):" in sim.stderr
    assert T1.classify_failure(sim.exit_code, sim.lines) is FailureClass.CRASH


def write_spec(tmp_path: Path, spec: dict) -> str:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return str(path)


def transfer_argv(spec: str, *extra: str) -> list[str]:
    return [
        "torchrun",
        "--nproc_per_node",
        "1",
        "--nnodes",
        "1",
        "--node_rank",
        "0",
        T1_SCRIPT,
        "--controlnet_specs",
        spec,
        *extra,
    ]


def test_refusals_of_transfer_py(tmp_path: Path, videos: dict[str, Path]) -> None:
    cases = [
        (
            {"edge": {"control_weight": 0.5}},
            (),
            "Must have 'input_video' specified if sigma_max < 80",
        ),
        (
            {"edge": {"control_weight": 0.5}},
            ("--sigma_max", "80"),
            "edge controlnet must have 'input_control' video specified if no 'input_video' "
            "specified.",
        ),
        (
            {"input_video_path": str(videos["a"]), "colour": {"control_weight": 0.5}},
            (),
            "Invalid hint_key: colour.",
        ),
        (
            {"input_video_path": str(tmp_path / "missing.mp4"), "edge": {}},
            (),
            "No such file or directory",
        ),
        (
            {"input_video_path": str(videos["a"]), "edge": {}},
            ("--num_gpus", "2"),
            "is not divisible by",
        ),
    ]
    for spec, extra, message in cases:
        done = simulate(transfer_argv(write_spec(tmp_path, spec), *extra), tmp_path)
        assert done.returncode == 1, spec
        assert message in done.stderr, done.stderr
    lines = [message for _, _, message in cases[:4]]
    assert T1.classify_failure(1, lines) is FailureClass.BAD_INPUT


def test_argparse_refusals_exit_2(tmp_path: Path, videos: dict[str, Path]) -> None:
    missing = simulate(["python", T1_SCRIPT, "--num_steps", "5"], tmp_path)
    assert missing.returncode == 2
    assert "the following arguments are required: --controlnet_specs" in missing.stderr
    spec = write_spec(tmp_path, {"input_video_path": str(videos["a"]), "edge": {}})
    choice = simulate(transfer_argv(spec, "--blur_strength", "extreme"), tmp_path)
    assert choice.returncode == 2 and "invalid choice: 'extreme'" in choice.stderr
    assert T1.classify_failure(2, choice.stderr.splitlines()) is FailureClass.BAD_INPUT


def test_spec_keys_merge_unless_the_flag_is_given(tmp_path: Path, videos: dict[str, Path]) -> None:
    spec = write_spec(
        tmp_path,
        {"input_video_path": str(videos["a"]), "sigma_max": 80, "edge": {"control_weight": 1.0}},
    )
    # The spec's sigma_max 80 would allow no input video; `--sigma_max 70` wins (space form).
    refused = simulate(
        transfer_argv(
            spec,
            "--sigma_max",
            "70",
            "--input_video_path",
            "",
            "--video_save_folder",
            str(tmp_path / "o"),
        ),
        tmp_path,
    )
    assert refused.returncode == 1
    assert "Must have 'input_video' specified" in refused.stderr
    equals_form = simulate(
        transfer_argv(
            spec,
            "--sigma_max=70",
            "--input_video_path",
            "",
            "--video_save_folder",
            str(tmp_path / "o2"),
        ),
        tmp_path,
    )
    assert "Must have 'input_video' specified" not in equals_form.stderr


def test_upscale_job(run_job: RunJob, videos: dict[str, Path]) -> None:
    params = upscale_params(0.5)
    run = run_work("up", {Control.EDGE: 0.5}, videos["a"], params=params)
    job = JobWork("upjob", JobKind.UPSCALE, Backend.TRANSFER1, (run,))
    sim = run_job(job)
    assert sim.exit_code == 0, sim.stderr
    assert decoded_frames(sim.workdir / sim.collect(job)["up"].output) == 24


def test_enhance_job_prints_the_upsampled_prompt(
    run_job: RunJob, videos: dict[str, Path], tmp_path: Path
) -> None:
    run = run_work("en", {Control.EDGE: 0.5}, videos["a"], prompt="a red cube")
    job = JobWork("enjob", JobKind.ENHANCE, Backend.TRANSFER1, (run,))
    sim = run_job(job)
    assert sim.exit_code == 0, sim.stderr
    prompt = sim.collect(job)["en"].enhanced_prompt
    assert prompt is not None and prompt.startswith("a red cube.")
    direct = simulate(["python", *sim.rendered.argv[7:]], sim.workdir)
    assert direct.returncode == 1 and "KeyError: 'RANK'" in direct.stderr


# -- Transfer2.5 -------------------------------------------------------------------------------


def t25_job(videos: dict[str, Path]) -> JobWork:
    params = validate_params({"backend": "transfer2.5"})
    runs = [
        run_work(
            "s1", {Control.EDGE: 0.8}, videos["a"], backend=Backend.TRANSFER2_5, params=params
        ),
        run_work(
            "s2",
            {Control.DEPTH: 0.5},
            videos["b"],
            backend=Backend.TRANSFER2_5,
            params=params,
            control_paths={Control.DEPTH: videos["depth"]},
        ),
    ]
    return job_work(runs, backend=Backend.TRANSFER2_5)


def test_transfer2_5_outputs_by_name(run_job: RunJob, videos: dict[str, Path]) -> None:
    job = t25_job(videos)
    sim = run_job(job)
    assert sim.exit_code == 0, sim.stderr
    outcomes = sim.collect(job)
    for name in ("s1", "s2"):
        assert outcomes[name].output == f"outputs/{name}.mp4"
        assert decoded_frames(sim.workdir / f"outputs/{name}.mp4") == 24
        assert {f"outputs/{name}.json", f"outputs/{name}.txt"} <= sim.produced
    assert "Multicontrol inference is not strictly equal to single control" in sim.stdout


def test_transfer2_5_guardrail_by_name(run_job: RunJob, videos: dict[str, Path]) -> None:
    job = t25_job(videos)
    sim = run_job(job, faults={"guardrail_block": ["s1"]})
    assert sim.exit_code == 0
    outcomes = sim.collect(job)
    assert outcomes["s1"].failure is FailureClass.GUARDRAIL
    assert outcomes["s2"].output == "outputs/s2.mp4"


def t25_refusal(tmp_path: Path, sample: dict, *extra: str, env: dict | None = None):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(sample) + "\n", encoding="utf-8")
    return simulate(
        ["python", "examples/inference.py", "-i", str(path), "-o", str(tmp_path / "out"), *extra],
        tmp_path,
        env=env,
    )


def test_transfer2_5_refusals(tmp_path: Path, videos: dict[str, Path]) -> None:
    base = {
        "name": "x",
        "prompt": "p",
        "video_path": str(videos["a"]),
        "edge": {"control_weight": 1.0},
    }
    cases = [
        ({**base, "output_dir": "o"}, "Extra inputs are not permitted"),
        ({**base, "guidance": 8}, "Input should be less than or equal to 7"),
        ({**base, "sigma_max": 80}, "Input should be a valid string"),
        ({k: v for k, v in base.items() if k != "edge"}, "No controls provided"),
        # config.py 487, 543-546: a positive frame index; only image_context_path clashes with vis.
        ({**base, "context_frame_index": 0}, "Input should be greater than 0"),
        (
            {**base, "vis": {}, "image_context_path": str(videos["b"])},
            "vis control and image_context_path are both used to transfer style",
        ),
        ({**base, "video_path": str(tmp_path / "nope.mp4")}, "Path does not point to a file"),
    ]
    for sample, message in cases:
        done = t25_refusal(tmp_path, sample)
        assert done.returncode == 1, sample
        assert message in done.stderr, done.stderr
        assert T25.classify_failure(1, done.stderr.splitlines()) is FailureClass.BAD_INPUT
    path = tmp_path / "twice.jsonl"
    path.write_text(json.dumps(base) + "\n" + json.dumps(base) + "\n", encoding="utf-8")
    twice = simulate(["python", "examples/inference.py", "-i", str(path), "-o", "o"], tmp_path)
    # config.py 411-414
    assert twice.returncode == 1 and "Error: Inference samplename x is not unique" in twice.stderr
    distilled = t25_refusal(tmp_path, base, "--model", "edge/distilled")
    assert distilled.returncode == 2 and "invalid choice" in distilled.stderr
    allowed = t25_refusal(
        tmp_path, base, "--model", "edge/distilled", env={"COSMOS_EXPERIMENTAL_CHECKPOINTS": "1"}
    )
    assert allowed.returncode == 0, allowed.stderr


def test_unknown_entry_point(tmp_path: Path) -> None:
    done = simulate(["python", "scripts/other.py"], tmp_path)
    assert done.returncode == 2 and "no simulation for entry point" in done.stderr


def test_transfer2_5_video_block_is_read_from_debug_log(
    run_job: RunJob, videos: dict[str, Path]
) -> None:
    """A video guardrail block prints nothing on stdout; the backend reads debug.log."""
    job = t25_job(videos)
    sim = run_job(job, faults={"video_guardrail_block": ["s2"]})
    assert sim.exit_code == 0, sim.stderr
    assert "GUARDRAIL BLOCKED" not in sim.stdout + sim.stderr
    assert "GUARDRAIL BLOCKED" in (sim.workdir / "outputs/debug.log").read_text()
    outcomes = sim.collect(job)
    assert outcomes["s2"].failure is FailureClass.GUARDRAIL
    assert outcomes["s1"].output == "outputs/s1.mp4"
