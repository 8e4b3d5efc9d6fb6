"""`cosmos queue add` and `cosmos queue import` refuse a Transfer1 job whose prompts have
different negative prompts: exit 2, the prompts named, the database unchanged."""

from __future__ import annotations

import json
from pathlib import Path

from cosmos_workflow.services.context import Context
from tests.cli.runner import cosmos, cosmos_json
from tests.services.helpers import seed_input
from tests.services.snapshot import database_snapshot


def _prompt(negative: str | None) -> str:
    extra = ["--negative", negative] if negative else []
    made = cosmos_json("prompt", "create", "a car at dusk", "--input", "scene", *extra)
    return str(made["id"])


def test_queue_add_refuses_prompts_with_different_negative_prompts(ctx: Context) -> None:
    seed_input(ctx)
    blurry, plain = _prompt("blurry, low quality"), _prompt(None)
    before = database_snapshot(ctx)
    code, _, err = cosmos("queue", "add", blurry, plain, "--weights", "edge=0.5")
    assert code == 2
    assert "different negative prompts" in err and f"{blurry}; {plain}" in err
    assert database_snapshot(ctx) == before


def test_queue_import_refuses_the_file(ctx: Context, tmp_path: Path) -> None:
    seed_input(ctx)
    blurry, plain = _prompt("blurry"), _prompt("grainy")
    lines = tmp_path / "jobs.jsonl"
    jobs = [{"prompt_ids": [blurry], "weights": {"edge": 0.5}}]
    jobs.append({"prompt_ids": [blurry, plain], "weights": {"edge": 0.5}})
    lines.write_text("".join(f"{json.dumps(job)}\n" for job in jobs))
    before = database_snapshot(ctx)
    code, _, err = cosmos("queue", "import", str(lines))
    assert code == 2 and f"{blurry}; {plain}" in err
    assert database_snapshot(ctx) == before
