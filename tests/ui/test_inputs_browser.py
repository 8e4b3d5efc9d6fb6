"""The Inputs tab in real Chromium: thumbnails captioned with names, a player per control video,
renaming an input, and removing it after a confirmation that lists what goes."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from cosmos_workflow.services import inputs, prompts
from cosmos_workflow.services.context import Context
from tests.ui.conftest import Server
from tests.ui.pages import open_ui, tab, toasts

pytestmark = pytest.mark.browser


def test_rename_then_remove_an_input(
    server: Server, page: Any, ctx: Context, seeded: dict[str, str]
) -> None:
    prompt = prompts.create_prompt(ctx, "warehouse", "a sunlit warehouse")
    server.start("--no-worker")
    open_ui(page, server.url)
    tab(page, "Inputs")
    gallery = page.locator("#inputs-gallery")
    expect(gallery).to_contain_text("warehouse")
    expect(gallery).to_contain_text("street")
    gallery.locator("img").first.click()
    expect(page.locator("#inputs-details")).to_contain_text("warehouse")
    for control in ("depth", "edge", "seg"):
        expect(page.locator(f"#inputs-control-{control} video")).to_have_count(1)
    expect(page.locator("#inputs-control-vis")).to_be_hidden()

    page.locator("#inputs-new-name textarea").fill("east warehouse")
    page.locator("#inputs-rename").click()
    expect(page.locator(".toast-body").first).to_contain_text("Renamed")
    expect(gallery).to_contain_text("east warehouse")
    assert inputs.show_input(ctx, seeded["warehouse"]).name == "east warehouse"

    page.locator("#inputs-remove").click()
    confirmation = page.locator("#inputs-remove-confirmation")
    expect(confirmation).to_contain_text("1 prompt(s)")
    expect(confirmation).to_contain_text(prompt.id)
    assert [v.name for v in inputs.list_inputs(ctx)] == ["east warehouse", "street"]
    page.locator("#inputs-remove-confirm").click()
    expect(page.locator(".toast-body").last).to_contain_text("Removed input east warehouse")
    expect(gallery.locator("img")).to_have_count(1)
    assert [v.name for v in inputs.list_inputs(ctx)] == ["street"], toasts(page)
    assert prompts.list_prompts(ctx) == []
