"""The fleet over HTTP: GET /api/fleet, analyze for a fleet given by size or by GPU profile, the
queue's ETA fields, and refusals that change nothing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cosmos_workflow.services.context import Context
from tests.services.snapshot import database_snapshot

CONFIG = """
[[hosts]]
name = "big"
simulate = true
gpus = [0, 1, 2, 3]
gpus_per_job = 2
"""


@pytest.fixture
def fleet_config(env: dict[str, str]) -> None:
    """Written before the app's context reads the configuration (list it before `client`)."""
    Path(os.environ["COSMOS_CONFIG"]).write_text(CONFIG)


def _queue(client: TestClient, prompt_ids: list[str], count: int) -> list[str]:
    jobs = [
        {"prompt_ids": [prompt_ids[0]], "weights": {"edge": round(0.05 * (i + 1), 2)}}
        for i in range(count)
    ]
    return list(client.post("/api/queue/bulk", json={"jobs": jobs}).json()["job_ids"])


def test_fleet_lists_the_slots_of_a_host_with_gpus_per_job(
    fleet_config: None, client: TestClient, prompt_ids: list[str]
) -> None:
    _queue(client, prompt_ids, 3)
    view = client.get("/api/fleet", params={"hours": 2}).json()
    (host,) = view["hosts"]
    assert host["gpus"] == [0, 1, 2, 3] and host["gpus_per_job"] == 2
    assert [(s["name"], s["devices"]) for s in host["slots"]] == [
        ("big/0", [0, 1]),
        ("big/1", [2, 3]),
    ]
    assert view["slots"] == 2 and view["idle"] == 2 and view["queued_jobs"] == 3
    predicted = [seg for s in host["slots"] for seg in s["timeline"]]
    assert {seg["kind"] for seg in predicted} == {"predicted"} and len(predicted) == 3
    jobs = client.get("/api/queue").json()["jobs"]
    assert [job["eta_slot"] for job in jobs[:2]] == ["big/0", "big/1"]
    assert jobs[2]["eta_start_at"] == pytest.approx(jobs[0]["eta_finish_at"], abs=1.0)


def test_analyze_for_a_described_fleet(client: TestClient, prompt_ids: list[str]) -> None:
    _queue(client, prompt_ids, 16)
    sized = client.post("/api/batch/analyze", json={"slots": 8}).json()
    assert sized["slots"] == 8 and len(sized["batches"]) == 8
    mixed = client.post(
        "/api/batch/analyze",
        json={
            "fleet": [
                {"gpu_profile": "h100-80gb", "slots": 2},
                {"gpu_profile": "b200-192gb", "slots": 2, "gpu_memory_gb": 192},
            ]
        },
    ).json()
    assert mixed["slots"] == 4 and mixed["gpu_profiles"] == ["h100-80gb", "b200-192gb"]
    assert mixed["gpu_profile"] == "h100-80gb"  # the slower of the two
    assert {b["slot"] for b in mixed["batches"]} <= {
        "h100-80gb-0/0",
        "h100-80gb-0/1",
        "b200-192gb-1/0",
        "b200-192gb-1/1",
    }
    assert mixed["lower_bound_seconds"] <= mixed["drain_seconds_after"]
    assert mixed["drain_seconds_after"] <= mixed["drain_seconds_before"]


BAD_ANALYZE: list[tuple[dict[str, Any], str]] = [
    ({"slots": 0}, "slots"),
    ({"slots": 4097}, "slots"),
    ({"slots": "8"}, "slots"),
    ({"slots": True}, "slots"),
    ({"fleet": []}, "fleet"),
    ({"fleet": [{"gpu_profile": "h100-80gb"}]}, "fleet"),
    ({"fleet": [{"gpu_profile": "h100 80gb", "slots": 2}]}, "fleet"),
    ({"fleet": [{"gpu_profile": "h100-80gb", "slots": 2, "extra": 1}]}, "fleet"),
    ({"fleet": [{"gpu_profile": "h100-80gb", "slots": 4000}] * 2}, "fleet"),
    ({"slots": 2, "fleet": [{"gpu_profile": "h100-80gb", "slots": 2}]}, "fleet"),
]


@pytest.mark.parametrize(("body", "field"), BAD_ANALYZE)
def test_bad_fleet_descriptions_are_refused_and_change_nothing(
    ctx: Context, client: TestClient, prompt_ids: list[str], body: dict[str, Any], field: str
) -> None:
    _queue(client, prompt_ids, 2)
    before = database_snapshot(ctx)
    response = client.post("/api/batch/analyze", json=body)
    assert response.status_code in (400, 422), response.text
    assert field in response.text
    assert database_snapshot(ctx) == before


@pytest.mark.parametrize("hours", ["0", "-1", "169", "soon"])
def test_fleet_refuses_bad_hours(client: TestClient, hours: str) -> None:
    response = client.get("/api/fleet", params={"hours": hours})
    assert response.status_code == 422 and "hours" in response.text
