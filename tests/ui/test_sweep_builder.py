"""The Prompts tab's sweep builder in real Chromium against a real `cosmos serve`: a live count
as the weights are typed, queueing, the sweeps list, the limit's confirmation, and cancelling;
checked through the services."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from cosmos_workflow.services import prompts, sweeps
from cosmos_workflow.services.context import Context
from tests.ui.conftest import SCREENSHOTS, Server
from tests.ui.pages import TOAST, open_ui, tab, table_rows, toasts

pytestmark = pytest.mark.browser


def _two_prompts(ctx: Context) -> list[str]:
    texts = ["a forklift crosses the aisle at dusk", "rain on the loading dock"]
    return [
        prompts.create_prompt(ctx, "warehouse", text, name=f"dock-{i}").id
        for i, text in enumerate(texts)
    ]


def _pick_prompts(page: Any, prompt_ids: list[str]) -> None:
    """Pick each prompt in the multi-select by typing part of its label, as a person does."""
    field = page.locator("#sweep-prompts input")
    for prompt_id in prompt_ids:
        field.click()
        field.fill(prompt_id)
        page.get_by_role("option", name=prompt_id).click()


def _weights(page: Any, row: int, text: str) -> None:
    page.locator(f"#sweep-weights-{row}").get_by_role("textbox").fill(text)


def test_build_queue_list_and_cancel_a_sweep(
    server: Server, page: Any, ctx: Context, seeded: dict[str, str]
) -> None:
    prompt_ids = _two_prompts(ctx)
    server.start("--no-worker")
    open_ui(page, server.url)
    tab(page, "Prompts")
    count = page.locator("#sweep-count")
    _weights(page, 1, "0.3,0.6")
    expect(count).to_contain_text("pick at least one prompt")
    _pick_prompts(page, prompt_ids)
    _weights(page, 2, "0.4:0.2:0.1")  # a mistake while typing: said in place, not a popup
    expect(count).to_contain_text("stops (0.2) before it starts (0.4)")
    assert toasts(page) == ""
    _weights(page, 2, "0.2:0.4:0.2")
    page.locator("#sweep-name").get_by_role("textbox").fill("dock-depth-seg")
    expect(count).to_contain_text("2 prompts x 2 depth x 2 seg = 8 runs in 4 jobs")
    expect(count).to_contain_text("dock-depth-seg")
    expect(count).to_contain_text("predicted GPU time")
    assert sweeps.list_sweeps(ctx).total == 0  # the count is a dry run: nothing queued

    page.locator("#sweep-queue").click()
    result = page.locator("#sweep-result")
    expect(result).to_contain_text("Queued sweep dock-depth-seg")
    view = sweeps.get_sweep(ctx, "dock-depth-seg")
    assert (view.runs, view.counts, view.prompt_ids) == (8, {"queued": 8}, prompt_ids)
    assert view.axes == {"depth": [0.3, 0.6], "seg": [0.2, 0.4]}
    expect(result.locator("a")).to_have_attribute("href", f"/review?sweep={view.id}")
    expect(page.locator("#sweeps-table")).to_contain_text("dock-depth-seg")
    (row,) = table_rows(page, "sweeps-table")
    assert row[:4] == [view.id, "dock-depth-seg", "queued", "8 queued"]
    link = page.locator("#sweeps-table").get_by_role("link", name="review")
    expect(link).to_have_attribute("href", f"/review?sweep={view.id}")
    for close in page.locator(".toast-close").all():
        close.click()  # the "Queued" toast would cover the screenshot
    expect(page.locator(TOAST)).to_have_count(0)
    page.locator("#sweep-section").screenshot(path=str(SCREENSHOTS / "sweep-builder.png"))

    page.locator("#sweeps-table [role=gridcell]").first.click()  # picks the row's sweep
    expect(page.locator("#sweeps-pick input")).to_have_value("dock-depth-seg (queued)")
    page.locator("#sweeps-cancel").click()
    expect(page.locator("#sweeps-cancelled")).to_contain_text(
        "dock-depth-seg: 8 queued runs cancelled."
    )
    assert sweeps.get_sweep(ctx, view.id).counts == {"cancelled": 8}
    expect(page.locator("#sweeps-table")).to_contain_text("8 cancelled")


def test_a_sweep_above_the_limit_needs_confirming(
    server: Server, page: Any, ctx: Context, seeded: dict[str, str]
) -> None:
    prompt_ids = _two_prompts(ctx)
    server.env["COSMOS_MAX_SWEEP_RUNS"] = "4"
    server.start("--no-worker")
    open_ui(page, server.url)
    tab(page, "Prompts")
    _pick_prompts(page, prompt_ids)
    _weights(page, 0, "0.5")
    page.locator("#sweep-seeds").get_by_role("textbox").fill("1:3")
    expect(page.locator("#sweep-count")).to_contain_text("= 6 runs in 3 jobs")
    expect(page.locator("#sweep-count")).to_contain_text("Above the limit of 4 runs")
    page.locator("#sweep-queue").click()
    expect(page.locator("#sweep-result")).to_contain_text("Refused")
    assert sweeps.list_sweeps(ctx).total == 0
    confirm = page.get_by_label("queue 6 runs anyway")
    confirm.check()
    page.locator("#sweep-queue").click()
    expect(page.locator("#sweep-result")).to_contain_text("Queued sweep")
    (view,) = sweeps.list_sweeps(ctx).sweeps
    assert (view.runs, view.seeds, view.counts) == (6, [1, 2, 3], {"queued": 6})
