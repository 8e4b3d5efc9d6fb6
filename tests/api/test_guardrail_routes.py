"""The guardrail posture of a run through the API: none before it starts, what it asked and
got once a worker ran it, declared in the schema as the typed run response."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cosmos_workflow.services.context import Context
from cosmos_workflow.worker.loop import run_worker


def test_a_run_shows_its_guardrail_posture_once_it_ran(
    client: TestClient, ctx: Context, prompt_ids: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSMOS_SIM_TIME_SCALE", "0")
    added = client.post("/api/queue", json={"prompt_ids": prompt_ids[:1]}).json()
    run_id = added["run_ids"][0]
    queued = client.get(f"/api/runs/{run_id}").json()
    assert (queued["guardrails_asked"], queued["guardrails_got"]) == (None, None)
    assert run_worker(ctx, simulate=True, once=True) == 1
    ran = client.get(f"/api/runs/{run_id}").json()
    assert ran["status"] == "succeeded", ran["error"]
    assert (ran["guardrails_asked"], ran["guardrails_got"]) == ("on", "on")
    listed = client.get("/api/runs", params={"job_id": added["job_id"]}).json()["runs"]
    assert [(r["guardrails_asked"], r["guardrails_got"]) for r in listed] == [("on", "on")]


def test_the_schema_declares_the_posture_of_a_run(client: TestClient) -> None:
    run = client.get("/openapi.json").json()["components"]["schemas"]["RunView"]["properties"]
    for name in ("guardrails_asked", "guardrails_got"):
        types = {option.get("type") for option in run[name]["anyOf"]}
        assert types == {"string", "null"}, run[name]
