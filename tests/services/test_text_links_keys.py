"""Text, links and idempotency keys through the services (every surface calls these): search
matches `%` and `_` literally, an input's files are confined after their links are resolved,
a reused key with other content is a conflict naming its job, text the command line cannot pass
(a NUL in a path) is refused here too, and a NUL stored before input refused it fails its job
as bad input instead of crashing the worker."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import update

from cosmos_workflow.domain.errors import Conflict, InvalidInput
from cosmos_workflow.domain.states import FailureClass, JobStatus
from cosmos_workflow.services import inputs, prompts, queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.models import PromptRow
from cosmos_workflow.worker.loop import run_worker
from tests.services.helpers import seed_input, seed_prompts
from tests.services.snapshot import database_snapshot
from tests.videos import make_input_folder


def test_search_matches_wildcards_and_the_escape_literally(ctx: Context) -> None:
    seed_input(ctx)
    plain = prompts.create_prompt(ctx, "scene", "a plain street").id
    percent = prompts.create_prompt(ctx, "scene", "100% rain").id
    under = prompts.create_prompt(ctx, "scene", "snake_case sign").id
    slash = prompts.create_prompt(ctx, "scene", "back\\slash").id

    def found(query: str) -> set[str]:
        return {p.id for p in prompts.search_prompts(ctx, query)}

    assert found("%") == {percent}
    assert found("_") == {under}
    assert found("\\") == {slash}
    assert found("e_c") == {under}  # `_` would match the space of "plain street" otherwise
    assert found("STREET") == {plain}


@pytest.mark.parametrize(
    ("folder", "message"), [("a\x00b", "NUL"), ("a\ud800b", "surrogate")], ids=["nul", "surrogate"]
)
def test_a_path_the_command_line_cannot_pass_is_refused_by_the_service(
    ctx: Context, folder: str, message: str
) -> None:
    before = database_snapshot(ctx)
    with pytest.raises(InvalidInput, match=message):
        inputs.add_input(ctx, Path(folder))
    with pytest.raises(InvalidInput, match=message):
        queue.import_jobs(ctx, Path(folder))
    assert database_snapshot(ctx) == before


def test_a_link_inside_the_roots_is_stored_as_the_file_it_names(
    ctx: Context, tmp_path: Path
) -> None:
    real = make_input_folder(tmp_path / "real", controls=("depth",))
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "color.mp4").symlink_to(real / "color.mp4")
    (linked / "depth.mp4").symlink_to(real / "depth.mp4")
    view = inputs.add_input(ctx, linked, name="linked")
    assert Path(view.video_path) == (real / "color.mp4").resolve()
    assert Path(view.controls["depth"]) == (real / "depth.mp4").resolve()


def test_a_control_linked_out_of_the_roots_is_refused_naming_it(
    ctx: Context, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = make_input_folder(tmp_path_factory.mktemp("outside"), controls=("seg",))
    folder = tmp_path / "scene"
    folder.mkdir()
    shutil.copy(outside / "color.mp4", folder / "color.mp4")
    (folder / "seg.mp4").symlink_to(outside / "seg.mp4")
    before = database_snapshot(ctx)
    with pytest.raises(InvalidInput, match=r"the seg control .*seg\.mp4 \(a link to"):
        inputs.add_input(ctx, folder)
    assert database_snapshot(ctx) == before
    assert not (ctx.settings.home / "thumbnails").exists()


def test_a_reused_key_returns_its_job_only_for_the_same_content(ctx: Context) -> None:
    first, second = seed_prompts(ctx, 2)
    original = queue.enqueue(
        ctx, queue.build_request([first], {"edge": 0.5}, {"steps": 20}, idempotency_key="k")
    )
    again = queue.enqueue(
        ctx, queue.build_request([first], {"edge": 0.5}, {"steps": 20}, idempotency_key="k")
    )
    assert (again.job_id, again.created) == (original.job_id, False)
    before = database_snapshot(ctx)
    for request in (
        queue.build_request([first], {"edge": 0.4}, {"steps": 20}, idempotency_key="k"),
        queue.build_request([second], {"edge": 0.5}, {"steps": 20}, idempotency_key="k"),
        queue.build_request([first], {"edge": 0.5}, {"steps": 21}, idempotency_key="k"),
        queue.build_request([first], {"edge": 0.5}, {"steps": 20}, priority=1, idempotency_key="k"),
    ):
        with pytest.raises(Conflict, match=f"taken by job {original.job_id}"):
            queue.enqueue(ctx, request)
        with pytest.raises(Conflict, match=f"taken by job {original.job_id}"):
            queue.enqueue_many(ctx, [request])
    assert database_snapshot(ctx) == before


def test_a_stored_nul_fails_its_job_as_bad_input_and_the_worker_goes_on(
    sqlite_url: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite stores a NUL; text written before the services refused it must not crash the
    worker that claims its job (Popen raises ValueError on it)."""
    (tmp_path / "empty.toml").write_text("")
    for key, value in {
        "COSMOS_HOME": str(home),
        "COSMOS_DATABASE_URL": sqlite_url,
        "COSMOS_INPUT_ROOTS": json.dumps([str(tmp_path)]),
        "COSMOS_CONFIG": str(tmp_path / "empty.toml"),
    }.items():
        monkeypatch.setenv(key, value)
    ctx = Context()
    try:
        prompt_id = seed_prompts(ctx, 1)[0]
        job = queue.enqueue(ctx, queue.build_request([prompt_id], {"edge": 1.0}))
        with ctx.db.write() as session:
            session.execute(
                update(PromptRow).where(PromptRow.id == prompt_id).values(negative="bad\x00text")
            )
        assert run_worker(ctx, simulate=True, exit_when_idle=True) == 1
        view = queue.get_job(ctx, job.job_id)
        assert view.status == JobStatus.FAILED.value
        assert view.failure_class == FailureClass.BAD_INPUT.value
        assert "NUL" in (view.error or "")
    finally:
        ctx.db.dispose()
