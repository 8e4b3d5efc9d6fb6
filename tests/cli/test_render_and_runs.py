"""`cosmos job render`, `cosmos runs`, `cosmos calibrate` refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from cosmos_workflow.backends.transfer1 import DEFAULT_NEGATIVE_PROMPT, TRANSFER_SCRIPT
from cosmos_workflow.backends.transfer2_5 import INFERENCE_SCRIPT
from cosmos_workflow.services.context import Context
from tests.cli.runner import cosmos, cosmos_json
from tests.services.helpers import seed_prompts

REPO = Path(__file__).resolve().parents[2]
STAND_IN = """import sys
sys.path.insert(0, {repo!r})
from tests.backends.nvidia_cli import {main}
{main}(sys.argv[1:])
"""
# torchrun's own options come first, each with a value; the rest is the script and its argv.
TORCHRUN = """#!/usr/bin/env bash
while [[ "$1" == --* ]]; do shift 2; done
exec {python} "$@"
"""


def checkout(tmp_path: Path) -> Path:
    """A stand-in NVIDIA checkout: both entry points parse like NVIDIA's and check every file."""
    code = tmp_path / "nvidia checkout"
    for script, main in (
        (TRANSFER_SCRIPT, "main_transfer1"),
        (INFERENCE_SCRIPT, "main_transfer2_5"),
    ):
        path = code / script
        path.parent.mkdir(parents=True)
        path.write_text(STAND_IN.format(repo=str(REPO), main=main))
    (code / "checkpoints").mkdir()
    return code


def launchers(tmp_path: Path) -> dict[str, str]:
    """PATH with `torchrun` and `python` stand-ins that run this interpreter."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "torchrun").write_text(TORCHRUN.format(python=sys.executable))
    (bin_dir / "python").write_text(f'#!/usr/bin/env bash\nexec {sys.executable} "$@"\n')
    for shim in bin_dir.iterdir():
        shim.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def configure_host(tmp_path: Path, code_dir: Path) -> None:
    config = Path(os.environ["COSMOS_CONFIG"])
    config.write_text(f'[[hosts]]\nname = "gpu1"\ncode_dir = "{code_dir}"\n')


def run_script(out: Path, tmp_path: Path) -> dict[str, Any]:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run(
        ["bash", str(out / "command.sh")],
        cwd=elsewhere,
        env=launchers(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report: dict[str, Any] = json.loads((out / "outputs" / "stand_in.json").read_text())
    return report


def test_job_render_writes_a_command_that_runs_from_anywhere(ctx: Context, tmp_path: Path) -> None:
    prompt_ids = seed_prompts(ctx, 2)
    job = cosmos_json("queue", "add", *prompt_ids, "--weights", "depth=0.5,edge=0.3")
    code = checkout(tmp_path)
    configure_host(tmp_path, code)
    out = tmp_path / "rendered"
    result = cosmos_json("job", "render", job["job_id"], "--out", str(out), "--stage")
    argv = json.loads((out / "argv.json").read_text())
    assert argv == result["argv"] and result["workdir"] == str(out)
    assert argv[0] == "torchrun" and argv[7] == f"{code}/{TRANSFER_SCRIPT}"
    for flag in ("--controlnet_specs", "--batch_input_path", "--video_save_folder"):
        assert Path(argv[argv.index(flag) + 1]).is_relative_to(out)
    staged = json.loads((out / "stage.json").read_text())
    assert sorted(staged) == result["staged"] and all((out / rel).is_file() for rel in staged)
    assert (out / "command.sh").read_text().startswith("#!/usr/bin/env bash")

    report = run_script(out, tmp_path)
    assert report["cwd"] == str(code) and report["pythonpath"] == str(code)
    assert report["args"]["negative_prompt"] == DEFAULT_NEGATIVE_PROMPT
    assert report["args"]["checkpoint_dir"] == f"{code}/checkpoints"
    code_, _, err = cosmos("job", "render", job["job_id"], "--out", str(out))
    assert code_ == 2 and "empty folder" in err


def test_job_render_for_transfer2_5_runs_too(ctx: Context, tmp_path: Path) -> None:
    prompt_ids = seed_prompts(ctx, 2)
    job = cosmos_json(
        "queue", "add", *prompt_ids, "--weights", "edge=0.5", "--backend", "transfer2.5"
    )
    code = checkout(tmp_path)
    out = tmp_path / "rendered"
    args = ("--out", str(out), "--stage", "--code-dir", str(code))
    argv = cosmos_json("job", "render", job["job_id"], *args)["argv"]
    assert argv[:2] == ["python", f"{code}/{INFERENCE_SCRIPT}"]
    report = run_script(out, tmp_path)
    assert report["args"]["output_dir"] == str(out / "outputs")


def test_job_render_paths_for_another_target_folder(ctx: Context, tmp_path: Path) -> None:
    prompt_ids = seed_prompts(ctx, 1)
    job = cosmos_json("queue", "add", *prompt_ids, "--weights", "edge=0.3")
    out = tmp_path / "rendered"
    args = ("--out", str(out), "--target-dir", "/remote/jobs/j1", "--code-dir", "/opt/ct1")
    result = cosmos_json("job", "render", job["job_id"], *args)
    argv = result["argv"]
    assert argv[argv.index("--controlnet_specs") + 1] == "/remote/jobs/j1/controlnet_spec.json"
    assert result["staged"] == [] and not (out / "inputs").exists()
    script = (out / "command.sh").read_text()
    assert "cd /opt/ct1\n" in script and "PYTHONPATH=/opt/ct1" in script
    assert "copy the files listed in stage.json" in script


def test_job_render_refuses_a_relative_checkout_or_target(ctx: Context, tmp_path: Path) -> None:
    prompt_ids = seed_prompts(ctx, 1)
    job = cosmos_json("queue", "add", *prompt_ids, "--weights", "edge=0.3")
    out = tmp_path / "rendered"
    # No host configured: the default one's code_dir is ".", which no command can run from.
    code, _, err = cosmos("job", "render", job["job_id"], "--out", str(out))
    assert code == 2 and "relative path" in err and "--code-dir" in err
    code, _, err = cosmos(
        "job", "render", job["job_id"], "--out", str(out), "--code-dir", "/c", "--target-dir", "j"
    )
    assert code == 2 and "relative path" in err
    assert not out.exists()


def test_runs_listing_filters_and_rating(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 2)
    job = cosmos_json("queue", "add", *prompt_ids, "--weights", "seg=0.5")
    listed = cosmos_json("runs", "list", "--status", "queued")
    assert {r["id"] for r in listed["runs"]} == set(job["run_ids"])
    assert {"id", "status", "job_id", "output_path", "attempts", "error"} <= set(listed["runs"][0])
    rated = cosmos_json("runs", "rate", job["run_ids"][0], "4")
    assert rated["rating"] == 4
    code, _, err = cosmos("runs", "rate", job["run_ids"][0], "9")
    assert code == 2 and "1 to 5" in err
    code, _, err = cosmos("runs", "list", "--status", "lost")
    assert code == 2 and "unknown status" in err
    shown = cosmos_json("job", "show", job["job_id"])
    assert [r["id"] for r in shown["runs"]] == job["run_ids"]


def test_calibrate_without_timings_says_what_to_do(ctx: Context) -> None:
    code, _, err = cosmos("calibrate")
    assert code == 2 and "no measured timings" in err
