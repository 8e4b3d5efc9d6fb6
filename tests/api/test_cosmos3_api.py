"""`"backend": "cosmos3"` through the API: jobs, bulk jobs and sweeps queue runs holding the
Cosmos 3 values; what Cosmos 3 cannot render is a 422 that changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cosmos_workflow.services.context import Context
from tests.services.snapshot import database_snapshot
from tests.videos import make_input_folder

C3_VALUES: dict[str, Any] = {
    "backend": "cosmos3",
    "checkpoint": "Cosmos3-Super",
    "sampler": "edm",
    "sigma_max": 80.0,
    "diffusion_cache": False,
    "control_guidance": 2.5,
    "shift": 5.0,
    "resolution": "480",
    "chunk_frames": 121,
    "conditional_frames": 2,
    "max_frames": 200,
    "guidance": 4.0,
    "steps": 20,
    "fps": 24,
}


@pytest.fixture
def prompt_id(client: TestClient, tmp_path: Path) -> str:
    """A prompt of an input with depth and wsm control videos."""
    folder = make_input_folder(tmp_path / "c3", controls=("depth", "wsm"))
    made = client.post("/api/inputs", json={"path": str(folder), "name": "c3"})
    assert made.status_code == 201, made.text
    prompt = client.post("/api/prompts", json={"input": "c3", "text": "a forklift"})
    return str(prompt.json()["id"])


def _runs(client: TestClient, **query: str) -> list[dict[str, Any]]:
    response = client.get("/api/runs", params={**query, "limit": "100"})
    assert response.status_code == 200, response.text
    runs: list[dict[str, Any]] = response.json()["runs"]
    return runs


def test_a_cosmos3_job_queues_one_run_per_output_with_its_values(
    client: TestClient, prompt_id: str
) -> None:
    body = {
        "prompt_ids": [prompt_id],
        "weights": {"depth": 0.4, "wsm": 0.6},
        "params": {**C3_VALUES, "seed": 9, "num_outputs": 3},
    }
    response = client.post("/api/queue", json=body)
    assert response.status_code == 201, response.text
    assert len(response.json()["run_ids"]) == 3
    runs = _runs(client, job_id=response.json()["job_id"])
    assert sorted(r["params"]["seed"] for r in runs) == [9, 10, 11]
    assert all({k: r["params"][k] for k in C3_VALUES} == C3_VALUES for r in runs)


def test_bulk_jobs_and_sweeps_take_cosmos3(client: TestClient, prompt_id: str) -> None:
    jobs = [{"prompt_ids": [prompt_id], "weights": {"wsm": 1.0}, "params": C3_VALUES}]
    bulk = client.post("/api/queue/bulk", json={"jobs": jobs})
    assert bulk.status_code == 201, bulk.text
    [run] = _runs(client, job_id=bulk.json()["job_ids"][0])
    assert run["params"]["checkpoint"] == "Cosmos3-Super"
    sweep = {
        "prompt_ids": [prompt_id],
        "weights": {"depth": [0.2, 0.8], "wsm": [0.5]},
        "params": {**C3_VALUES, "num_outputs": 2},
        "name": "c3look",
    }
    made = client.post("/api/sweeps", json=sweep)
    assert made.status_code == 201, made.text
    assert made.json()["preview"]["runs"] == 4 and made.json()["preview"]["duplicates"] == 0
    runs = _runs(client, sweep="c3look")
    assert len(runs) == 4
    assert all({k: r["params"][k] for k in C3_VALUES} == C3_VALUES for r in runs)


def _job(prompt_id: str, weights: dict[str, float], **params: Any) -> dict[str, Any]:
    return {"prompt_ids": [prompt_id], "weights": weights, "params": params}


@pytest.mark.parametrize(
    ("weights", "params", "message", "field"),
    [
        ({"seg": 0.5}, {"backend": "cosmos3"}, "has no seg control video", "weights"),
        ({"edge": 0.5}, {"backend": "cosmos3", "fps": 30}, "fps 30 differs", "fps"),
        ({"edge": 0.5}, {"checkpoint": "Cosmos3-Nano"}, "is a Cosmos 3 parameter", "checkpoint"),
        (
            {"edge": 0.5},
            {"backend": "transfer2.5", "num_outputs": 2},
            "is a Cosmos 3 parameter",
            "num_outputs",
        ),
        ({"edge": 0.5}, {"backend": "cosmos3", "guidance": 8}, "guidance must be", "guidance"),
        ({"edge": 0.5}, {"backend": "cosmos3", "shift": 0}, "greater than 0", "params.shift"),
        ({"edge": 0.5}, {"backend": "cosmos3", "resolution": "1080"}, "720", "params.resolution"),
        ({"edge": 0.5}, {"backend": "cosmos3", "num_outputs": 65}, "64", "params.num_outputs"),
    ],
)
def test_what_cosmos3_cannot_render_is_a_422_that_changes_nothing(
    client: TestClient,
    ctx: Context,
    prompt_id: str,
    weights: dict[str, float],
    params: dict[str, Any],
    message: str,
    field: str,
) -> None:
    before = database_snapshot(ctx)
    response = client.post("/api/queue", json=_job(prompt_id, weights, **params))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert message in error["message"] and error["field"] == field, error
    bulk = client.post("/api/queue/bulk", json={"jobs": [_job(prompt_id, weights, **params)]})
    assert bulk.status_code == 422 and message in bulk.json()["error"]["message"]
    assert database_snapshot(ctx) == before


def test_a_cosmos3_sweep_of_one_controls_weight_is_a_422(
    client: TestClient, ctx: Context, prompt_id: str
) -> None:
    before = database_snapshot(ctx)
    sweep = {
        "prompt_ids": [prompt_id],
        "weights": {"depth": "0.2:0.8:0.2"},
        "params": {"backend": "cosmos3"},
        "dry_run": True,
    }
    response = client.post("/api/sweeps", json=sweep)
    assert response.status_code == 422, response.text
    assert "renders one video per seed" in response.json()["error"]["message"]
    assert database_snapshot(ctx) == before


def test_the_schema_offers_cosmos3_and_its_parameters(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["ParamsBody"]
    backend = schema["properties"]["backend"]["anyOf"][0]["enum"]
    assert backend == ["transfer1", "transfer2.5", "cosmos3"]
    for name in ("checkpoint", "sampler", "control_guidance", "num_outputs", "chunk_frames"):
        assert "Cosmos 3" in schema["properties"][name]["description"]
