"""Bulk enqueue of already-parsed jobs in one transaction: every job valid or none is queued.

`queue.import_jobs` does the same for a JSONL file; this takes requests built elsewhere (the
API's JSON body) and shares its insert path, so both behave the same way."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.services import queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.views import ImportResult

log = logging.getLogger(__name__)

MAX_BULK_JOBS = 10_000


def enqueue_many(ctx: Context, requests: Sequence[queue.JobRequest]) -> ImportResult:
    """Queue every request or none. A request whose idempotency key already names a job is
    skipped (it was queued by an earlier submission); a key repeated in `requests` is refused."""
    if not requests:
        raise InvalidInput("give at least one job", field="jobs")
    if len(requests) > MAX_BULK_JOBS:
        raise InvalidInput(f"at most {MAX_BULK_JOBS} jobs per request", field="jobs")
    keys = [r.idempotency_key for r in requests if r.idempotency_key]
    if len(keys) != len(set(keys)):
        raise InvalidInput("an idempotency key is repeated in the request", field="jobs")
    with ctx.db.write() as session:
        queue._require_prompts(session, sorted({p for r in requests for p in r.prompt_ids}))
        fresh = [
            r
            for r in requests
            if not (r.idempotency_key and queue._job_by_key(session, r.idempotency_key))
        ]
        created = queue._insert_jobs(session, fresh, ctx.settings.max_attempts)
    runs = sum(len(run_ids) for _, run_ids in created)
    log.info("bulk enqueued jobs=%d runs=%d", len(created), runs)
    return ImportResult(job_ids=[job_id for job_id, _ in created], runs=runs)
