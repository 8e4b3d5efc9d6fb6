"""`cosmos job render`, `cosmos runs`, `cosmos calibrate` refusals."""

from __future__ import annotations

import json
from pathlib import Path

from cosmos_workflow.services.context import Context
from tests.cli.runner import cosmos, cosmos_json
from tests.services.helpers import seed_prompts


def test_job_render_writes_spec_argv_and_script(ctx: Context, tmp_path: Path) -> None:
    prompt_ids = seed_prompts(ctx, 2)
    job = cosmos_json("queue", "add", *prompt_ids, "--weights", "depth=0.5,edge=0.3")
    out = tmp_path / "rendered"
    result = cosmos_json("job", "render", job["job_id"], "--out", str(out))
    argv = json.loads((out / "argv.json").read_text())
    assert argv == result["argv"]
    assert "--controlnet_specs" in argv and "--batch_input_path" in argv
    spec = argv[argv.index("--controlnet_specs") + 1]
    assert not Path(spec).is_absolute() and (out / spec).is_file()
    lines = (out / argv[argv.index("--batch_input_path") + 1]).read_text().splitlines()
    assert len(lines) == 2
    assert (out / "command.sh").read_text().startswith("#!/usr/bin/env bash")
    staged = json.loads((out / "stage.json").read_text())
    assert all(Path(source).is_file() for source in staged.values())
    code, _, err = cosmos("job", "render", job["job_id"], "--out", str(out))
    assert code == 2 and "empty folder" in err


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
