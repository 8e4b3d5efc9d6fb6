"""`cosmos runs show` says a run's guardrail posture in words: not recorded before it starts,
then what its host asked and what its model got, and why they differ. A Cosmos 3 job cannot run
end to end yet, so its attempt's start is written through the store as the worker writes it."""

from __future__ import annotations

from cosmos_workflow.domain.guardrails import guardrail_posture
from cosmos_workflow.domain.params import Backend
from cosmos_workflow.services.context import Context
from cosmos_workflow.store import attempts
from cosmos_workflow.store import jobs as store
from tests.cli.runner import cosmos, cosmos_json
from tests.store.rows import queue_in_store


def _shown(run_id: str) -> list[str]:
    code, out, err = cosmos("runs", "show", run_id)
    assert code == 0, err
    return [line for line in out.splitlines() if line.startswith("guardrails:")]


def test_runs_show_prints_the_guardrail_posture(ctx: Context) -> None:
    job_id = queue_in_store(ctx, Backend.COSMOS3, count=1)
    (run_id,) = [r["id"] for r in cosmos_json("runs", "list", "--job", job_id)["runs"]]
    assert _shown(run_id) == ["guardrails: not recorded (the run has not started)"]
    claim = store.claim_next_job(ctx.db, "w", lease_seconds=60)
    assert claim is not None and claim.job_id == job_id
    attempts.start_attempt(
        ctx.db,
        job_id=job_id,
        worker_id="w",
        lease_token=claim.lease_token,
        argv=["model"],
        process=attempts.AttemptProcess("gpu1", "here", "/nowhere", f"{job_id}_a1"),
        guardrails=guardrail_posture(Backend.COSMOS3, False),
    )
    assert _shown(run_id) == [
        "guardrails: asked on, got not applied by the model (Cosmos 3 transfer never runs them)"
    ]
    shown = cosmos_json("runs", "show", run_id)
    assert (shown["guardrails_asked"], shown["guardrails_got"]) == (
        "on",
        "not applied by the model",
    )
