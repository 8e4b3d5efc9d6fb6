"""The review page in headless Chromium against a real `cosmos serve` whose simulated worker
finished a small sweep: the axes, videos in sync, keys that rate and pick (checked through the
API), the comparison slider, a run's source videos and the export."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from cosmos_workflow.domain.sweeps import parse_axis
from cosmos_workflow.services import inputs, prompts, sweeps
from cosmos_workflow.services.context import Context
from tests.ui.conftest import SCREENSHOTS, Server
from tests.videos import make_input_folder

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


def _finished_sweep(ctx: Context, server: Server, tmp_path: Path) -> str:
    folder = make_input_folder(
        tmp_path / "scenes" / "harbour", controls=("depth", "seg"), frames=72
    )
    inputs.add_input(ctx, folder, name="harbour")
    prompt = prompts.create_prompt(ctx, "harbour", "a harbour at dawn", name="harbour-dawn").id
    axes = [parse_axis("depth=0.2,0.6"), parse_axis("seg=0.3,0.7")]
    request = sweeps.build_sweep([prompt], axes, seeds="1,2", name="harbour", params={"steps": 5})
    sweeps.queue_sweep(ctx, request)
    server.start()
    deadline = time.monotonic() + 180
    while sweeps.get_sweep(ctx, "harbour").status != "finished":
        assert time.monotonic() < deadline, "the simulated worker did not finish the sweep"
        time.sleep(0.5)
    return server.url


def _cells_in_sync(page: Any) -> float:
    """The largest distance (seconds, across the loop's seam) of a grid video from the clock."""
    return float(
        page.evaluate(
            """() => {
        const now = window.review.clockTime();
        const spread = [...document.querySelectorAll('td.cell video')].map((v) => {
            const d = Math.abs(v.currentTime - (now % v.duration));
            return Math.min(d, v.duration - d);
        });
        return Math.max(...spread);
    }"""
        )
    )


def test_review_a_sweep_in_the_browser(
    server: Server, page: Any, ctx: Context, tmp_path: Path
) -> None:
    url = _finished_sweep(ctx, server, tmp_path)
    page.goto(f"{url}review?sweep=harbour")
    page.wait_for_selector("td.cell video")
    assert page.locator("#pages button").all_inner_texts() == [
        "harbour-dawn · seed 1",
        "harbour-dawn · seed 2",
    ]
    assert page.locator("th.column-label").all_inner_texts() == ["seg 0.3", "seg 0.7"]
    assert page.locator("th.row-label").all_inner_texts() == ["depth 0.2", "depth 0.6"]
    page.wait_for_function(
        "[...document.querySelectorAll('td.cell video')].every(v => v.readyState >= 2 && !v.paused)"
    )
    page.wait_for_timeout(1200)
    times = page.eval_on_selector_all("td.cell video", "vs => vs.map(v => v.currentTime)")
    assert len(times) == 4 and _cells_in_sync(page) < 0.2, times
    assert len(set(times)) >= 1 and max(times) > 0  # they play
    page.keyboard.press("Space")  # pause: every video stops at the clock's time
    page.wait_for_timeout(400)
    paused = page.eval_on_selector_all("td.cell video", "vs => vs.map(v => v.currentTime)")
    assert max(paused) - min(paused) < 0.05 and page.inner_text("#play") == "Play"
    page.keyboard.press("Space")

    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowRight")
    run_id = page.get_attribute("td.cell.focused", "data-run")
    page.keyboard.press("4")
    page.keyboard.press("p")
    page.wait_for_selector("td.cell.focused.picked")
    shown = httpx.get(f"{url}api/runs/{run_id}").json()
    assert shown["rating"] == 4 and shown["picked"] is True
    assert shown["weights"] == {"depth": 0.6, "seg": 0.7} and shown["seed"] == 1
    page.screenshot(path=str(SCREENSHOTS / "review-grid.png"), full_page=True)

    page.keyboard.press("c")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("c")
    page.wait_for_selector("#compare:not([hidden])")
    page.wait_for_function("document.getElementById('compare-b').readyState >= 2")
    box = page.locator("#compare-stage").bounding_box()
    divider = page.locator("#divider").bounding_box()
    page.mouse.move(divider["x"] + 2, divider["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.25, divider["y"] + 20, steps=5)
    page.mouse.up()
    assert abs(float(page.input_value("#compare-slider")) - 25) < 3
    clip = page.eval_on_selector("#compare-b", "v => v.style.clipPath")
    assert clip.startswith("inset(0px 0px 0px 2") or clip.startswith("inset(0 0 0 2"), clip
    page.wait_for_timeout(600)
    pair = page.eval_on_selector_all("#compare video", "vs => vs.map(v => v.currentTime)")
    assert abs(pair[0] - pair[1]) < 0.2, pair
    page.locator("#compare").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "review-compare.png"), full_page=True)

    page.keyboard.press("Enter")  # the focused run's input and control videos
    page.wait_for_selector("#source-videos video[data-source='depth']")
    sources = page.eval_on_selector_all(
        "#source-videos video", "vs => vs.map(v => v.dataset.source)"
    )
    assert sources == ["input", "depth", "seg"]
    page.wait_for_function(
        "[...document.querySelectorAll('#source-videos video')].every(v => v.readyState >= 1)"
    )

    page.fill("#export-folder", str(tmp_path / "picked"))
    page.click("#export button[type=submit]")
    page.wait_for_selector("#export-result.ok")
    manifest = json.loads((tmp_path / "picked" / "manifest.json").read_text())
    assert [r["run_id"] for r in manifest["runs"]] == [run_id]
    page.click("#export button[type=submit]")  # again: the files are there
    page.wait_for_selector("#export-result.error")
    assert "--overwrite" in page.inner_text("#export-result")


def test_with_a_token_the_page_asks_for_it_and_signs_in(
    server: Server, page: Any, ctx: Context, tmp_path: Path
) -> None:
    token = "review-token-for-the-browser-test"
    server.env["COSMOS_API_TOKEN"] = token
    server.start("--no-worker")
    page.goto(f"{server.url}review")
    page.wait_for_selector("#login:not([hidden])")
    page.fill("#token", "not-the-token-at-all-really")
    page.click("#login button")
    page.wait_for_selector("#login-error:has-text('not this server')")
    page.fill("#token", token)
    page.click("#login button")
    page.wait_for_selector("#main:not([hidden])")
    assert "No runs to review" in page.inner_text("#grid")
    assert token not in page.content()
