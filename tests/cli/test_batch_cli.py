"""`cosmos batch analyze` and its output rule: verdicts in the table and in --json, the
--allow-output-changes option over `planner.allow_output_changes`, refusals that change nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cosmos_workflow.services.context import Context
from tests.cli.runner import cosmos, cosmos_json
from tests.services.snapshot import database_snapshot


@pytest.fixture
def edge_jobs(ctx: Context, input_folder: Path) -> list[str]:
    cosmos_json("input", "add", str(input_folder), "--name", "scene")
    prompts = [
        cosmos_json("prompt", "create", f"a street, take {i}", "--input", "scene")["id"]
        for i in range(3)
    ]
    return [cosmos_json("queue", "add", p, "--weights", "edge=0.5")["job_id"] for p in prompts]


def _config(text: str) -> None:
    Path(os.environ["COSMOS_CONFIG"]).write_text(text)


def test_analyze_keeps_outputs_by_default_and_says_why_when_allowed(edge_jobs: list[str]) -> None:
    kept = cosmos_json("batch", "analyze", "--mode", "auto")
    assert kept["allow_output_changes"] is False
    assert [(b["verdict"], b["verdict_reason"], b["gpu_batch_size"]) for b in kept["batches"]] == [
        ("identical", "", 1)
    ]
    allowed = cosmos_json("batch", "analyze", "--mode", "auto", "--allow-output-changes")
    assert allowed["allow_output_changes"] is True
    (batch,) = allowed["batches"]
    assert batch["verdict"] == "may_differ" and batch["gpu_batch_size"] > 1
    assert "draws noise for the whole batch" in batch["verdict_reason"]
    assert "changes_outputs" not in batch
    code, out, _ = cosmos("batch", "show", allowed["plan_id"])
    shown = " ".join(out.split())  # the terminal wraps long lines
    assert code == 0
    assert "MAY DIFFER" in shown and "draws noise for the whole batch" in shown
    assert "changes allowed" in shown


def test_the_option_overrides_the_configured_rule(edge_jobs: list[str]) -> None:
    _config("[planner]\nallow_output_changes = true\n")
    configured = cosmos_json("batch", "analyze", "--mode", "auto")
    assert configured["allow_output_changes"] is True
    assert configured["batches"][0]["verdict"] == "may_differ"
    kept = cosmos_json("batch", "analyze", "--mode", "auto", "--keep-outputs")
    assert kept["allow_output_changes"] is False
    assert kept["batches"][0]["verdict"] == "identical"
    code, out, _ = cosmos("batch", "analyze", "--mode", "auto", "--keep-outputs")
    assert code == 0 and "outputs: kept" in " ".join(out.split())


def test_strict_still_gpu_batches_and_labels_it(edge_jobs: list[str]) -> None:
    (batch,) = cosmos_json("batch", "analyze", "--mode", "strict")["batches"]
    assert batch["gpu_batch_size"] > 1 and batch["verdict"] == "may_differ"


@pytest.mark.parametrize(
    ("args", "config", "message"),
    [
        (["--allow-output-changes=maybe"], "", "allow-output-changes"),
        ([], '[planner]\nallow_output_changes = "maybe"\n', "planner.allow_output_changes"),
    ],
)
def test_bad_values_are_refused_and_change_nothing(
    ctx: Context, edge_jobs: list[str], args: list[str], config: str, message: str
) -> None:
    _config(config)
    before = database_snapshot(ctx)
    code, out, err = cosmos("batch", "analyze", "--mode", "auto", *args)
    assert code == 2, out + err
    assert message in err + out
    assert database_snapshot(ctx) == before


def test_apply_rebase_says_what_changed(ctx: Context, edge_jobs: list[str]) -> None:
    from cosmos_workflow.store.jobs import claim_next_job

    plan = cosmos_json("batch", "analyze", "--mode", "strict")
    assert claim_next_job(ctx.db, "worker-test", lease_seconds=60) is not None
    before = database_snapshot(ctx)
    code, out, err = cosmos("batch", "apply", plan["plan_id"])
    assert code == 1 and "--rebase" in " ".join((out + err).split())
    assert database_snapshot(ctx) == before
    code, out, _ = cosmos("batch", "apply", plan["plan_id"], "--rebase")
    shown = " ".join(out.split())
    assert code == 0, out
    assert "1 batch job(s) created, 2 job(s) merged" in shown
    assert "rebased: 1 run(s) dropped from the plan (1 claimed since the analysis)" in shown
    assert "batch(es) 1 shrank" in shown
