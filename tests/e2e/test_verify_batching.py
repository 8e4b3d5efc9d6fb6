"""`cosmos verify-batching` end to end on the simulator: real CLI, worker code, simulator
processes and output videos, compared frame by frame and stored as verdicts."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from cosmos_workflow.domain.params import Backend
from cosmos_workflow.domain.verdicts import BatchingKind, VerdictKey
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.models import BatchingVerdictRow
from cosmos_workflow.store.verdicts import verified_keys
from tests.e2e.conftest import Cosmos
from tests.services.snapshot import database_snapshot

pytestmark = pytest.mark.slow


def _prompts(cosmos: Cosmos, scene: str, count: int) -> list[str]:
    return [
        cosmos.json("prompt", "create", f"a quiet road, take {i}", "--input", scene)["id"]
        for i in range(count)
    ]


def test_transfer1_mixing_is_verified_and_gpu_batching_is_not(
    ctx: Context, cosmos: Cosmos, scene: str
) -> None:
    """The simulator follows NVIDIA's code: a zero-weight control contributes nothing, so a run
    mixed into a larger control set renders the same; a GPU batch draws its noise for the whole
    tensor, so its items render differently from alone."""
    prompt_ids = _prompts(cosmos, scene, 2)
    report = cosmos.json("verify-batching", *prompt_ids, "--controls", "depth,edge", "--simulate")
    results = {r["kind"]: r for r in report["results"]}
    assert set(results) == {"mixed", "gpu_batch"}
    mixed, gpu = results["mixed"], results["gpu_batch"]
    assert mixed["identical"] and mixed["bit_identical"] and mixed["runs_compared"] == 2
    assert mixed["simulated"] and mixed["controls"] == "depth+edge"
    assert not gpu["identical"] and gpu["min_psnr_db"] is not None and gpu["runs_compared"] == 2
    profile = mixed["gpu_profile"]
    with ctx.db.read() as session:
        rows = session.scalars(select(BatchingVerdictRow)).all()
        assert {(r.kind, r.identical) for r in rows} == {("mixed", True), ("gpu_batch", False)}
        mixed_key = VerdictKey(Backend.TRANSFER1, "base", BatchingKind.MIXED, "depth+edge", profile)
        assert verified_keys(session, simulated=True) == {mixed_key}
        assert verified_keys(session, simulated=False) == frozenset(), "never trusted for real"
    listed = json.loads(cosmos("batch", "verdicts", "--json").stdout)
    assert {(v["kind"], v["verified"], v["simulated"]) for v in listed} == {
        ("mixed", True, True),
        ("gpu_batch", False, True),
    }
    # The planner now mixes depth and edge runs on this (simulated) host without being allowed
    # to change outputs, and says why the batch keeps them.
    for weights in ("depth=0.5", "edge=0.5"):
        cosmos.json("queue", "add", prompt_ids[0], "--weights", weights)
    plan = cosmos.json("batch", "analyze", "--mode", "auto")
    [batch] = plan["batches"]
    assert batch["verdict"] == "verified", batch
    assert "depth+edge" in batch["verdict_reason"]


def test_transfer2_5_mixed_keys_change_the_model_and_outputs(
    ctx: Context, cosmos: Cosmos, scene: str
) -> None:
    (prompt_id,) = _prompts(cosmos, scene, 1)
    report = cosmos.json(
        "verify-batching",
        prompt_id,
        "--controls",
        "edge,depth",
        "--backend",
        "transfer2.5",
        "--simulate",
    )
    [result] = report["results"]
    assert result["kind"] == "mixed" and not result["identical"]
    with ctx.db.read() as session:
        assert verified_keys(session) == frozenset()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--controls", "edge"], "nothing to verify for transfer2.5"),
        (["--controls", "edge", "--kind", "mixed"], "mixing needs two or more controls"),
        (["--controls", "depth,edge", "--kind", "gpu_batch"], "transfer2.5 has no GPU batching"),
        (["--controls", "depth,bogus"], "unknown control"),
        (["--controls", "depth,edge", "--distilled"], "exactly the edge control"),
        (["--controls", "depth,edge", "--min-psnr", "0"], "min PSNR"),
    ],
)
def test_refusals_change_nothing(
    ctx: Context, cosmos: Cosmos, scene: str, args: list[str], message: str
) -> None:
    (prompt_id,) = _prompts(cosmos, scene, 1)
    before = database_snapshot(ctx)
    result = cosmos(
        "verify-batching", prompt_id, "--backend", "transfer2.5", *args, "--simulate", check=False
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert database_snapshot(ctx) == before


def test_an_unknown_prompt_is_not_found(ctx: Context, cosmos: Cosmos, scene: str) -> None:
    before = database_snapshot(ctx)
    result = cosmos(
        "verify-batching", "pr_missing", "--controls", "depth,edge", "--simulate", check=False
    )
    assert result.returncode == 1 and "no prompt with id" in result.stderr
    assert database_snapshot(ctx) == before
