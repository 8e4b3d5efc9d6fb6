"""The CLI end to end on a real database: JSON shapes, exit codes, and refusals that change
nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cosmos_workflow.services.context import Context
from tests.cli.runner import cosmos, cosmos_json
from tests.services.snapshot import database_snapshot


@pytest.fixture
def prompt_id(ctx: Context, input_folder: Path) -> str:
    cosmos_json("input", "add", str(input_folder), "--name", "scene")
    return cosmos_json("prompt", "create", "a red car at dusk", "--input", "scene")["id"]


def test_quick_path_input_prompt_queue(ctx: Context, prompt_id: str) -> None:
    listed = cosmos_json("input", "list")["inputs"]
    assert [i["name"] for i in listed] == ["scene"]
    added = cosmos_json("queue", "add", prompt_id, "--weights", "vis=0.3,edge=0.5", "--steps", "20")
    assert set(added) >= {"job_id", "run_ids"} and len(added["run_ids"]) == 1
    jobs = cosmos_json("queue", "list")["jobs"]
    assert jobs[0]["id"] == added["job_id"]
    assert {"id", "status", "position", "priority", "kind", "runs"} <= set(jobs[0])
    run = jobs[0]["runs"][0]
    assert run["id"] == added["run_ids"][0] and run["prompt_id"] == prompt_id
    assert run["weights"] == {"vis": 0.3, "edge": 0.5} and run["params"]["steps"] == 20
    status = cosmos_json("queue", "status")
    assert status["paused"] is False and status["queued"] == 1 and status["running"] == 0
    assert cosmos_json("queue", "pause")["paused"] is True
    assert cosmos_json("queue", "status")["paused"] is True
    assert cosmos_json("queue", "resume")["paused"] is False
    found = cosmos_json("prompt", "search", "red car")["prompts"]
    assert [p["id"] for p in found] == [prompt_id]


def test_idempotent_resubmission(ctx: Context, prompt_id: str) -> None:
    first = cosmos_json("queue", "add", prompt_id, "--idempotency-key", "k1")
    again = cosmos_json("queue", "add", prompt_id, "--idempotency-key", "k1")
    assert again["job_id"] == first["job_id"]
    assert cosmos_json("queue", "status")["queued"] == 1


def test_import_cancel_move_retry(ctx: Context, prompt_id: str, tmp_path: Path) -> None:
    jsonl = tmp_path / "jobs.jsonl"
    jsonl.write_text(
        "\n".join(
            json.dumps({"prompt_ids": [prompt_id], "weights": {"depth": 0.5}, "seed": i})
            for i in range(3)
        )
    )
    ids = cosmos_json("queue", "import", str(jsonl))["job_ids"]
    assert len(ids) == 3
    cosmos_json("queue", "move", ids[2], "--top")
    assert [j["id"] for j in cosmos_json("queue", "list")["jobs"]] == [ids[2], ids[0], ids[1]]
    assert cosmos_json("queue", "cancel", ids[0])["status"] == "cancelled"
    retry = cosmos_json("queue", "retry", ids[0])
    assert cosmos_json("queue", "list", "--all")["total"] == 4
    assert retry["job_id"] not in ids


BAD_COMMANDS = [
    (["queue", "add", "{prompt}", "--weights", "edge=1.5"], 2, "between 0 and 1"),
    (["queue", "add", "{prompt}", "--weights", "fog=0.5"], 2, "unknown control"),
    (["queue", "add", "{prompt}", "--weights", "edge=nan"], 2, "between 0 and 1"),
    (["queue", "add", "{prompt}", "--steps", "0"], 2, "steps"),
    (["queue", "add", "{prompt}", "--guidance", "-3"], 2, "guidance"),
    (["queue", "add", "{prompt}", "--sigma-max", "90"], 2, "sigma_max"),
    (["queue", "add", "{prompt}", "--blur", "huge"], 2, "blur"),
    (["queue", "add", "{prompt}", "--backend", "transfer9"], 2, "backend"),
    (["queue", "add", "{prompt}", "--backend", "transfer2.5", "--guidance", "9"], 2, "guidance"),
    (["queue", "add", "{prompt}", "--priority", "5000"], 2, "priority"),
    (["queue", "add", "{prompt}", "--steps", "ten"], 2, "--steps"),
    (["queue", "add", "pr_missing"], 1, "unknown prompt"),
    (["queue", "cancel", "job_missing"], 1, "no job"),
    (["queue", "retry", "job_missing"], 1, "no job"),
    (["queue", "move", "job_missing", "--top"], 1, "no job"),
    (["queue", "move", "job_missing"], 2, "exactly one"),
    (["queue", "import", "{tmp}/missing.jsonl"], 2, "does not exist"),
    (["queue", "import", "{tmp}/broken.jsonl"], 2, "line 2"),
    (["prompt", "create", "  ", "--input", "scene"], 2, "empty"),
    (["prompt", "create", "text", "--input", "nowhere"], 1, "no input"),
    (["prompt", "show", "pr_missing"], 1, "no prompt"),
    (["prompt", "delete", "{prompt}", "--yes"], 1, "queued or running"),
    (["input", "add", "{tmp}/nothing-here"], 2, "not a folder"),
    (["input", "show", "nothing"], 1, "no input"),
    (["queue", "list", "--limit", "0"], 2, "limit"),
]


@pytest.mark.parametrize(("args", "code", "message"), BAD_COMMANDS)
def test_bad_input_is_refused_and_changes_nothing(
    ctx: Context, prompt_id: str, tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    cosmos_json("queue", "add", prompt_id)
    (tmp_path / "broken.jsonl").write_text(
        json.dumps({"prompt_ids": [prompt_id], "weights": {"edge": 1}}) + "\n{not json\n"
    )
    argv = [a.replace("{prompt}", prompt_id).replace("{tmp}", str(tmp_path)) for a in args]
    before = database_snapshot(ctx)
    exit_code, out, err = cosmos(*argv)
    assert exit_code == code, out + err
    assert message in (err + out)
    assert database_snapshot(ctx) == before


def test_help_lists_every_group() -> None:
    code, out, _ = cosmos("--help")
    assert code == 0
    for group in ("input", "prompt", "queue"):
        assert group in out
