"""Jobs written through the store alone, for backends the queue service cannot price yet."""

from __future__ import annotations

from cosmos_workflow.domain.params import Backend
from cosmos_workflow.services.context import Context
from cosmos_workflow.store import jobs as store
from cosmos_workflow.store.runs import new_run_row
from tests.services.helpers import seed_prompts


def queue_in_store(ctx: Context, backend: Backend, count: int = 2) -> str:
    """A queued job of `backend` with `count` edge runs, written by the store's own builders
    (Cosmos 3 has no cost model yet, so the queue service cannot price one)."""
    prompt_ids = seed_prompts(ctx, count)
    with ctx.db.write() as session:
        job = store.new_job_row(
            kind="inference",
            backend=backend.value,
            priority=0,
            position=store.position_at_bottom(session),
            max_attempts=3,
            predicted_seconds=None,
        )
        rows = [
            new_run_row(
                job_id=job["id"],
                prompt_id=prompt_id,
                kind="inference",
                weights={"edge": 0.5},
                params={"backend": backend.value, "seed": index},
                index=index,
                created_at=job["created_at"],
                predicted_seconds=None,
            )
            for index, prompt_id in enumerate(prompt_ids)
        ]
        assert store.add_jobs(session, [job], rows)
    return str(job["id"])
