"""The CLI refuses what NVIDIA's entry points would fail on: exit 2, nothing changed."""

from __future__ import annotations

import json
from pathlib import Path

from cosmos_workflow.services.context import Context
from tests.cli.runner import cosmos, cosmos_json
from tests.services.helpers import seed_input
from tests.services.snapshot import database_snapshot


def test_prompt_create_refuses_an_empty_negative_prompt(ctx: Context) -> None:
    seed_input(ctx)
    before = database_snapshot(ctx)
    code, _, err = cosmos("prompt", "create", "a car", "--input", "scene", "--negative", "")
    assert code == 2 and "negative prompt is empty" in err
    assert database_snapshot(ctx) == before
    made = cosmos_json("prompt", "create", "a car", "--input", "scene")
    assert made["negative"] is None


def test_queue_import_refuses_a_distilled_seg_line(ctx: Context, tmp_path: Path) -> None:
    seed_input(ctx)
    prompt = cosmos_json("prompt", "create", "a car", "--input", "scene")
    lines = tmp_path / "jobs.jsonl"
    good = {"prompt_ids": [prompt["id"]], "weights": {"edge": 0.5}, "params": {"distilled": 1}}
    bad = {**good, "weights": {"seg": 0.5}}
    lines.write_text(f"{json.dumps(good)}\n{json.dumps(bad)}\n")
    before = database_snapshot(ctx)
    code, _, err = cosmos("queue", "import", str(lines))
    assert code == 2 and "exactly the edge control" in err
    assert database_snapshot(ctx) == before


def test_queue_add_refuses_cosmos3_controls_it_cannot_compute(ctx: Context) -> None:
    seed_input(ctx, controls=("depth",))
    prompt = cosmos_json("prompt", "create", "a car", "--input", "scene")
    before = database_snapshot(ctx)
    for control in ("seg", "wsm"):
        code, _, err = cosmos(
            "queue", "add", prompt["id"], "--backend", "cosmos3", "--weights", f"{control}=1"
        )
        assert code == 2 and f"has no {control} control video" in err
        assert prompt["id"] in err and "'scene'" in err
    code, _, err = cosmos("queue", "add", prompt["id"], "--backend", "cosmos3", "--fps", "30")
    assert code == 2 and "differs from the input video's 24 fps" in err
    assert database_snapshot(ctx) == before
    made = cosmos_json("queue", "add", prompt["id"], "--backend", "cosmos3", "--weights", "depth=1")
    assert len(made["run_ids"]) == 1
