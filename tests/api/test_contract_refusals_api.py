"""The API refuses what NVIDIA's entry points would fail on, and changes nothing."""

from __future__ import annotations

from fastapi.testclient import TestClient

from cosmos_workflow.services.context import Context
from tests.services.snapshot import database_snapshot


def test_an_empty_negative_prompt_is_a_422(client: TestClient, ctx: Context, input_id: str) -> None:
    before = database_snapshot(ctx)
    response = client.post(
        "/api/prompts", json={"input": input_id, "text": "a car", "negative": ""}
    )
    assert response.status_code == 422, response.text
    assert "negative prompt is empty" in response.text
    assert database_snapshot(ctx) == before
    made = client.post("/api/prompts", json={"input": input_id, "text": "a car"})
    assert made.status_code == 201 and made.json()["negative"] is None


def test_distilled_with_depth_is_a_422(client: TestClient, ctx: Context, input_id: str) -> None:
    prompt = client.post("/api/prompts", json={"input": input_id, "text": "a car"}).json()
    before = database_snapshot(ctx)
    response = client.post(
        "/api/queue",
        json={
            "prompt_ids": [prompt["id"]],
            "weights": {"depth": 0.5},
            "params": {"backend": "transfer2.5", "distilled": True},
        },
    )
    assert response.status_code == 422, response.text
    assert "exactly the edge control" in response.text
    assert database_snapshot(ctx) == before


def test_cosmos3_with_a_control_it_cannot_compute_is_a_422(
    client: TestClient, ctx: Context, input_id: str
) -> None:
    prompt = client.post("/api/prompts", json={"input": input_id, "text": "a car"}).json()
    before = database_snapshot(ctx)
    for control in ("seg", "wsm"):
        response = client.post(
            "/api/queue",
            json={
                "prompt_ids": [prompt["id"]],
                "weights": {control: 0.5},
                "params": {"backend": "cosmos3"},
            },
        )
        assert response.status_code == 422, response.text
        assert f"has no {control} control video" in response.text
        assert prompt["id"] in response.text
    assert database_snapshot(ctx) == before
