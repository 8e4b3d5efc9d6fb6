"""The Runs tab's details of a run say its guardrail posture, in real Chromium against a real
`cosmos serve` whose simulated host asks for guardrails off: Transfer1 ran them anyway."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from cosmos_workflow.services import prompts, queue
from cosmos_workflow.services.context import Context
from tests.ui.conftest import Server
from tests.ui.pages import open_ui, tab

pytestmark = [pytest.mark.browser, pytest.mark.slow]

UNGUARDED_HOST = '[[hosts]]\nname = "gpu1"\nsimulate = true\ndisable_guardrails = true\n'


def test_run_details_show_the_guardrail_posture(
    server: Server, page: Any, ctx: Context, seeded: dict[str, str], env: dict[str, str]
) -> None:
    Path(env["COSMOS_CONFIG"]).write_text(UNGUARDED_HOST)
    prompt = prompts.create_prompt(ctx, "warehouse", "a warehouse at night")
    job_id = queue.enqueue(ctx, queue.build_request([prompt.id], {"edge": 0.5})).job_id
    server.start()
    deadline = time.monotonic() + 120
    while queue.get_job(ctx, job_id).status != "succeeded":
        assert time.monotonic() < deadline, queue.get_job(ctx, job_id)
        time.sleep(0.3)
    open_ui(page, server.url)
    tab(page, "Runs")
    page.locator("#runs-refresh").click()
    page.locator("#runs-gallery img").first.click()
    expect(page.locator("#runs-details")).to_contain_text(
        "guardrails: asked off, got on (Transfer1 cannot turn them off)"
    )
