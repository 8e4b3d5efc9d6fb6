"""The UI in real Chromium against a real `cosmos serve`: smart batching from the Jobs tab, a
stale plan refused, a full run of 12+ jobs ending in playable videos, pause across restarts."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import expect

from cosmos_workflow.services import prompts, queue
from cosmos_workflow.services.context import Context
from tests.services.snapshot import database_snapshot
from tests.ui.conftest import SCREENSHOTS, Server
from tests.ui.pages import analyze, open_ui, screenshot, tab, table_rows, toasts

pytestmark = pytest.mark.browser


def _queue_jobs(ctx: Context, input_name: str, weights: list[dict[str, float]]) -> list[str]:
    """One job per weight set, each with its own prompt, through the services."""
    job_ids = []
    for index, job_weights in enumerate(weights):
        prompt = prompts.create_prompt(ctx, input_name, f"{input_name} variation {index}")
        request = queue.build_request([prompt.id], job_weights, {"steps": 10})
        job_ids.append(queue.enqueue(ctx, request).job_id)
    return job_ids


def _plan_cells(plan: Any) -> list[tuple[str, str]]:
    return [(str(len(b.run_ids)), "+".join(b.controls)) for b in plan.batches]


VERDICT_CELLS = {"identical": "identical", "verified": "verified", "may_differ": "MAY DIFFER"}


def test_empty_queue_has_nothing_to_batch(server: Server, page: Any, ctx: Context) -> None:
    server.start("--no-worker")
    open_ui(page, server.url)
    assert "nothing to batch" in analyze(page, "auto")
    assert table_rows(page, "batch-table") == []


def test_single_job_is_one_batch_with_speedup_one(
    server: Server, page: Any, ctx: Context, seeded: dict[str, str]
) -> None:
    _queue_jobs(ctx, "warehouse", [{"edge": 0.5}])
    server.start("--no-worker")
    open_ui(page, server.url)
    summary = analyze(page, "strict")
    assert "speedup 1.00x" in summary and "1 run(s) in 1 batch(es)" in summary
    rows = table_rows(page, "batch-table")
    assert len(rows) == 1 and rows[0][1] == "1" and rows[0][3] == "edge"


@pytest.mark.parametrize("mode", ["strict", "mixed", "auto"])
def test_plan_table_matches_the_service_plan(
    server: Server, page: Any, ctx: Context, seeded: dict[str, str], mode: str
) -> None:
    from cosmos_workflow.services import batching

    same = [{"edge": 0.5}] * 3
    mixed = [{"edge": 0.5, "depth": 0.3}, {"depth": 0.6}, {"seg": 0.4, "edge": 0.2}]
    _queue_jobs(ctx, "warehouse", same)
    _queue_jobs(ctx, "street", mixed)
    enhance = queue.enqueue_enhance(ctx, prompts.list_prompts(ctx)[0].id)
    server.start("--no-worker")
    open_ui(page, server.url)
    summary = analyze(page, mode)
    plan = batching.get_plan(ctx)
    assert plan.mode == mode and plan.plan_id in summary
    expect(page.locator("#batch-table div[role=row]")).to_have_count(len(plan.batches))
    rows = table_rows(page, "batch-table")
    assert [(r[1], r[3]) for r in rows] == _plan_cells(plan)
    assert [(r[8], r[9]) for r in rows] == [
        (VERDICT_CELLS[b.verdict], b.verdict_reason) for b in plan.batches
    ]
    assert f"{plan.speedup:.2f}x" in summary
    planned = {run_id for batch in plan.batches for run_id in batch.run_ids}
    assert plan.runs == 6 and not planned & set(enhance.run_ids)
    if mode == "strict":
        assert ("3", "edge") in _plan_cells(plan)


def test_allowing_output_changes_in_the_panel_labels_the_gpu_batch(
    server: Server, page: Any, ctx: Context, seeded: dict[str, str]
) -> None:
    from cosmos_workflow.services import batching

    _queue_jobs(ctx, "warehouse", [{"edge": 0.5}] * 3)
    server.start("--no-worker")
    open_ui(page, server.url)
    summary = analyze(page, "auto")
    assert "Outputs kept" in summary
    (row,) = table_rows(page, "batch-table")
    assert (row[5], row[8], row[9]) == ("1", "identical", "")
    page.locator("#batch-allow-changes input").check()
    page.locator("#batch-analyze").click()
    expect(page.locator("#batch-summary")).to_contain_text("Output changes allowed", timeout=60_000)
    expect(page.locator("#batch-table")).to_contain_text("MAY DIFFER")
    summary = str(page.locator("#batch-summary").inner_text())
    plan = batching.get_plan(ctx)
    assert plan.allow_output_changes and plan.plan_id in summary
    assert "Output changes allowed" in summary and "MAY DIFFER" in summary
    (row,) = table_rows(page, "batch-table")
    assert row[8] == "MAY DIFFER" and "--batch_size" in row[9] and int(row[5]) > 1


def test_stale_plan_is_refused_and_changes_nothing(
    server: Server, page: Any, ctx: Context, seeded: dict[str, str]
) -> None:
    _queue_jobs(ctx, "warehouse", [{"edge": 0.5}] * 3)
    server.start("--no-worker")
    open_ui(page, server.url)
    analyze(page, "strict")
    _queue_jobs(ctx, "street", [{"edge": 0.5}])
    before = database_snapshot(ctx)
    page.locator("#batch-apply").click()
    expect(page.locator(".toast-body").first).to_contain_text("queue changed")
    assert "stale" in toasts(page)
    assert database_snapshot(ctx) == before


def _wait_until_idle(ctx: Context, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = queue.queue_status(ctx)
        if status.queued == 0 and status.running == 0:
            return
        time.sleep(0.5)
    raise AssertionError(f"the queue did not drain: {queue.queue_status(ctx)}")


def test_apply_resume_and_the_runs_play(
    server: Server, page: Any, ctx: Context, seeded: dict[str, str]
) -> None:
    queue.set_paused(ctx, True)
    weights = [{"edge": 0.5}] * 6 + [{"depth": 0.5}] * 4 + [{"edge": 0.5, "depth": 0.3}] * 2
    job_ids = _queue_jobs(ctx, "warehouse", weights)
    server.start()
    open_ui(page, server.url)
    expect(page.locator("#banner")).to_contain_text("SIMULATED")
    tab(page, "Jobs")
    page.locator("#jobs-refresh").click()
    expect(page.locator("#jobs-table")).to_contain_text(job_ids[-1])
    summary = analyze(page, "auto")
    assert "12 run(s)" in summary
    page.locator("#batch-apply").click()
    expect(page.locator(".toast-body").first).to_contain_text("Applied")
    screenshot(page, SCREENSHOTS, "jobs")
    page.locator("#jobs-resume").click()
    _wait_until_idle(ctx)
    assert queue.queue_status(ctx).succeeded >= 1
    tab(page, "Runs")
    page.locator("#runs-refresh").click()
    expect(page.locator("#runs-summary")).to_contain_text("12 run(s) match")
    thumbnails = page.locator("#runs-gallery img")
    expect(thumbnails).to_have_count(12)
    thumbnails.first.click()
    video = page.locator("#runs-video video")
    expect(video).to_have_count(1)
    page.wait_for_function(
        "() => { const v = document.querySelector('#runs-video video');"
        " return v && v.readyState >= 2 && v.duration > 0; }",
        timeout=60_000,
    )
    assert page.evaluate("document.querySelector('#runs-video video').duration") > 0
    expect(page.locator("#runs-details")).to_contain_text("succeeded")
    screenshot(page, SCREENSHOTS, "runs")
    tab(page, "Inputs")
    page.locator("#inputs-gallery img").first.click()
    expect(page.locator("#inputs-details")).to_contain_text("frames")
    screenshot(page, SCREENSHOTS, "inputs")
    tab(page, "Prompts")
    expect(page.locator("#prompts-table")).to_contain_text("warehouse variation 0")
    screenshot(page, SCREENSHOTS, "prompts")


def test_upscale_and_enhance_are_left_out_of_batches(
    server: Server, page: Any, ctx: Context, seeded: dict[str, str]
) -> None:
    from cosmos_workflow.services import batching, runs

    _queue_jobs(ctx, "warehouse", [{"edge": 0.5}] * 2)
    server.start()
    _wait_until_idle(ctx)
    finished = runs.list_runs(ctx, status="succeeded").runs
    queue.set_paused(ctx, True)
    upscale = queue.enqueue_upscale(ctx, finished[0].id)
    enhance = queue.enqueue_enhance(ctx, finished[0].prompt_id)
    _queue_jobs(ctx, "street", [{"edge": 0.5}] * 2)
    open_ui(page, server.url)
    summary = analyze(page, "auto")
    plan = batching.get_plan(ctx)
    planned = {run_id for batch in plan.batches for run_id in batch.run_ids}
    assert plan.runs == 2 and "2 run(s)" in summary
    assert not planned & {*upscale.run_ids, *enhance.run_ids}


def test_pause_survives_a_restart(
    server: Server, page: Any, ctx: Context, seeded: dict[str, str]
) -> None:
    job_ids = _queue_jobs(ctx, "warehouse", [{"edge": 0.5}])
    queue.set_paused(ctx, True)
    server.start()
    open_ui(page, server.url)
    tab(page, "Jobs")
    page.locator("#jobs-resume").click()
    expect(page.locator("#jobs-status")).to_contain_text("Queue running")
    page.locator("#jobs-pause").click()
    expect(page.locator("#jobs-status")).to_contain_text("PAUSED")
    server.stop()
    server.start()
    open_ui(page, server.url)
    expect(page.locator("#banner")).to_contain_text("PAUSED")
    tab(page, "Jobs")
    expect(page.locator("#jobs-status")).to_contain_text("PAUSED")
    time.sleep(3)  # give the restarted embedded worker the chance to (wrongly) claim the job
    assert queue.get_job(ctx, job_ids[0]).status in ("queued", "succeeded")
    assert queue.queue_status(ctx).paused is True
