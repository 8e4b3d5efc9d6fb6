"""The Fleet tab: its summary and slot table from a FleetView, and in real Chromium against a
real `cosmos serve` with two simulated hosts (three slots): the chart shows a row per slot, a
bar per finished job and a predicted bar per queued one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from cosmos_workflow.config import load_settings
from cosmos_workflow.services import prompts, queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.fleet import FleetView, HostView, SlotView
from cosmos_workflow.ui.fleet_tab import slot_rows, summary_text
from tests.ui.conftest import SCREENSHOTS, SIM_TIME_SCALE, Server
from tests.ui.pages import open_ui, screenshot, tab, table_rows
from tests.ui.test_fleet_chart import slot_view

NOW = 1_800_000_000.0
# Two simulated hosts: "big" cut into two one-GPU slots, "small" with one.
FLEET_TOML = (
    '[[hosts]]\nname = "big"\nsimulate = true\ngpu_profile = "h100-80gb"\ngpus = 2\n'
    "gpu_memory_gb = 80\n"
    '[[hosts]]\nname = "small"\nsimulate = true\ngpu_profile = "a100-80gb"\n'
    "gpu_memory_gb = 80\n"
)


def _slot(index: int, **changes: Any) -> SlotView:
    return slot_view("big", index, [], **changes)


def _view(slots: list[SlotView], **changes: Any) -> FleetView:
    host = HostView(
        name="big",
        remote=False,
        container="none",
        simulated=True,
        gpu_profile="h100-80gb",
        gpus=[0, 1, 2],
        gpus_per_job=1,
        slots=slots,
    )
    busy = sum(1 for slot in slots if slot.job_id)
    fields: dict[str, Any] = {
        "at": NOW,
        "since": NOW - 3600,
        "hosts": [host],
        "slots": len(slots),
        "busy": busy,
        "idle": len(slots) - busy,
        "queued_jobs": 0,
        "drain_at": None,
        "elsewhere": [],
    }
    return FleetView(**{**fields, **changes})


def test_summary_counts_slots_and_says_when_the_queue_drains() -> None:
    running = _slot(0, job_id="job_a", eta_finish_at=NOW + 600, progress={"step": 2})
    view = _view([running, _slot(1, worker_alive=False)], queued_jobs=4, drain_at=NOW + 5400)
    assert summary_text(view) == (
        "**2** slot(s): **1** busy, **1** idle; **4** queued job(s); predicted drain in "
        "**1.5 h**. 1 slot(s) without a live worker."
    )
    assert "nothing to drain" in summary_text(_view([_slot(0)]))
    unknown = summary_text(_view([_slot(0)], queued_jobs=1, elsewhere=["job_z"]))
    assert "drain time unknown" in unknown and "not configured here: job_z" in unknown


def test_slot_rows_show_progress_only_when_reported() -> None:
    steps = _slot(0, job_id="job_a", eta_finish_at=NOW + 90, progress={"step": 3, "total": 35})
    clips = _slot(1, job_id="job_b", progress={"step": 1, "total": 4, "clip": 1})
    starting = _slot(2, job_id="job_c", progress={"step": None, "total": None})
    idle = _slot(3, idle_seconds=720.0, queued_next=2, worker_id=None, worker_alive=False)
    rows = slot_rows(_view([steps, clips, starting, idle]))
    assert rows[0] == [
        "big/0 · h100-80gb · GPU 0",
        "alive",
        "job_a",
        "step 3 of 35",
        "in 1.5 min",
        "",
        0,
    ]
    # Transfer1 reports finished clips: one done of four is the second clip being generated.
    assert rows[1][3] == "clip 2 of 4" and rows[2][3] == "" and rows[2][4] == ""
    assert rows[3][1:] == ["none", "", "", "", "12.0 min", 2]
    assert slot_rows(_view([_slot(0)]))[0][5] == "never used"
    overdue = _slot(0, job_id="job_a", eta_finish_at=NOW - 300)
    assert slot_rows(_view([overdue]))[0][4] == "overdue by 5.0 min"
    late = summary_text(_view([overdue], drain_at=NOW - 300))
    assert "predicted drain: overdue by 5.0 min" in late
    assert "drain in **under 1 s**" in summary_text(_view([_slot(0)], drain_at=NOW + 0.5))


def _queue_jobs(ctx: Context, count: int) -> list[str]:
    """`count` jobs of one control with their own prompts, through the services."""
    job_ids = []
    for index in range(count):
        prompt = prompts.create_prompt(ctx, "warehouse", f"fleet variation {index}")
        request = queue.build_request([prompt.id], {"edge": 0.5}, {"steps": 10})
        job_ids.append(queue.enqueue(ctx, request).job_id)
    return job_ids


@pytest.fixture
def fleet_ctx(
    env: dict[str, str], seeded: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Context]:
    """A context on the two-host configuration; the server started later reads the same file."""
    Path(env["COSMOS_CONFIG"]).write_text(FLEET_TOML)
    monkeypatch.setenv("COSMOS_SIM_TIME_SCALE", SIM_TIME_SCALE)
    context = Context(load_settings())
    yield context
    context.db.dispose()


@pytest.mark.browser
def test_fleet_tab_draws_every_slot_with_finished_and_predicted_jobs(
    server: Server, page: Any, fleet_ctx: Context
) -> None:
    from cosmos_workflow.worker.loop import run_worker

    ctx = fleet_ctx
    job_ids = _queue_jobs(ctx, 5)
    assert run_worker(ctx, max_jobs=2, exit_when_idle=True) == 2
    done = [job_id for job_id in job_ids if queue.get_job(ctx, job_id).status == "succeeded"]
    waiting = [job_id for job_id in job_ids if job_id not in done]
    assert len(done) == 2 and len(waiting) == 3
    # Paused: the server's own worker holds every slot alive but starts nothing, so the queued
    # jobs stay predicted (the ETA schedules a paused queue as if resumed now).
    queue.set_paused(ctx, True)
    server.start()
    open_ui(page, server.url)
    tab(page, "Fleet")
    chart = page.locator("#fleet-chart svg")
    expect(chart.locator("g.slot-row")).to_have_count(3)
    slots = chart.locator("g.slot-row")
    assert [slots.nth(i).get_attribute("data-slot") for i in range(3)] == [
        "big/0",
        "big/1",
        "small/0",
    ]
    finished = chart.locator("rect.bar.succeeded")
    expect(finished).to_have_count(2)
    assert sorted(finished.nth(i).get_attribute("data-job") for i in range(2)) == sorted(done)
    predicted = chart.locator("rect.bar.predicted")
    expect(predicted).to_have_count(3)
    assert sorted(predicted.nth(i).get_attribute("data-job") for i in range(3)) == sorted(waiting)
    expect(chart.locator("line.now-line")).to_have_count(1)
    summary = page.locator("#fleet-summary")
    expect(summary).to_contain_text("3 slot(s)")
    expect(summary).to_contain_text("3 queued job(s)")
    expect(summary).to_contain_text("predicted drain in")
    rows = table_rows(page, "fleet-slots")
    assert [row[0] for row in rows] == [
        "big/0 · h100-80gb · GPU 0",
        "big/1 · h100-80gb · GPU 1",
        "small/0 · a100-80gb · GPU 0",
    ]
    assert sum(int(row[6]) for row in rows) == 3
    ticks = chart.locator("text.tick-label")
    hours = page.locator("#fleet-hours")
    hours.get_by_label("24 h", exact=True).check()
    expect(ticks.filter(has_text="-24 h")).to_have_count(1)
    expect(finished).to_have_count(2)
    hours.get_by_label("1 h", exact=True).check()  # the closest view of what just ran
    expect(ticks.filter(has_text="-45 min")).to_have_count(1)
    expect(predicted).to_have_count(3)
    screenshot(page, SCREENSHOTS, "fleet")
