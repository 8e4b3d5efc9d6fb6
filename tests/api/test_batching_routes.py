"""Smart batching over HTTP: analyse, show, apply, a stale plan refused, undo, output verdicts
and the option that allows output changes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cosmos_workflow.services.context import Context
from tests.services.snapshot import database_snapshot


def _queue(client: TestClient, prompt_ids: list[str], weights: dict[str, float]) -> list[str]:
    jobs = [{"prompt_ids": [p], "weights": weights} for p in prompt_ids]
    return list(client.post("/api/queue/bulk", json={"jobs": jobs}).json()["job_ids"])


def test_empty_queue_plan_has_no_batches(client: TestClient) -> None:
    plan = client.post("/api/batch/analyze", json={"mode": "strict"}).json()
    assert plan["batches"] == [] and plan["runs"] == 0
    assert client.get("/api/batch/plan").json()["plan_id"] == plan["plan_id"]


def test_analyze_apply_undo(client: TestClient, prompt_ids: list[str]) -> None:
    job_ids = _queue(client, prompt_ids, {"edge": 0.5})
    plan = client.post("/api/batch/analyze", json={"mode": "strict"}).json()
    assert plan["runs"] == 3 and sum(len(b["run_ids"]) for b in plan["batches"]) == 3
    shown = client.get("/api/batch/plan", params={"plan_id": plan["plan_id"]}).json()
    assert shown["batches"] == plan["batches"]
    applied = client.post("/api/batch/apply", json={"plan_id": plan["plan_id"]}).json()
    assert applied["plan_id"] == plan["plan_id"]
    assert set(applied["merged_job_ids"]) <= set(job_ids)
    if applied["created_job_ids"]:
        batch_id = applied["created_job_ids"][0]
        undone = client.post("/api/batch/undo", json={"batch_job_id": batch_id}).json()
        assert set(undone["restored_job_ids"]) <= set(job_ids)
        assert client.get(f"/api/jobs/{batch_id}").status_code == 404


def test_stale_plan_is_refused_and_changes_nothing(
    client: TestClient, ctx: Context, prompt_ids: list[str]
) -> None:
    _queue(client, prompt_ids[:2], {"edge": 0.5})
    plan = client.post("/api/batch/analyze", json={"mode": "strict"}).json()
    _queue(client, prompt_ids[2:], {"edge": 0.5})
    before = database_snapshot(ctx)
    refused = client.post("/api/batch/apply", json={"plan_id": plan["plan_id"]})
    assert refused.status_code == 409 and "stale" in refused.json()["error"]["message"]
    assert database_snapshot(ctx) == before


def test_batching_refusals(client: TestClient) -> None:
    bad_mode = client.post("/api/batch/analyze", json={"mode": "greedy"})
    assert bad_mode.status_code == 422 and bad_mode.json()["error"]["field"] == "mode"
    missing = client.get("/api/batch/plan", params={"plan_id": "plan_missing"})
    assert missing.status_code == 404
    undo = client.post("/api/batch/undo", json={"batch_job_id": "job_missing"})
    assert undo.status_code == 404


def test_every_batch_carries_its_verdict_and_the_option_allows_changes(
    client: TestClient, prompt_ids: list[str]
) -> None:
    _queue(client, prompt_ids, {"edge": 0.5})
    kept = client.post("/api/batch/analyze", json={"mode": "auto"}).json()
    assert kept["allow_output_changes"] is False
    assert [(b["verdict"], b["verdict_reason"]) for b in kept["batches"]] == [("identical", "")]
    allowed = client.post(
        "/api/batch/analyze", json={"mode": "auto", "allow_output_changes": True}
    ).json()
    assert allowed["allow_output_changes"] is True
    (batch,) = allowed["batches"]
    assert batch["verdict"] == "may_differ" and batch["gpu_batch_size"] > 1
    assert "--batch_size" in batch["verdict_reason"]
    shown = client.get("/api/batch/plan", params={"plan_id": allowed["plan_id"]}).json()
    assert shown["batches"] == allowed["batches"]
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert "allow_output_changes" in schema["AnalyzeRequest"]["properties"]
    assert {"verdict", "verdict_reason"} <= set(schema["BatchView"]["properties"])


@pytest.mark.parametrize("value", ["yes", "true", 1, [True]])
def test_a_bad_allow_output_changes_is_refused_and_changes_nothing(
    client: TestClient, ctx: Context, prompt_ids: list[str], value: object
) -> None:
    _queue(client, prompt_ids[:2], {"edge": 0.5})
    before = database_snapshot(ctx)
    body = {"mode": "auto", "allow_output_changes": value}
    refused = client.post("/api/batch/analyze", json=body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == "allow_output_changes"
    assert database_snapshot(ctx) == before


def test_verdicts_are_listed(client: TestClient, ctx: Context) -> None:
    from cosmos_workflow.domain.controls import Control
    from cosmos_workflow.domain.params import Backend
    from cosmos_workflow.domain.verdicts import BatchingKind, VerdictKey
    from cosmos_workflow.store.verdicts import save_verdict

    assert client.get("/api/batch/verdicts").json() == []
    key = VerdictKey.of(
        Backend.TRANSFER1, False, BatchingKind.GPU_BATCH, frozenset({Control.EDGE}), "h100-80gb"
    )
    with ctx.db.write() as session:
        save_verdict(
            session,
            key,
            identical=False,
            bit_identical=False,
            min_psnr_db=27.5,
            runs_compared=2,
            simulated=False,
            details={},
        )
    [listed] = client.get("/api/batch/verdicts").json()
    assert listed["kind"] == "gpu_batch" and listed["controls"] == "edge"
    assert listed["verified"] is False and listed["min_psnr_db"] == 27.5


def test_a_plan_is_applied_rebased_past_a_claimed_job(
    client: TestClient, ctx: Context, prompt_ids: list[str]
) -> None:
    from cosmos_workflow.store.jobs import claim_next_job

    job_ids = _queue(client, prompt_ids, {"edge": 0.5})
    plan = client.post("/api/batch/analyze", json={"mode": "strict"}).json()
    claim = claim_next_job(ctx.db, "worker-test", lease_seconds=60)
    assert claim is not None and claim.job_id == job_ids[0]
    before = database_snapshot(ctx)
    stale = client.post("/api/batch/apply", json={"plan_id": plan["plan_id"]})
    assert stale.status_code == 409 and "--rebase" in stale.json()["error"]["message"]
    assert database_snapshot(ctx) == before
    body = {"plan_id": plan["plan_id"], "rebase": True}
    applied = client.post("/api/batch/apply", json=body).json()
    assert applied["rebased"] is True and applied["shrunk_batches"] == [1]
    assert [(d["job_id"], d["why"]) for d in applied["dropped_runs"]] == [(job_ids[0], "claimed")]
    assert sorted(applied["merged_job_ids"]) == sorted(job_ids[1:])
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert "rebase" in schema["ApplyRequest"]["properties"]
    assert {"dropped_runs", "shrunk_batches", "vanished_batches"} <= set(
        schema["ApplyResult"]["properties"]
    )


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_a_bad_rebase_is_refused_and_changes_nothing(
    client: TestClient, ctx: Context, prompt_ids: list[str], value: object
) -> None:
    _queue(client, prompt_ids[:2], {"edge": 0.5})
    client.post("/api/batch/analyze", json={"mode": "strict"})
    before = database_snapshot(ctx)
    refused = client.post("/api/batch/apply", json={"rebase": value})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == "rebase"
    assert database_snapshot(ctx) == before
