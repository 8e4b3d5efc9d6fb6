"""The simulated Cosmos 3 entry point behaves as NVIDIA's cosmos-framework (5eee9ed) does.

Every test starts the simulator as a real process with the command line NVIDIA documents:
`python -m cosmos_framework.scripts.inference -i FILES -o OUT --checkpoint-path Cosmos3-Nano`
or the same under `torchrun --nproc-per-node=N --master-port=P -m ...`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import av
import pytest

from cosmos_workflow.simulator.main import split_launcher
from tests.simulator.conftest import REPO, simulate
from tests.videos import make_video

PYTHON = ["python", "-m", "cosmos_framework.scripts.inference"]
TORCHRUN = ["torchrun", "--nproc-per-node=2", "--master-port=29731", "-m"]
MODULE = "cosmos_framework.scripts.inference"
BASE = ["-o", "out", "--checkpoint-path", "Cosmos3-Nano"]


def inputs(folder: Path) -> Path:
    """A source video (30 frames at 30 fps) and three 20-frame control videos."""
    make_video(folder / "in" / "source.mp4", frames=30, fps=30)
    for name in ("edge", "depth", "seg"):
        make_video(folder / "in" / f"{name}.mp4", frames=20, fps=24)
    return folder / "in"


def edge_sample(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "prompt": f"Prompt of {name}.",
        "vision_path": "source.mp4",
        "edge": {"control_path": "edge.mp4"},
        "num_steps": 2,
        **extra,
    }


def run(
    folder: Path,
    samples: list[dict[str, Any]],
    *flags: str,
    launcher: list[str] = PYTHON,
    faults: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    file_name: str = "jobs.jsonl",
) -> subprocess.CompletedProcess[str]:
    source = inputs(folder)
    lines = "".join(json.dumps(sample) + "\n" for sample in samples)
    (source / file_name).write_text(lines, encoding="utf-8")
    argv = [*launcher, "-i", f"in/{file_name}", *BASE, *flags]
    return simulate(argv, folder, faults, env)


def outputs(folder: Path, name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((folder / "out" / name / "sample_outputs.json").read_text())
    return loaded


def frames_and_fps(path: Path) -> tuple[int, float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        count = sum(1 for _ in container.decode(stream))
        return count, float(stream.average_rate or 0)


def test_a_jsonl_run_writes_nvidia_outputs_and_lines(tmp_path: Path) -> None:
    two = {
        "prompt": "Two hints.",
        "vision_path": "source.mp4",
        "edge": {"weight": 0.5},
        "depth": {"control_path": "depth.mp4", "weight": 0.5},
        "num_steps": 2,
    }
    done = run(tmp_path, [edge_sample("one"), two])
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    single = outputs(tmp_path, "one")
    assert single["status"] == "success"
    assert single["outputs"][0]["files"] == [
        str(out / "one/vision.mp4"),
        str(out / "one/control_edge.mp4"),
    ]
    # One hint: its tuned defaults (inference/args.py 853-857); several: the generic ones.
    args = json.loads((out / "one/sample_args.json").read_text())
    assert (args["guidance"], args["control_guidance"], args["shift"]) == (3.0, 1.5, 10.0)
    assert args["edge"] == {
        "control_path": str(tmp_path / "in/edge.mp4"),
        "weight": 1.0,
        "preset_edge_threshold": "medium",
    }
    multi = outputs(tmp_path, "jobs_1")["args"]  # the file stem and the line index
    assert (multi["guidance"], multi["control_guidance"]) == (6.0, 1.0)
    # Output length is the first hint's (edge, 20 frames), at the source video's fps.
    assert frames_and_fps(out / "one/vision.mp4") == (20, 30.0)
    assert frames_and_fps(out / "jobs_1/vision.mp4")[0] == 30  # edge computed from the source
    stdout = done.stdout
    for text in (
        f"Console log saved to {out / 'console.log'}",
        "|INFO|cosmos_framework/scripts/inference.py:46:inference] Loaded 2 samples",
        "|WARNING|cosmos_framework/auxiliary/guardrail/common/presets.py:30:",
        f"[RANK 0] Saved sample args to '{out / 'one/sample_args.json'}'",
        f"Loaded pre-computed edge control from {tmp_path / 'in/edge.mp4'}",
        "Computing edge control input on the fly",
        "[transfer] final user prompt: Prompt of one. The video is 3.1 seconds long",
        "Using sampler: UniPC (shift=10.0, num_steps=2)",
        f"|SUCCESS|cosmos_framework/inference/inference.py:1889:_generate_transfer_batch] "
        f"[RANK 0] Saved transfer outputs to '{out / 'one/sample_outputs.json'}'",
    ):
        assert text in stdout, text
    assert stdout.startswith("[")
    assert "|job=|INFO|" in stdout.splitlines()[0]
    assert "Sampling: 100%|" in done.stderr
    # loguru hands one record to every sink: each rank filter adds its own "[RANK 0] ".
    console = (out / "console.log").read_text()
    debug = (out / "debug.log").read_text()
    assert "] [RANK 0] [RANK 0] Saved sample args" in console
    assert "] [RANK 0] [RANK 0] [RANK 0] Saved sample args" in debug


def refused(done: subprocess.CompletedProcess[str], folder: Path) -> None:
    """Refused while reading the files: before the model loads, nothing per sample written."""
    assert done.returncode == 1
    assert "Traceback (most recent call last):" in done.stderr
    assert "presets.py" not in done.stdout  # the guardrail models never loaded
    assert sorted(p.name for p in (folder / "out").iterdir()) == ["console.log", "debug.log"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"control_weight": 1.0}, "Extra inputs are not permitted"),
        (
            {"edge": {"control_path": "edge.mp4", "mask_path": "x"}},
            "Extra inputs are not permitted",
        ),
        ({"guidance": 9}, "Input should be less than or equal to 7"),
        ({"control_guidance": 11}, "Input should be less than or equal to 10"),
        ({"num_steps": 0}, "Input should be greater than 0"),
        ({"resolution": "1080"}, "Input should be '256', '480', '704', '720' or '768'"),
        ({"edge": {"control_path": "missing.mp4"}}, "Path does not point to a file: missing.mp4"),
    ],
)
def test_a_bad_sample_fails_the_whole_invocation_before_the_model_loads(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    done = run(tmp_path, [edge_sample("good"), edge_sample("bad", **change)])
    refused(done, tmp_path)
    absolute = tmp_path / "in/jobs.jsonl"
    assert f"ValueError: Error validating parameters from '{absolute}' at sample 1" in done.stderr
    assert message in done.stderr


def test_a_transfer_field_without_a_hint_and_other_file_errors(tmp_path: Path) -> None:
    no_hint = {"prompt": "x", "vision_path": "source.mp4", "max_frames": 10}
    done = run(tmp_path / "a", [no_hint])
    refused(done, tmp_path / "a")
    assert "transfer inference requires at least one control hint" in done.stderr
    # The suffix test is case-sensitive (inference/common/args.py 1049-1056).
    done = run(tmp_path / "b", [edge_sample("x")], file_name="jobs.JSONL")
    assert done.returncode == 1
    assert "ValueError: Unsupported file extension: in/jobs.JSONL" in done.stderr
    # The first sample's vision extension is read before the load (scripts/inference.py 47).
    done = run(tmp_path / "c", [edge_sample("x", vision_path="edge.mp4"), edge_sample("y")])
    assert done.returncode == 0
    (tmp_path / "c/in/clip.gif").write_bytes(b"GIF89a")
    done = run(tmp_path / "c", [edge_sample("x", vision_path="clip.gif")])
    refused_after = sorted(p.name for p in (tmp_path / "c/out").iterdir())
    assert done.returncode == 1 and "ValueError: Invalid vision extension: .gif" in done.stderr
    assert "presets.py" not in done.stdout and "x" in refused_after  # only the earlier run's


def test_duplicate_names_are_not_refused_and_share_a_folder(tmp_path: Path) -> None:
    """common/args.py 1003-1015 never adds to its `names` set, so NVIDIA runs both."""
    done = run(tmp_path, [edge_sample("same", seed=1), edge_sample("same", seed=2)])
    assert done.returncode == 0, done.stderr
    assert outputs(tmp_path, "same")["args"]["seed"] == 2  # the second overwrote the first
    assert done.stdout.count("Saved transfer outputs") == 2


def test_missing_depth_control_kills_the_process(tmp_path: Path) -> None:
    depth = {"name": "deep", "prompt": "x", "vision_path": "source.mp4", "depth": {}}
    done = run(tmp_path, [edge_sample("first"), depth, edge_sample("last")], "--keep-going")
    assert done.returncode == 1
    assert (
        "FileNotFoundError: Missing pre-computed control input for 'depth'. Provide a "
        "control_path in the transfer config." in done.stderr
    )
    out = tmp_path / "out"
    assert outputs(tmp_path, "first")["status"] == "success"
    assert sorted(p.name for p in (out / "deep").iterdir()) == ["sample_args.json"]
    assert not (out / "last").exists()


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ((0.0, 0.0), "control_weights must have a positive sum, got [0.0, 0.0]"),
        ((1.0, -0.5), "control_weights must all be non-negative, got [1.0, -0.5]"),
    ],
)
def test_bad_weights_fail_at_generation(
    tmp_path: Path, weights: tuple[float, float], message: str
) -> None:
    sample = edge_sample("w", depth={"control_path": "depth.mp4", "weight": weights[1]})
    sample["edge"]["weight"] = weights[0]
    done = run(tmp_path, [sample, edge_sample("after")])
    assert done.returncode == 1
    assert f"AssertionError: {message}" in done.stderr
    assert "[transfer] final user prompt" in done.stdout  # after the model loaded
    assert not (tmp_path / "out/w/sample_outputs.json").exists()
    assert not (tmp_path / "out/after").exists()


def test_batching_transfer_samples_is_an_assertion(tmp_path: Path) -> None:
    done = run(tmp_path / "a", [edge_sample("a"), edge_sample("b")], "--max-num-seqs", "2")
    assert done.returncode == 1
    assert "AssertionError: Batching is not supported for transfer inference" in done.stderr
    assert not (tmp_path / "a/out/a").exists()
    # One sample is a batch of one: nothing to refuse.
    done = run(tmp_path / "b", [edge_sample("a")], "--max-num-seqs=2")
    assert done.returncode == 0, done.stderr


def test_a_crash_mid_run_loses_the_later_samples(tmp_path: Path) -> None:
    samples = [edge_sample("s0"), edge_sample("s1"), edge_sample("s2")]
    done = run(
        tmp_path, samples, faults={"crash_after_steps": 3}, env={"COSMOS_SIM_PROFILE": "b200-192gb"}
    )
    assert done.returncode == 1
    assert "RuntimeError: CUDA error: an illegal memory access" in done.stderr
    assert 'File "cosmos_framework/inference/transfer.py", line 544' in done.stderr
    out = tmp_path / "out"
    assert outputs(tmp_path, "s0")["status"] == "success"
    assert (out / "s1/sample_args.json").is_file()
    assert not (out / "s1/sample_outputs.json").exists()
    assert not (out / "s2").exists()


def test_logs_are_overwritten_per_invocation(tmp_path: Path) -> None:
    assert run(tmp_path, [edge_sample("first")]).returncode == 0
    assert run(tmp_path, [edge_sample("second")]).returncode == 0
    console = (tmp_path / "out/console.log").read_text()
    assert "second" in console and "first" not in console
    assert "first" not in (tmp_path / "out/debug.log").read_text()


def test_cli_sample_flags_override_every_sample(tmp_path: Path) -> None:
    samples = [edge_sample("a", seed=1, guidance=2.0), edge_sample("b", num_steps=9)]
    flags = ["--seed", "11", "--guidance=4", "--num-steps", "3", "--fps", "12"]
    done = run(tmp_path, samples, *flags, "--resolution", "480", "--control-guidance", "1.0")
    assert done.returncode == 0, done.stderr
    for name in ("a", "b"):
        args = outputs(tmp_path, name)["args"]
        assert (args["seed"], args["guidance"], args["num_steps"]) == (11, 4.0, 3)
        assert (args["fps"], args["resolution"]) == (12, "480")
        assert args["control_guidance"] == 1.0  # set on the CLI: the tuned 1.5 does not apply
    assert "This video is of 480x832 resolution." in done.stdout


def test_command_line_refusals_are_tyro_usage_errors(tmp_path: Path) -> None:
    sample = [edge_sample("a")]
    done = run(tmp_path, sample, "--bogus", "3")
    assert done.returncode == 2 and "Unrecognized options: --bogus, 3" in done.stderr
    done = run(tmp_path, sample, "--keep-going=true")
    assert done.returncode == 2 and "Unrecognized options: true" in done.stderr
    done = run(tmp_path, sample, "--parallelism-preset", "fast")
    assert done.returncode == 2 and "invalid choice 'fast'" in done.stderr
    # A transfer-only CLI flag: the CLI's own sample overrides hold no hint (args.py 807-828).
    done = run(tmp_path, sample, "--control-guidance", "1.5")
    assert done.returncode == 2
    assert "transfer inference requires at least one control hint" in done.stderr
    done = simulate([*PYTHON, "-i", "in/jobs.jsonl", "-o", "out"], tmp_path)
    assert done.returncode == 2 and "--checkpoint-path STR" in done.stderr
    done = simulate([*PYTHON, "-i", "in/jobs.jsonl", "--checkpoint-path", "Cosmos3-Nano"], tmp_path)
    assert done.returncode == 1 and "ValueError: 'output_dir' is required" in done.stderr
    assert not (tmp_path / "out").exists() or not (tmp_path / "out/a").exists()


def test_skip_invalid_samples_and_keep_going(tmp_path: Path) -> None:
    bare = {"name": "bare", "prompt": "x", "edge": {}}  # no vision_path, no control_path
    done = run(tmp_path / "a", [bare, edge_sample("ok")])
    assert done.returncode == 1
    assert (
        "transfer inference requires 'vision_path' or a pre-computed 'control_path' (hint: edge)"
        in done.stderr
    )
    assert "presets.py" in done.stdout  # raised after the model loaded
    done = run(tmp_path / "b", [bare, edge_sample("ok")], "--skip-invalid-samples")
    assert done.returncode == 0, done.stderr
    skipped = outputs(tmp_path / "b", "bare")
    assert skipped["status"] == "skip"
    assert skipped["message"].startswith("Skipping sample 'bare': transfer inference requires")
    assert outputs(tmp_path / "b", "ok")["status"] == "success"
    # --keep-going covers writing the sample's files: here <o>/<name> is a file.
    (tmp_path / "c/out").mkdir(parents=True)
    (tmp_path / "c/out/blocked").write_text("not a folder")
    done = run(tmp_path / "c", [edge_sample("blocked"), edge_sample("ok")], "--keep-going")
    assert done.returncode == 0, done.stderr
    assert "|ERROR|" in done.stdout and "Error generating sample 'blocked'" in done.stdout
    assert outputs(tmp_path / "c", "ok")["status"] == "success"
    done = run(tmp_path / "c", [edge_sample("blocked"), edge_sample("ok2")])
    assert done.returncode == 1 and "ValueError: Error generating sample 'blocked'" in done.stderr
    assert not (tmp_path / "c/out/ok2").exists()


def test_guardrail_faults_never_touch_transfer_samples(tmp_path: Path) -> None:
    faults = {"guardrail_block": [1], "video_guardrail_block": ["a"]}
    done = run(tmp_path, [edge_sample("a")], faults=faults)
    assert done.returncode == 0, done.stderr
    assert outputs(tmp_path, "a")["status"] == "success"
    assert "GUARDRAIL" not in done.stdout


def test_torchrun_module_with_master_port(tmp_path: Path) -> None:
    gpus = tmp_path / "gpus"
    env = {"COSMOS_SIM_GPU_DIR": str(gpus), "CUDA_VISIBLE_DEVICES": "0,1"}
    done = run(
        tmp_path,
        [edge_sample("a")],
        "--parallelism-preset=latency",
        launcher=[*TORCHRUN, MODULE],
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert outputs(tmp_path, "a")["status"] == "success"
    assert (gpus / "port-29731.lock").is_file()


def test_super_needs_more_than_one_h100(tmp_path: Path) -> None:
    flags = ["--checkpoint-path", "Cosmos3-Super"]
    done = run(tmp_path / "a", [edge_sample("a")], *flags)
    assert done.returncode == 1 and "torch.OutOfMemoryError: CUDA out of memory" in done.stderr
    four = ["torchrun", "--nproc_per_node=4", "-m", MODULE]
    done = run(tmp_path / "b", [edge_sample("a")], *flags, launcher=four)
    assert done.returncode == 0, done.stderr


def test_throughput_preset_with_a_transfer_sample_hangs(tmp_path: Path) -> None:
    """tests/nano_inference_smoke_test.py 19-27: the cross-rank allgather never completes."""
    source = inputs(tmp_path)
    (source / "jobs.jsonl").write_text(json.dumps(edge_sample("a")) + "\n", encoding="utf-8")
    argv = ["torchrun", "--nproc-per-node=2", "-m", MODULE, "-i", "in/jobs.jsonl", *BASE]
    env = {**os.environ, "COSMOS_SIM_TIME_SCALE": "0", "PYTHONPATH": str(REPO)}
    env.pop("COSMOS_SIM_FAULTS", None)
    command = [
        sys.executable,
        "-m",
        "cosmos_workflow.simulator",
        *argv,
        "--parallelism-preset=throughput",
    ]
    with pytest.raises(subprocess.TimeoutExpired) as hung:
        subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=8)
    assert "Using sampler: UniPC" in (hung.value.stdout or b"").decode()
    assert not (tmp_path / "out/a/vision.mp4").exists()


@pytest.mark.parametrize(
    ("argv", "script", "args", "nproc", "module"),
    [
        (["python", "-m", MODULE, "-i", "x"], MODULE, ["-i", "x"], 1, True),
        (["python3", "-u", "-m", MODULE, "-o", "y"], MODULE, ["-o", "y"], 1, True),
        (
            ["torchrun", "--nproc-per-node=4", "--master-port=1234", "-m", MODULE, "-i", "x"],
            MODULE,
            ["-i", "x"],
            4,
            True,
        ),
        (["torchrun", "--nproc_per_node", "2", "--module", MODULE], MODULE, [], 2, True),
        (
            ["python", "examples/inference.py", "-i", "x"],
            "examples/inference.py",
            ["-i", "x"],
            1,
            False,
        ),
    ],
)
def test_split_launcher_reads_module_forms(
    argv: list[str], script: str, args: list[str], nproc: int, module: bool
) -> None:
    launch = split_launcher(argv)
    assert (launch.script, launch.args, launch.nproc, launch.module) == (
        script,
        args,
        nproc,
        module,
    )
