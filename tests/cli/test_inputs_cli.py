"""`cosmos input rename` and `cosmos input remove` on a real database: exit 0 with what was done,
1 for a conflict or an unknown input, 2 for a bad name; a refusal changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosmos_workflow.services.context import Context
from tests.cli.runner import cosmos, cosmos_json
from tests.services.snapshot import database_snapshot
from tests.videos import make_input_folder


@pytest.fixture
def prompt_id(ctx: Context, input_folder: Path) -> str:
    cosmos_json("input", "add", str(input_folder), "--name", "scene")
    return str(cosmos_json("prompt", "create", "a red car at dusk", "--input", "scene")["id"])


def test_rename_then_show_by_the_new_name(ctx: Context, prompt_id: str) -> None:
    renamed = cosmos_json("input", "rename", "scene", "warehouse")
    assert renamed["name"] == "warehouse"
    assert cosmos_json("input", "show", "warehouse")["id"] == renamed["id"]
    code, out, _ = cosmos("input", "rename", renamed["id"], "dusk")
    assert code == 0 and "is now named dusk" in out


@pytest.mark.parametrize(
    ("new_name", "code", "message"),
    [
        ("other", 1, "is named 'other' already"),
        ("  ", 2, "1 to 200 characters"),
        ("a\nb", 2, "control character"),
        ("n" * 201, 2, "limit is 200"),
    ],
)
def test_a_refused_rename_exits_with_its_code_and_changes_nothing(
    ctx: Context, prompt_id: str, tmp_path: Path, new_name: str, code: int, message: str
) -> None:
    cosmos_json("input", "add", str(make_input_folder(tmp_path / "other")), "--name", "other")
    before = database_snapshot(ctx)
    got, _, err = cosmos("input", "rename", "scene", new_name)
    assert got == code and message in err, err
    assert database_snapshot(ctx) == before


def test_remove_needs_force_says_what_goes_and_keeps_the_folder(
    ctx: Context, prompt_id: str, input_folder: Path
) -> None:
    job_id = cosmos_json("queue", "add", prompt_id)["job_id"]
    before = database_snapshot(ctx)
    code, _, err = cosmos("input", "remove", "scene", "--force")
    assert code == 1 and "queued or running" in err and job_id in err
    assert database_snapshot(ctx) == before

    cosmos_json("queue", "cancel", job_id)
    before = database_snapshot(ctx)
    code, _, err = cosmos("input", "remove", "scene")
    assert code == 1 and "1 prompt(s) and 1 finished run(s)" in err and "--force" in err
    code, out, _ = cosmos("input", "remove", "scene", "--dry-run")
    assert code == 0 and "would remove input scene" in out and prompt_id in out
    dry = cosmos_json("input", "remove", "scene", "--dry-run", "--force")
    assert dry["removed"] is False and dry["prompts"] == [prompt_id] and dry["jobs"] == [job_id]
    assert database_snapshot(ctx) == before

    removed = cosmos_json("input", "remove", "scene", "--force")
    assert removed["removed"] is True and removed["runs"] == 1
    assert cosmos_json("input", "list")["inputs"] == []
    assert cosmos_json("prompt", "list")["prompts"] == []
    assert (input_folder / "color.mp4").is_file()


def test_remove_of_an_unknown_or_bad_name_exits_1_or_2(ctx: Context) -> None:
    code, _, err = cosmos("input", "remove", "nowhere")
    assert code == 1 and "no input named" in err
    code, _, err = cosmos("input", "remove", "a\x1bb")
    assert code == 2 and "control character" in err
