"""Every route group through HTTP on a real database: shapes, the error body, and refusals that
change nothing."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from cosmos_workflow.services.context import Context
from tests.services.snapshot import database_snapshot
from tests.videos import make_input_folder


def test_health_openapi_and_docs(client: TestClient) -> None:
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["database"] == "sqlite"
    assert health["paused"] is False and health["workers_alive"] == 0
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/inputs",
        "/api/queue",
        "/api/batch/analyze",
        "/api/runs/{run_id}/video",
        "/api/events",
        "/api/workers",
    ):
        assert path in paths
    assert "swagger" in client.get("/docs").text.lower()


def test_inputs_add_list_show_thumbnail(client: TestClient, input_id: str) -> None:
    listed = client.get("/api/inputs").json()
    assert [i["id"] for i in listed] == [input_id]
    shown = client.get("/api/inputs/scene").json()
    assert (
        shown["frames"] == 12
        and shown["width"] == 64
        and set(shown["controls"]) == {"depth", "edge"}
    )
    thumb = client.get(f"/api/inputs/{input_id}/thumbnail")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.content[:2] == b"\xff\xd8"


def test_input_outside_roots_is_refused_and_changes_nothing(
    client: TestClient, ctx: Context, tmp_path: Path
) -> None:
    outside = make_input_folder(tmp_path.parent / f"{tmp_path.name}-outside")
    before = database_snapshot(ctx)
    response = client.post("/api/inputs", json={"path": str(outside)})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "path" and "outside the allowed input roots" in error["message"]
    assert database_snapshot(ctx) == before


def test_request_validation_error_names_the_field(client: TestClient, ctx: Context) -> None:
    before = database_snapshot(ctx)
    response = client.post("/api/inputs", json={"name": "x"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "path"
    response = client.get("/api/queue", params={"limit": 0})
    assert response.status_code == 422 and response.json()["error"]["field"] == "limit"
    assert database_snapshot(ctx) == before


def test_prompts_create_list_search_show_delete(client: TestClient, prompt_ids: list[str]) -> None:
    assert [p["id"] for p in client.get("/api/prompts").json()] == prompt_ids
    assert [
        p["id"] for p in client.get("/api/prompts", params={"limit": 1, "offset": 1}).json()
    ] == prompt_ids[1:2]
    found = client.get("/api/prompts/search", params={"q": "SNOWY"}).json()
    assert [p["id"] for p in found] == [prompt_ids[1]]
    assert client.get(f"/api/prompts/{prompt_ids[0]}").json()["text"] == "a red car at dusk"
    deleted = client.delete(f"/api/prompts/{prompt_ids[2]}").json()
    assert deleted["deleted"] is True
    missing = client.get(f"/api/prompts/{prompt_ids[2]}")
    assert missing.status_code == 404 and "no prompt" in missing.json()["error"]["message"]


def test_prompt_errors(client: TestClient, input_id: str, ctx: Context) -> None:
    before = database_snapshot(ctx)
    empty = client.post("/api/prompts", json={"input": "scene", "text": "  "})
    assert empty.status_code == 422 and empty.json()["error"]["field"] == "text"
    unknown = client.post("/api/prompts", json={"input": "nope", "text": "x"})
    assert unknown.status_code == 404
    assert database_snapshot(ctx) == before


def test_queue_add_list_status_pause_move_cancel_retry(
    client: TestClient, prompt_ids: list[str]
) -> None:
    first = client.post(
        "/api/queue",
        json={
            "prompt_ids": prompt_ids[:2],
            "weights": {"edge": 0.5, "depth": 0.3},
            "params": {"steps": 20},
        },
    )
    assert first.status_code == 201, first.text
    second = client.post("/api/queue", json={"prompt_ids": prompt_ids[2:]}).json()
    jobs = client.get("/api/queue").json()
    assert jobs["total"] == 2 and [j["position"] for j in jobs["jobs"]] == [1, 2]
    run = jobs["jobs"][0]["runs"][0]
    assert run["weights"] == {"edge": 0.5, "depth": 0.3} and run["params"]["steps"] == 20
    page = client.get("/api/queue", params={"limit": 1, "offset": 1}).json()
    assert page["total"] == 2 and [j["id"] for j in page["jobs"]] == [second["job_id"]]
    assert client.post("/api/queue/pause").json()["paused"] is True
    assert client.get("/api/queue/status").json()["paused"] is True
    assert client.post("/api/queue/resume").json()["paused"] is False
    moved = client.post(f"/api/jobs/{second['job_id']}/move", json={"where": "top"}).json()
    assert moved["position"] == 1
    cancelled = client.post(f"/api/jobs/{second['job_id']}/cancel").json()
    assert cancelled["status"] == "cancelled"
    retried = client.post(f"/api/jobs/{second['job_id']}/retry")
    assert retried.status_code == 201 and len(retried.json()["run_ids"]) == 1
    shown = client.get(f"/api/jobs/{retried.json()['job_id']}").json()
    assert shown["retry_of_job_id"] == second["job_id"] and shown["status"] == "queued"
    again = client.post(f"/api/jobs/{second['job_id']}/cancel")
    assert again.status_code == 409 and "only queued or running" in again.json()["error"]["message"]


def test_queue_add_answers_201_when_created_and_200_for_a_used_idempotency_key(
    client: TestClient, prompt_ids: list[str], ctx: Context
) -> None:
    body = {"prompt_ids": prompt_ids[:2], "weights": {"edge": 0.5}, "idempotency_key": "k-1"}
    first = client.post("/api/queue", json=body)
    assert first.status_code == 201 and first.json()["created"] is True
    before = database_snapshot(ctx)
    again = client.post("/api/queue", json=body)
    assert again.status_code == 200, again.text
    assert again.json() == {**first.json(), "created": False}
    assert database_snapshot(ctx) == before
    other_key = client.post("/api/queue", json={**body, "idempotency_key": "k-2"})
    assert other_key.status_code == 201 and other_key.json()["job_id"] != first.json()["job_id"]


def test_queue_refusals_change_nothing(
    client: TestClient, prompt_ids: list[str], ctx: Context
) -> None:
    before = database_snapshot(ctx)
    bad_weight = client.post("/api/queue", json={"prompt_ids": prompt_ids, "weights": {"edge": 2}})
    assert bad_weight.status_code == 422 and bad_weight.json()["error"]["field"] == "weights.edge"
    bad_param = client.post("/api/queue", json={"prompt_ids": prompt_ids, "params": {"steps": -3}})
    assert bad_param.status_code == 422 and bad_param.json()["error"]["field"] == "params.steps"
    unknown = client.post("/api/queue", json={"prompt_ids": ["pr_missing"]})
    assert unknown.status_code == 404
    extra = client.post("/api/queue", json={"prompt_ids": prompt_ids, "colour": "red"})
    assert extra.status_code == 422 and extra.json()["error"]["field"] == "colour"
    assert database_snapshot(ctx) == before


def test_bulk_add_is_all_or_nothing(
    client: TestClient, prompt_ids: list[str], ctx: Context
) -> None:
    before = database_snapshot(ctx)
    jobs = [{"prompt_ids": [p], "weights": {"edge": 0.5}} for p in prompt_ids]
    jobs[1]["weights"] = {"edge": 5}
    refused = client.post("/api/queue/bulk", json={"jobs": jobs})
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "jobs.1.weights.edge"
    assert database_snapshot(ctx) == before
    jobs[1]["weights"] = {"depth": 0.4}
    jobs[0]["idempotency_key"] = "k-0"
    created = client.post("/api/queue/bulk", json={"jobs": jobs})
    assert created.status_code == 201 and len(created.json()["job_ids"]) == 3
    resubmitted = client.post("/api/queue/bulk", json={"jobs": jobs[:1]}).json()
    assert resubmitted["job_ids"] == []
    assert client.get("/api/queue").json()["total"] == 3


def test_upscale_and_enhance(client: TestClient, prompt_ids: list[str]) -> None:
    added = client.post("/api/queue", json={"prompt_ids": prompt_ids[:1]}).json()
    refused = client.post(f"/api/runs/{added['run_ids'][0]}/upscale", json={"weight": 0.5})
    assert (
        refused.status_code == 409 and "only a finished run" in refused.json()["error"]["message"]
    )
    enhanced = client.post(f"/api/prompts/{prompt_ids[0]}/enhance", json={"priority": 3})
    assert enhanced.status_code == 201
    job = client.get(f"/api/jobs/{enhanced.json()['job_id']}").json()
    assert job["kind"] == "enhance" and job["priority"] == 3


def test_workers_list(client: TestClient, ctx: Context) -> None:
    from cosmos_workflow.store.workers import register_worker, stop_worker

    worker_id = register_worker(ctx.db, "local-simulated", simulate=True)
    listed = client.get("/api/workers").json()
    assert [(w["id"], w["alive"], w["simulate"]) for w in listed] == [(worker_id, True, True)]
    assert listed[0]["current_job_id"] is None and listed[0]["heartbeat_at"] > 0
    assert client.get("/api/health").json()["simulated"] is True
    stop_worker(ctx.db, worker_id)
    assert client.get("/api/workers").json() == []
    stopped = client.get("/api/workers", params={"include_stopped": True}).json()
    assert stopped[0]["alive"] is False
