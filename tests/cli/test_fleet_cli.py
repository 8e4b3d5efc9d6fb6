"""The fleet on the command line: `cosmos fleet`, `batch analyze --slots`, the queue's slot and
ETA columns, and `cosmos worker --host A --host B`, with two hosts of two GPU profiles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cosmos_workflow.services.context import Context
from cosmos_workflow.worker.loop import run_worker
from tests.cli.runner import cosmos, cosmos_json
from tests.services.snapshot import database_snapshot

CONFIG = """
[[hosts]]
name = "big"
simulate = true
gpus = 2
[[hosts]]
name = "old"
simulate = true
gpu_profile = "a100-80gb"
"""


@pytest.fixture
def jobs(ctx: Context, input_folder: Path) -> list[str]:
    Path(os.environ["COSMOS_CONFIG"]).write_text(CONFIG)
    cosmos_json("input", "add", str(input_folder), "--name", "scene")
    prompt = cosmos_json("prompt", "create", "a street at dusk", "--input", "scene")["id"]
    return [
        cosmos_json("queue", "add", prompt, "--weights", f"edge=0.{i + 1}")["job_id"]
        for i in range(6)
    ]


def test_queue_list_shows_each_jobs_slot_and_eta(jobs: list[str]) -> None:
    page = cosmos_json("queue", "list")
    assert page["predicted_for"] == "a100-80gb"  # the fleet's slowest profile, stated
    listed = page["jobs"]
    assert {job["eta_slot"] for job in listed[:3]} == {"big/0", "big/1", "old/0"}
    assert all(job["eta_start_at"] and job["eta_finish_at"] for job in listed)
    code, out, _ = cosmos("queue", "list")
    assert code == 0 and "ETA" in out and "big/" in out and "old/0" in out


def test_analyze_plans_for_the_fleet_or_a_given_size(jobs: list[str]) -> None:
    fleet = cosmos_json("batch", "analyze")
    assert fleet["slots"] == 3 and fleet["gpu_profiles"] == ["h100-80gb", "a100-80gb"]
    assert fleet["gpu_profile"] == "a100-80gb"  # processes are formed for the slowest profile
    assert fleet["drain_seconds_after"] <= fleet["drain_seconds_before"]
    eight = cosmos_json("batch", "analyze", "--slots", "8")
    assert eight["slots"] == 8
    assert eight["lower_bound_seconds"] <= eight["drain_seconds_after"]
    code, out, _ = cosmos("batch", "show", eight["plan_id"])
    text = " ".join(out.split())
    assert code == 0 and "predicted drain time on 8 slot(s)" in text
    assert "no plan can drain it in less than" in text


@pytest.mark.parametrize("value", ["0", "-2", "4097", "many"])
def test_a_bad_slot_count_is_a_usage_error_that_changes_nothing(
    ctx: Context, jobs: list[str], value: str
) -> None:
    before = database_snapshot(ctx)
    code, _, err = cosmos("batch", "analyze", "--slots", value)
    assert code == 2 and "--slots" in err
    assert database_snapshot(ctx) == before


def test_fleet_shows_every_slot_its_work_and_a_timeline(
    ctx: Context, jobs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSMOS_SIM_TIME_SCALE", "0.0005")
    from cosmos_workflow.config import load_settings

    fleet_ctx = Context(load_settings())
    try:
        assert run_worker(fleet_ctx, host_names=["big", "old"], max_jobs=3) == 3
    finally:
        fleet_ctx.db.dispose()
    view = cosmos_json("fleet", "--hours", "1")
    slots = {slot["name"]: slot for host in view["hosts"] for slot in host["slots"]}
    assert sorted(slots) == ["big/0", "big/1", "old/0"]
    assert slots["big/1"]["devices"] == [1] and slots["old/0"]["gpu_profile"] == "a100-80gb"
    past = [s for slot in slots.values() for s in slot["timeline"] if s["kind"] == "succeeded"]
    predicted = [s for slot in slots.values() for s in slot["timeline"] if s["kind"] == "predicted"]
    assert len(past) == 3 and len(predicted) == 3
    assert view["queued_jobs"] == 3 and view["drain_at"] > view["at"]
    assert all(slot["idle_seconds"] is not None for slot in slots.values() if slot["timeline"])
    code, out, _ = cosmos("fleet")
    assert code == 0
    assert "big/1" in out and "#" in out and "~" in out and "|" in out


@pytest.mark.parametrize("value", ["0", "-1", "1000", "soon"])
def test_fleet_refuses_bad_hours(jobs: list[str], value: str) -> None:
    code, _, err = cosmos("fleet", "--hours", value)
    assert code == 2 and "--hours" in err


def test_worker_refuses_an_unknown_host_and_runs_nothing(ctx: Context, jobs: list[str]) -> None:
    before = database_snapshot(ctx)
    code, _, err = cosmos("worker", "--host", "big", "--host", "nope", "--exit-when-idle")
    assert code == 2 and "unknown host 'nope'" in err
    assert database_snapshot(ctx) == before
