"""Live updates in real Chromium against a real `cosmos serve` with a simulated worker: with
nobody reloading or clicking Refresh, the Jobs tab follows a job from queued through running
(its progress and the counts agree) to succeeded, and the Runs tab, open in a second browser,
shows the finished run saying what it is. With a token, a browser that signed in through the
login page gets the same stream (its session cookie)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from cosmos_workflow.services import prompts, queue
from cosmos_workflow.services.context import Context
from tests.ui.conftest import Server, browser_page
from tests.ui.pages import open_ui, tab, table_rows

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Slow enough to watch the job run (a few seconds), fast enough for a short test.
WATCHABLE_TIME_SCALE = "0.03"
TOKEN = "a-browser-token-for-tests"
PROMPT = "a forklift crossing a wet warehouse floor at night, headlights on"
PROGRESS = re.compile(r"(clip|step) \d+ of \d+")  # Transfer1 counts clips


@pytest.fixture
def second_page(browser: Any) -> Iterator[Any]:
    with browser_page(browser) as opened:
        yield opened


def _row_of(page: Any, job_id: str) -> list[str]:
    rows = [row for row in table_rows(page, "jobs-table") if job_id in row]
    return rows[0] if rows else []


def _live(page: Any) -> dict[str, Any]:
    return dict(page.evaluate("() => ({...window.cosmosLive})"))


def test_jobs_and_runs_follow_a_job_without_a_reload(
    server: Server, page: Any, second_page: Any, ctx: Context, seeded: dict[str, str]
) -> None:
    queue.set_paused(ctx, True)
    prompt = prompts.create_prompt(ctx, "warehouse", PROMPT)
    server.env["COSMOS_SIM_TIME_SCALE"] = WATCHABLE_TIME_SCALE
    server.start()
    open_ui(page, server.url)
    tab(page, "Jobs")
    page.locator("#jobs-history input").check()  # finished jobs stay listed
    open_ui(second_page, server.url)
    tab(second_page, "Runs")
    expect(second_page.locator("#runs-summary")).to_contain_text("0 run(s) match")
    page.wait_for_function("() => window.cosmosLive && window.cosmosLive.open")

    request = queue.build_request([prompt.id], {"depth": 0.4, "seg": 0.3}, {"steps": 10})
    job_id = queue.enqueue(ctx, request).job_id
    expect(page.locator("#jobs-table")).to_contain_text(job_id, timeout=10_000)
    row = _row_of(page, job_id)
    assert row[2] == "queued" and row[5] == "1" and row[6] == "depth 0.4, seg 0.3", row

    queue.set_paused(ctx, False)
    running = page.locator("#jobs-running")
    expect(running).to_contain_text(PROGRESS, timeout=20_000)
    # One trigger refreshed the panel and the queue: they show the same moment.
    status = str(page.locator("#jobs-status").inner_text())
    assert "1 running" in status and _row_of(page, job_id)[2] == "running", status
    assert "depth 0.4-0.4" not in running.inner_text()
    assert f"`{job_id}`" not in running.inner_text()  # rendered as code, not backticks
    assert job_id in running.inner_text() and "depth 0.4, seg 0.3" in running.inner_text()

    expect(page.locator("#jobs-status")).to_contain_text("1 succeeded", timeout=60_000)
    expect(running).to_contain_text("nothing is running now")
    assert _row_of(page, job_id)[2] == "succeeded"
    page.locator("#jobs-table [role=gridcell]", has_text=job_id).first.click()
    expect(page.locator("#jobs-runs")).to_contain_text("forklift crossing")
    (run_row,) = table_rows(page, "jobs-runs")
    assert run_row[1] == "succeeded" and run_row[3] == "depth=0.4, seg=0.3" and run_row[4]

    summary = second_page.locator("#runs-summary")
    expect(summary).to_contain_text("1 run(s) match; 1 with an output", timeout=20_000)
    expect(second_page.locator("#runs-gallery img")).to_have_count(1)
    expect(second_page.locator("#runs-gallery")).to_contain_text("forklift crossing")
    (listed,) = table_rows(second_page, "runs-table")
    assert listed[1] == "succeeded" and listed[2].startswith("a forklift crossing")
    assert listed[3] == "depth=0.4, seg=0.3" and listed[4].isdigit()
    for shown in (page, second_page):
        live = _live(shown)
        assert live["open"] and live["events"] > 0 and live["updates"] > 0, live


def test_with_a_token_the_signed_in_page_reads_the_stream(
    server: Server, page: Any, ctx: Context, seeded: dict[str, str]
) -> None:
    server.env["COSMOS_API_TOKEN"] = TOKEN
    server.start("--no-worker")
    page.goto(server.url, timeout=90_000)
    page.locator("input[type=password]").fill(TOKEN)
    page.locator("input[type=text]").first.fill("reviewer")
    page.get_by_role("button", name=re.compile("login", re.IGNORECASE)).click()
    page.wait_for_selector("#banner", timeout=90_000)
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["cosmos_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict" and TOKEN not in session["value"]
    page.wait_for_function("() => window.cosmosLive && window.cosmosLive.open", timeout=30_000)
    tab(page, "Jobs")
    prompt = prompts.create_prompt(ctx, "warehouse", PROMPT)
    job_id = queue.enqueue(ctx, queue.build_request([prompt.id], {"edge": 0.5})).job_id
    expect(page.locator("#jobs-table")).to_contain_text(job_id, timeout=10_000)
    assert _live(page)["events"] > 0
