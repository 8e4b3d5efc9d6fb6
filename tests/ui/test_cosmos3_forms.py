"""Cosmos 3 in the Prompts tab's forms: the backend choice shows its parameters, a job and a
sweep queue runs holding them (checked through the services), and the sweep builder says in
place why a one-control Cosmos 3 sweep is refused. The form's reading is tested without a
browser too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from cosmos_workflow.domain.params import PARAM_NAMES
from cosmos_workflow.services import inputs, prompts, runs, sweeps
from cosmos_workflow.services.context import Context
from cosmos_workflow.ui.job_params import chosen
from tests.ui.conftest import Server
from tests.ui.pages import open_ui, tab
from tests.videos import make_input_folder


def _form(**given: Any) -> list[Any]:
    """The form's values in PARAM_NAMES order, every field empty unless given: as the browser
    sends them, an empty number field reads 0 and an empty choice ""."""
    choices = {"backend", "blur", "canny", "checkpoint", "sampler", "diffusion_cache", "resolution"}
    empty = {name: "" if name in choices else 0 for name in PARAM_NAMES}
    return [given.get(name, empty[name]) for name in PARAM_NAMES]


def test_the_form_sends_the_cosmos3_fields_only_for_cosmos3() -> None:
    values = _form(
        backend="cosmos3",
        checkpoint="Cosmos3-Super",
        diffusion_cache="off",
        num_outputs=3,
        distilled=True,  # hidden for cosmos3: not sent
        resolution="",
    )
    assert chosen(values) == {
        "backend": "cosmos3",
        "checkpoint": "Cosmos3-Super",
        "diffusion_cache": False,
        "num_outputs": 3,
    }
    # Switched back to Transfer1: the Cosmos 3 fields are hidden and not sent.
    values = _form(backend="transfer1", checkpoint="Cosmos3-Super", steps=20, distilled=True)
    assert chosen(values) == {"backend": "transfer1", "steps": 20, "distilled": True}
    assert chosen(_form(backend="cosmos3", diffusion_cache="on")) == {
        "backend": "cosmos3",
        "diffusion_cache": True,
    }


def _seed(ctx: Context, tmp_path: Path) -> str:
    folder = make_input_folder(tmp_path / "scenes" / "dock", controls=("depth", "wsm"))
    inputs.add_input(ctx, folder, name="dock")
    return prompts.create_prompt(ctx, "dock", "a forklift at dusk", name="dusk").id


def _choose(page: Any, elem_id: str, value: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=value, exact=True).click()


def _number(page: Any, elem_id: str, value: str) -> None:
    page.locator(f"#{elem_id} input").fill(value)
    page.locator(f"#{elem_id} input").press("Tab")


@pytest.mark.browser
def test_a_cosmos3_job_from_the_prompts_tab(
    server: Server, page: Any, ctx: Context, tmp_path: Path
) -> None:
    prompt_id = _seed(ctx, tmp_path)
    server.start("--no-worker")
    open_ui(page, server.url)
    tab(page, "Prompts")
    page.locator("#prompts-selected").get_by_label(f"dusk ({prompt_id})").check()
    page.get_by_text("Advanced parameters").first.click()
    expect(page.locator("#prompts-checkpoint")).to_be_hidden()
    _choose(page, "prompts-backend", "cosmos3")
    expect(page.locator("#prompts-checkpoint")).to_be_visible()
    expect(page.locator("#prompts-distilled")).to_be_hidden()
    _choose(page, "prompts-checkpoint", "Cosmos3-Super")
    _choose(page, "prompts-diffusion-cache", "off")
    _number(page, "prompts-seed", "5")
    _number(page, "prompts-num-outputs", "3")
    page.locator("#prompts-queue").click()
    expect(page.locator("#prompts-confirmation")).to_contain_text("3 run(s)")
    listed = runs.list_runs(ctx, prompt_id=prompt_id).runs
    assert sorted(r.seed for r in listed) == [5, 6, 7]
    params = listed[0].params
    assert params["backend"] == "cosmos3" and params["checkpoint"] == "Cosmos3-Super"
    assert params["diffusion_cache"] is False


@pytest.mark.browser
def test_a_cosmos3_sweep_from_the_sweep_builder(
    server: Server, page: Any, ctx: Context, tmp_path: Path
) -> None:
    prompt_id = _seed(ctx, tmp_path)
    server.start("--no-worker")
    open_ui(page, server.url)
    tab(page, "Prompts")
    field = page.locator("#sweep-prompts input")
    field.click()
    field.fill(prompt_id)
    page.get_by_role("option", name=prompt_id).click()
    page.get_by_text("Advanced parameters").nth(1).click()
    _choose(page, "sweep-backend", "cosmos3")
    expect(page.locator("#sweep-checkpoint")).to_be_visible()
    page.locator("#sweep-weights-1").get_by_role("textbox").fill("0.2,0.8")  # depth alone
    count = page.locator("#sweep-count")
    expect(count).to_contain_text("renders one video per seed")
    _choose(page, "sweep-control-3", "wsm")
    page.locator("#sweep-weights-3").get_by_role("textbox").fill("0.5")
    _choose(page, "sweep-checkpoint", "Cosmos3-Super")
    page.locator("#sweep-name").get_by_role("textbox").fill("c3-dock")
    expect(count).to_contain_text("1 prompt x 2 depth x 1 wsm = 2 runs")
    page.locator("#sweep-queue").click()
    expect(page.locator("#sweep-result")).to_contain_text("Queued sweep c3-dock")
    view = sweeps.get_sweep(ctx, "c3-dock")
    assert view.axes == {"depth": [0.2, 0.8], "wsm": [0.5]}
    assert view.params["backend"] == "cosmos3" and view.params["checkpoint"] == "Cosmos3-Super"
