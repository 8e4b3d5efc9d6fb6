"""The sweep endpoints: create (preview, limit, confirm), list, show, cancel, and the runs
list's sweep and picked filters."""

from __future__ import annotations

from fastapi.testclient import TestClient

from cosmos_workflow.services.context import Context
from tests.services.helpers import seed_prompts
from tests.services.snapshot import database_snapshot


def test_create_list_show_and_cancel_a_sweep(ctx: Context, client: TestClient) -> None:
    prompts = seed_prompts(ctx, 2)
    body = {
        "prompt_ids": prompts,
        "weights": {"depth": "0.2:0.8:0.2", "seg": [0.3, 0.6]},
        "seeds": [1, 2],
        "name": "look",
        "params": {"steps": 10},
    }
    preview = client.post("/api/sweeps", json={**body, "dry_run": True})
    assert preview.status_code == 200, preview.text
    assert preview.json()["sweep"] is None and preview.json()["preview"]["runs"] == 32
    created = client.post("/api/sweeps", json=body)
    assert created.status_code == 201, created.text
    sweep = created.json()["sweep"]
    assert sweep["name"] == "look" and sweep["counts"] == {"queued": 32}
    assert client.get("/api/sweeps").json()["total"] == 1
    assert client.get("/api/sweeps/look").json()["id"] == sweep["id"]
    runs = client.get("/api/runs", params={"sweep": "look", "limit": 100}).json()["runs"]
    assert len(runs) == 32 and all(r["sweep_name"] == "look" for r in runs)
    cancelled = client.post(f"/api/sweeps/{sweep['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["cancelled_runs"] == 32
    assert client.get("/api/sweeps/nothing").status_code == 404


def test_refusals_change_nothing(ctx: Context, client: TestClient) -> None:
    ctx.settings.max_sweep_runs = 2
    prompts = seed_prompts(ctx, 1)
    before = database_snapshot(ctx)
    big = {"prompt_ids": prompts, "weights": {"edge": [0.1, 0.2, 0.3]}}
    refused = client.post("/api/sweeps", json=big)
    assert refused.status_code == 422 and "max_sweep_runs" in refused.text
    for bad in (
        {"prompt_ids": prompts, "weights": {"edge": "0.8:0.2:0.1"}},
        {"prompt_ids": prompts, "weights": {"edge": [2.0]}},
        {"prompt_ids": prompts, "weights": {}},
        {"prompt_ids": prompts, "weights": {"nope": [0.5]}},
        {"prompt_ids": prompts, "weights": {"edge": [0.5]}, "extra": 1},
        {"prompt_ids": ["missing"], "weights": {"edge": [0.5]}},
    ):
        assert client.post("/api/sweeps", json=bad).status_code in (404, 422), bad
    assert database_snapshot(ctx) == before
    assert client.post("/api/sweeps", json={**big, "confirm": True}).status_code == 201
