"""Renaming and removing inputs on SQLite and PostgreSQL: removal is refused while queued or
running work uses the input, needs force while it has prompts or runs, deletes them as deleting
a prompt does, and deletes the files the product made for it but never the user's folder; a
rename follows the rules of a name at registration and is unique. A refusal changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosmos_workflow.domain.errors import Conflict, InvalidInput, NotFound
from cosmos_workflow.services import events, inputs, prompts, queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.media import playable_video, previews_dir, served_dirs
from cosmos_workflow.store import jobs as store
from tests.services.helpers import seed_input, seed_prompts
from tests.services.history import files_under
from tests.services.snapshot import database_snapshot


def _queue(ctx: Context, prompt_ids: list[str]) -> str:
    return queue.enqueue(ctx, queue.build_request(prompt_ids, {"edge": 0.5}, {})).job_id


def _world(ctx: Context) -> dict[str, object]:
    """Everything a refusal must leave as it was: the rows and every file under the home."""
    return {"rows": database_snapshot(ctx), "files": files_under(ctx.settings.home)}


def _previews(ctx: Context, name: str) -> list[Path]:
    """Browser previews of the input's videos, made as the UI makes them."""
    view = inputs.show_input(ctx, name)
    previews, served = previews_dir(ctx.settings), served_dirs(ctx.settings)
    made = [
        playable_video(Path(p), previews, served) for p in [view.video_path, view.controls["depth"]]
    ]
    assert all(p is not None and p.is_file() for p in made)
    return [p for p in made if p is not None]


def test_removal_is_refused_while_queued_or_running_work_uses_the_input(ctx: Context) -> None:
    first, second = seed_prompts(ctx, 2)
    running, queued = _queue(ctx, [first]), _queue(ctx, [second])
    claim = store.claim_next_job(ctx.db, "w", lease_seconds=60)
    assert claim is not None and claim.job_id == running
    before = _world(ctx)

    for force in (False, True):
        for dry_run in (False, True):
            with pytest.raises(Conflict, match="queued or running") as refused:
                inputs.remove_input(ctx, "scene", force=force, dry_run=dry_run)
            assert running in refused.value.message and queued in refused.value.message

    assert _world(ctx) == before


def test_a_dry_run_says_what_would_go_and_changes_nothing(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 2)
    job_id = _queue(ctx, prompt_ids[:1])
    queue.cancel_job(ctx, job_id)  # finished history
    made = _previews(ctx, "scene")
    thumbnail = inputs.show_input(ctx, "scene").thumbnail_path
    before = _world(ctx)

    preview = inputs.remove_input(ctx, "scene", dry_run=True)

    assert not preview.removed and preview.name == "scene"
    assert preview.prompts == prompt_ids and preview.runs == 1 and preview.jobs == [job_id]
    assert set(preview.files) == {str(Path(str(thumbnail)).resolve()), *map(str, made)}
    assert _world(ctx) == before


def test_without_force_an_input_with_prompts_is_refused_saying_what_would_go(
    ctx: Context,
) -> None:
    prompt_ids = seed_prompts(ctx, 2)
    queue.cancel_job(ctx, _queue(ctx, prompt_ids))
    before = _world(ctx)

    with pytest.raises(Conflict, match=r"2 prompt\(s\) and 2 finished run\(s\) in 1 job\(s\)"):
        inputs.remove_input(ctx, "scene")

    assert _world(ctx) == before


def test_force_removes_the_input_its_prompts_and_history_and_its_own_files_only(
    ctx: Context,
) -> None:
    mine = seed_prompts(ctx, 2)
    (theirs,) = seed_prompts(ctx, 1, input_name="other")
    alone, shared = _queue(ctx, [mine[0]]), _queue(ctx, [mine[1], theirs])
    for job_id in (alone, shared):
        queue.cancel_job(ctx, job_id)
    folder = Path(inputs.show_input(ctx, "scene").folder)
    originals = files_under(folder)
    own = [Path(str(inputs.show_input(ctx, "scene").thumbnail_path)), *_previews(ctx, "scene")]
    kept = [Path(str(inputs.show_input(ctx, "other").thumbnail_path)), *_previews(ctx, "other")]
    after = events.latest_event_id(ctx)

    removal = inputs.remove_input(ctx, "scene", force=True)

    assert removal.removed and removal.prompts == mine and removal.runs == 2
    assert sorted(removal.jobs) == sorted([alone, shared])
    with pytest.raises(NotFound):
        inputs.show_input(ctx, "scene")
    assert [p.id for p in prompts.list_prompts(ctx)] == [theirs]
    with pytest.raises(NotFound):
        queue.get_job(ctx, alone)  # left with no run: deleted
    assert [r.prompt_id for r in queue.get_job(ctx, shared).runs] == [theirs]
    assert files_under(folder) == originals  # the user's folder is never touched
    assert not any(p.exists() for p in own) and all(p.is_file() for p in kept)
    removed = events.events_since(ctx, after, kinds=frozenset({"input.removed"}))
    assert [e.data["input_id"] for e in removed] == [removal.input_id]


def test_an_input_without_prompts_is_removed_without_force(ctx: Context) -> None:
    seed_input(ctx, "bare")
    assert inputs.remove_input(ctx, "bare").removed
    assert inputs.list_inputs(ctx) == []


def test_rename_keeps_the_id_and_the_prompts_and_records_an_event(ctx: Context) -> None:
    (prompt_id,) = seed_prompts(ctx, 1)
    input_id = inputs.show_input(ctx, "scene").id
    after = events.latest_event_id(ctx)

    renamed = inputs.rename_input(ctx, "scene", "  warehouse at dusk ")
    unchanged = inputs.rename_input(ctx, input_id, "warehouse at dusk")

    assert renamed.id == unchanged.id == input_id and renamed.name == "warehouse at dusk"
    assert [p.id for p in prompts.list_prompts(ctx, input_name_or_id="warehouse at dusk")] == [
        prompt_id
    ]
    with pytest.raises(NotFound):
        inputs.show_input(ctx, "scene")
    renames = events.events_since(ctx, after, kinds=frozenset({"input.renamed"}))
    assert [(e.data["previous"], e.data["name"]) for e in renames] == [
        ("scene", "warehouse at dusk")
    ]


@pytest.mark.parametrize(
    ("new_name", "error", "message"),
    [
        ("other", Conflict, "is named 'other' already"),
        ("@OTHER_ID", Conflict, "is the id of input"),
        ("", InvalidInput, "1 to 200 characters"),
        ("   ", InvalidInput, "1 to 200 characters"),
        ("two\nlines", InvalidInput, "control character"),
        ("a\x00b", InvalidInput, "NUL"),
        ("a\ud800b", InvalidInput, "surrogate"),
        ("n" * 201, InvalidInput, "limit is 200"),
    ],
)
def test_a_rename_to_a_taken_or_invalid_name_is_refused_and_changes_nothing(
    ctx: Context, new_name: str, error: type[Exception], message: str
) -> None:
    seed_input(ctx, "scene")
    other_id = seed_input(ctx, "other")
    before = _world(ctx)

    with pytest.raises(error, match=message) as refused:
        inputs.rename_input(ctx, "scene", new_name.replace("@OTHER_ID", other_id))

    assert getattr(refused.value, "field", None) == "name"
    if error is Conflict:
        assert other_id in str(refused.value)
    assert _world(ctx) == before


def test_renaming_or_removing_an_unknown_input_is_not_found(ctx: Context) -> None:
    with pytest.raises(NotFound, match="nowhere"):
        inputs.rename_input(ctx, "nowhere", "somewhere")
    with pytest.raises(NotFound, match="nowhere"):
        inputs.remove_input(ctx, "nowhere", force=True)
