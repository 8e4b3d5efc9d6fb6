"""Four worker processes drain 1,000 jobs, on SQLite and on PostgreSQL: no job runs twice (one
attempt, one final write and one recorded end per run) and none is lost.

The jobs are real but cheap: Transfer1 prompt-enhancement jobs, each one simulator process
(about 0.1 s of CPU here, against 0.45 s for a video job) whose result, a new prompt, is
written in the job's lease-guarded final transaction. They are enqueued through the real
service in one transaction (services.queue.enqueue_many)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.soak import Workers
from cosmos_workflow.domain.params import JobKind, validate_params
from cosmos_workflow.services import queue
from cosmos_workflow.services.context import Context
from tests.e2e.conftest import BOTH_DATABASES, Cosmos
from tests.faults.ledger import assert_exactly_once
from tests.services.helpers import seed_prompts

pytestmark = pytest.mark.slow

JOBS = 1000
WORKERS = 4
PROMPTS = 10


def _enhance_jobs(ctx: Context, count: int) -> list[str]:
    prompt_ids = seed_prompts(ctx, PROMPTS)
    params = validate_params({"backend": "transfer1"}).to_dict()
    requests = [
        queue.JobRequest((prompt_ids[i % PROMPTS],), {}, params, 0, None, JobKind.ENHANCE)
        for i in range(count)
    ]
    return queue.enqueue_many(ctx, requests).job_ids


@pytest.mark.timeout(240)
@pytest.mark.parametrize("database_url", BOTH_DATABASES, indirect=True)
def test_four_workers_run_a_thousand_jobs_exactly_once(
    ctx: Context, cosmos: Cosmos, tmp_path: Path
) -> None:
    job_ids = _enhance_jobs(ctx, JOBS)
    assert len(job_ids) == JOBS
    workers = Workers({**cosmos.env, "COSMOS_SIM_TIME_SCALE": "0"}, tmp_path / "logs")
    try:
        started = [workers.start("--exit-when-idle") for _ in range(WORKERS)]
        codes = [w.wait(timeout=200) for w in started]
    finally:
        workers.stop_all()
    logs = [p.read_text(errors="replace") for p in sorted((tmp_path / "logs").glob("*.log"))]
    assert codes == [0] * WORKERS, "\n".join(log[-2000:] for log in logs)
    ledger = assert_exactly_once(ctx, fault_free=True)
    assert ledger.jobs == JOBS and ledger.runs == JOBS
    assert ledger.attempts == JOBS, "every job ran in exactly one attempt"
    claimed = [log.count("claimed job=") for log in logs]
    assert sum(claimed) == JOBS and sum(1 for n in claimed if n) >= 2, claimed
