"""Smart batching in real Chromium while workers are busy: Apply rebases a plan past a job a
worker claimed since the analysis and says so; "Analyze and apply" shows the plan and applies
it in one step."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from cosmos_workflow.services import batching, prompts, queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.jobs import claim_next_job
from tests.ui.conftest import Server
from tests.ui.pages import analyze, open_ui, tab, table_rows, toasts

pytestmark = pytest.mark.browser


def _queue_jobs(ctx: Context, count: int) -> list[str]:
    job_ids = []
    for index in range(count):
        prompt = prompts.create_prompt(ctx, "warehouse", f"warehouse take {index}")
        request = queue.build_request([prompt.id], {"edge": 0.5}, {"steps": 10})
        job_ids.append(queue.enqueue(ctx, request).job_id)
    return job_ids


def test_apply_rebases_past_a_claimed_job_and_says_so(
    server: Server, page: Any, ctx: Context, seeded: dict[str, str]
) -> None:
    jobs = _queue_jobs(ctx, 4)
    server.start("--no-worker")
    open_ui(page, server.url)
    analyze(page, "strict")
    claim = claim_next_job(ctx.db, "worker-elsewhere", lease_seconds=600)
    assert claim is not None and claim.job_id == jobs[0]
    page.locator("#batch-apply").click()
    expect(page.locator(".toast-body").first).to_contain_text("Applied", timeout=60_000)
    shown = toasts(page)
    assert "Rebased: 1 run(s) dropped from the plan (1 claimed" in shown
    assert "Batch(es) 1 shrank" in shown
    expect(page.locator("#batch-summary")).to_contain_text("1 claimed")
    assert {queue.get_job(ctx, j).status for j in jobs[1:]} == {"merged"}
    assert queue.get_job(ctx, jobs[0]).status == "running"


def test_analyze_and_apply_is_one_step_that_shows_the_plan(
    server: Server, page: Any, ctx: Context, seeded: dict[str, str]
) -> None:
    jobs = _queue_jobs(ctx, 3)
    server.start("--no-worker")
    open_ui(page, server.url)
    tab(page, "Jobs")
    page.locator("#batch-mode").get_by_label("strict", exact=True).check()
    page.locator("#batch-analyze-apply").click()
    expect(page.locator(".toast-body").first).to_contain_text("Applied", timeout=60_000)
    expect(page.locator("#batch-summary")).to_contain_text("Applied")
    plan = batching.get_plan(ctx)
    summary = str(page.locator("#batch-summary").inner_text())
    assert plan.applied_at is not None and plan.plan_id in summary
    (row,) = table_rows(page, "batch-table")
    assert (row[1], row[3]) == ("3", "edge")
    assert {queue.get_job(ctx, j).status for j in jobs} == {"merged"}
