"""Batching while workers run, on PostgreSQL: three worker processes claim with continuous
batching on while this process analyses and applies plans (rebased) in a loop. No worker exits,
no batching transaction meets a database error it does not ride out, and every run is executed
exactly once, none lost."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from benchmarks.soak import Workers, unfinished
from cosmos_workflow.domain.errors import Conflict
from cosmos_workflow.services import batching, queue
from cosmos_workflow.services.context import Context
from tests.e2e.conftest import Cosmos
from tests.faults.ledger import assert_exactly_once
from tests.services.helpers import seed_prompts

JOBS = 48
WORKERS = 3
BOUND_S = 30.0  # the whole drain, batching included


@pytest.mark.timeout(120)
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_three_workers_and_a_plan_loop_with_continuous_batching(
    ctx: Context, cosmos: Cosmos, tmp_path: Path
) -> None:
    prompt_ids = seed_prompts(ctx, JOBS)
    # Two control sets, so plans and the head batching both have something to regroup.
    requests = [
        queue.build_request([p], {"edge" if i % 2 else "depth": 0.5}, {})
        for i, p in enumerate(prompt_ids)
    ]
    assert len(queue.enqueue_many(ctx, requests).job_ids) == JOBS
    env = {
        **cosmos.env,
        "COSMOS_SIM_TIME_SCALE": "0",
        "COSMOS_PLANNER__CONTINUOUS": "true",
        "COSMOS_PLANNER__LOOKAHEAD": "4",
        "COSMOS_PLANNER__MAX_BATCH_SIZE": "4",
    }
    workers = Workers(env, tmp_path / "logs")
    applied = refused = 0
    try:
        started = [workers.start() for _ in range(WORKERS)]
        deadline = time.monotonic() + BOUND_S
        while unfinished(ctx.db) and time.monotonic() < deadline:
            try:
                plan = batching.analyze(ctx, mode="strict", max_batch_size=2)
                batching.apply_plan(ctx, plan.plan_id, rebase=True)
                applied += 1
            except Conflict:
                refused += 1  # the queue changed otherwise (a head batched): analyse again
            time.sleep(0.05)
        exited = [w.poll() for w in started]
        left = unfinished(ctx.db)
    finally:
        codes = workers.stop_all()
    logs = "\n".join(
        p.read_text(errors="replace") for p in sorted((tmp_path / "logs").glob("*.log"))
    )
    assert exited == [None] * WORKERS, f"a worker exited during the test: {exited}\n{logs}"
    assert left == 0, f"{left} job(s) unfinished after {BOUND_S:g}s\n{logs}"
    assert codes == [0] * WORKERS, logs
    assert "Traceback" not in logs, logs
    assert applied + refused > 0
    ledger = assert_exactly_once(ctx, fault_free=True)
    assert ledger.runs == JOBS
    assert "continuous batching formed" in logs, "the workers batched the head as they claimed"
