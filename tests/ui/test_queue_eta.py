"""The Jobs tab's ETA column: the fleet simulation's slot, start and finish of each job, read
from the services through a real database."""

from __future__ import annotations

import time
from pathlib import Path

from cosmos_workflow.config import load_settings
from cosmos_workflow.services import queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.ui.jobs_tab import _queue_rows
from tests.services.helpers import seed_prompts


def test_the_eta_column_places_each_job_on_a_slot(env: dict[str, str]) -> None:
    Path(env["COSMOS_CONFIG"]).write_text('[[hosts]]\nname = "node"\nsimulate = true\ngpus = 2\n')
    ctx = Context(load_settings())
    try:
        prompt_ids = seed_prompts(ctx, 1)
        for i in range(3):
            queue.enqueue(ctx, queue.build_request(prompt_ids, {"edge": 0.1 * (i + 1)}))
        rows = _queue_rows(queue.list_queue(ctx).jobs, time.time())
    finally:
        ctx.db.dispose()
    etas = [row[-1] for row in rows]
    assert etas[0].startswith("node/0: now -> in ") and etas[1].startswith("node/1: now -> in ")
    # The third waits for the first slot to be free: it starts when the first job ends.
    first_finish = etas[0].split("-> ")[1]
    assert etas[2].startswith(f"node/0: {first_finish} -> in ")


def test_a_running_job_past_its_prediction_is_finishing_or_overdue(env: dict[str, str]) -> None:
    """services.eta keeps a running job's predicted end, which the clock can pass: the column
    says so instead of `in 0 s`."""
    from cosmos_workflow.ui.jobs_tab import _eta_text

    ctx = Context(load_settings())
    try:
        prompt_ids = seed_prompts(ctx, 2)
        queue.enqueue(ctx, queue.build_request(prompt_ids, {"depth": 0.4}))
        job = queue.list_queue(ctx).jobs[0]
    finally:
        ctx.db.dispose()
    assert (
        job.weight_ranges == {"depth": [0.4, 0.4]} and _queue_rows([job], 0.0)[0][6] == "depth 0.4"
    )
    now = time.time()
    running = job.model_copy(update={"status": "running", "eta_start_at": now - 60})
    at = {"eta_slot": "node/0", "eta_finish_at": now + 120}
    assert _eta_text(running.model_copy(update=at), now) == "node/0: done in 2.0 min"
    late = {"eta_slot": "node/0", "eta_finish_at": now - 3}
    assert _eta_text(running.model_copy(update=late), now) == "node/0: finishing"
    overdue = {"eta_slot": None, "eta_finish_at": now - 150}
    assert _eta_text(running.model_copy(update=overdue), now) == "overdue by 2.5 min"
    unknown = {"eta_slot": "node/0", "eta_finish_at": None}
    assert _eta_text(running.model_copy(update=unknown), now) == "node/0: no estimate"
