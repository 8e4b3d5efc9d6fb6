"""Inputs, prompts and the queue through the service layer, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from cosmos_workflow.domain.errors import Conflict, InvalidInput, NotFound
from cosmos_workflow.services import inputs, prompts, queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.store import jobs as store
from tests.services.helpers import seed_prompts
from tests.services.snapshot import database_snapshot
from tests.videos import make_input_folder, make_video


def test_input_registration_probes_videos_and_finds_controls(
    ctx: Context, input_folder: Path
) -> None:
    view = inputs.add_input(ctx, input_folder)
    assert (view.frames, view.width, view.height) == (12, 64, 48)
    assert view.fps == pytest.approx(24)
    assert sorted(view.controls) == ["depth", "edge", "seg"]
    assert view.thumbnail_path and Path(view.thumbnail_path).is_file()
    assert inputs.show_input(ctx, view.name).id == view.id
    assert [i.id for i in inputs.list_inputs(ctx)] == [view.id]


def test_input_refuses_a_control_of_another_length(ctx: Context, tmp_path: Path) -> None:
    folder = make_input_folder(tmp_path / "bad", controls=())
    make_video(folder / "segmentation.mp4", frames=7)
    before = database_snapshot(ctx)
    with pytest.raises(InvalidInput, match=r"segmentation.mp4.*7 frames.*12"):
        inputs.add_input(ctx, folder)
    assert database_snapshot(ctx) == before


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "is not a folder"),
        ("empty", "no RGB video"),
        ("unreadable", "not a readable video"),
        ("outside", "outside the allowed input roots"),
    ],
)
def test_input_refusals_change_nothing(
    ctx: Context, tmp_path: Path, setup: str, message: str
) -> None:
    folder = tmp_path / setup
    if setup == "empty":
        folder.mkdir()
    elif setup == "unreadable":
        folder.mkdir()
        (folder / "color.mp4").write_bytes(b"not a video at all")
    elif setup == "outside":
        folder = Path("/")
    before = database_snapshot(ctx)
    with pytest.raises(InvalidInput, match=message):
        inputs.add_input(ctx, folder)
    assert database_snapshot(ctx) == before


def test_prompts_create_search_delete(ctx: Context) -> None:
    (first, second) = seed_prompts(ctx, 2)
    assert [p.id for p in prompts.search_prompts(ctx, "NUMBER 1")] == [second]
    job = queue.enqueue(ctx, queue.build_request([first], {"edge": 0.5}))
    preview = prompts.delete_prompt(ctx, first, dry_run=True)
    assert (preview.runs, preview.active_runs, preview.jobs) == (1, 1, [job.job_id])
    before = database_snapshot(ctx)
    with pytest.raises(Conflict, match="queued or running"):
        prompts.delete_prompt(ctx, first)
    assert database_snapshot(ctx) == before
    assert prompts.delete_prompt(ctx, first, force=True).deleted
    with pytest.raises(NotFound):
        prompts.get_prompt(ctx, first)
    with pytest.raises(NotFound):
        queue.get_job(ctx, job.job_id)
    assert prompts.delete_prompt(ctx, second).deleted


def test_enqueue_keeps_each_runs_weights_and_parameters(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 3)
    request = queue.build_request(
        prompt_ids, {"vis": 0.3, "depth": "0.7"}, {"steps": 20, "seed": 7}, priority=2
    )
    result = queue.enqueue(ctx, request)
    job = queue.get_job(ctx, result.job_id)
    assert [r.id for r in job.runs] == result.run_ids
    assert [r.prompt_id for r in job.runs] == prompt_ids
    assert all(r.weights == {"vis": 0.3, "depth": 0.7} for r in job.runs)
    assert all(r.params["steps"] == 20 and r.params["seed"] == 7 for r in job.runs)
    assert (job.priority, job.position, job.status) == (2, 1, "queued")


def test_idempotency_key_returns_the_existing_job(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 1)
    request = queue.build_request(prompt_ids, {"edge": 1}, idempotency_key="batch-42")
    first = queue.enqueue(ctx, request)
    second = queue.enqueue(ctx, request)
    assert second.job_id == first.job_id and second.run_ids == first.run_ids
    assert not second.created
    assert queue.queue_status(ctx).queued == 1


def test_unknown_prompt_changes_nothing(ctx: Context) -> None:
    seed_prompts(ctx, 1)
    before = database_snapshot(ctx)
    with pytest.raises(NotFound, match="pr_nope"):
        queue.enqueue(ctx, queue.build_request(["pr_nope"], {"edge": 1}))
    assert database_snapshot(ctx) == before


def test_import_is_all_or_nothing_and_fast(ctx: Context, tmp_path: Path) -> None:
    prompt_ids = seed_prompts(ctx, 2)
    lines = [
        {"prompt_ids": prompt_ids, "weights": {"edge": 0.2 + (i % 5) / 10}, "steps": 10 + i % 3}
        for i in range(2000)
    ]
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(json.dumps(line) for line in lines))
    bad = tmp_path / "bad.jsonl"
    broken = [*lines[:10], {**lines[10], "guidance": 99}, *lines[11:20]]
    bad.write_text("\n".join(json.dumps(line) for line in broken))
    before = database_snapshot(ctx)
    with pytest.raises(InvalidInput, match="line 11: guidance"):
        queue.import_jobs(ctx, bad)
    assert database_snapshot(ctx) == before
    started = time.perf_counter()
    result = queue.import_jobs(ctx, good)
    assert time.perf_counter() - started < 60  # generous: the benchmark measures the real rate
    assert (len(result.job_ids), result.runs) == (2000, 4000)
    listed = queue.list_queue(ctx, limit=5)
    assert listed.total == 2000 and [j.position for j in listed.jobs] == [1, 2, 3, 4, 5]


def test_move_cancel_retry_and_history(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 1)
    a, b, c = (
        queue.enqueue(ctx, queue.build_request(prompt_ids, {"edge": 1})).job_id for _ in range(3)
    )
    queue.move_job(ctx, c, "before", b)
    assert [j.id for j in queue.list_queue(ctx).jobs] == [a, c, b]
    queue.move_job(ctx, a, "bottom")
    assert [j.id for j in queue.list_queue(ctx).jobs] == [c, b, a]
    assert queue.move_job(ctx, a, "top").position == 1
    cancelled = queue.cancel_job(ctx, b)
    assert cancelled.status == "cancelled" and {r.status for r in cancelled.runs} == {"cancelled"}
    with pytest.raises(Conflict):
        queue.cancel_job(ctx, b)
    retry = queue.retry_job(ctx, b)
    assert queue.get_job(ctx, retry.job_id).retry_of_job_id == b
    listed = queue.list_queue(ctx, include_history=True)
    assert [j.id for j in listed.jobs][-1] == b
    assert {j.status for j in listed.jobs} == {"queued", "cancelled"}


def test_pause_is_stored_in_the_database(ctx: Context, env: dict[str, str]) -> None:
    queue.set_paused(ctx, True)
    other = Context()
    assert queue.queue_status(other).paused
    with other.db.read() as session:
        assert store.is_paused(session)
    other.db.dispose()


def test_queued_jobs_carry_the_cost_models_prediction(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 3)
    one = queue.enqueue(ctx, queue.build_request(prompt_ids[:1], {"edge": 0.5})).job_id
    three = queue.enqueue(ctx, queue.build_request(prompt_ids, {"edge": 0.5})).job_id
    enhance = queue.enqueue_enhance(ctx, prompt_ids[0]).job_id
    single, batch = queue.get_job(ctx, one), queue.get_job(ctx, three)
    assert single.predicted_seconds and batch.predicted_seconds
    assert single.predicted_seconds < batch.predicted_seconds < 3 * single.predicted_seconds
    shares = [r.predicted_seconds for r in batch.runs]
    assert len(set(shares)) == 1 and shares[0] and shares[0] * 3 < batch.predicted_seconds
    assert queue.get_job(ctx, enhance).predicted_seconds is None


@pytest.mark.parametrize("priority", [1001, -1001, 2**40, True])
def test_enhance_and_upscale_refuse_a_priority_out_of_range(ctx: Context, priority: int) -> None:
    prompt_ids = seed_prompts(ctx, 1)
    before = database_snapshot(ctx)
    with pytest.raises(InvalidInput, match="priority"):
        queue.enqueue_enhance(ctx, prompt_ids[0], priority=priority)
    with pytest.raises(InvalidInput, match="priority"):
        queue.enqueue_upscale(ctx, "no-such-run", priority=priority)
    assert database_snapshot(ctx) == before
