"""The claim and the end of a job as the database sees them: one statement picks and claims (with
FOR UPDATE SKIP LOCKED on PostgreSQL), one ends a job without run results, whatever the queue
holds; and status changes never overwrite a change made meanwhile."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, update

from cosmos_workflow.domain.errors import Conflict
from cosmos_workflow.domain.states import JobStatus
from cosmos_workflow.services import queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.store import jobs as store
from cosmos_workflow.store.models import JobRow
from tests.services.helpers import seed_prompts


@contextmanager
def statements(ctx: Context) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if not sql.startswith("BEGIN"):  # SQLite's own BEGIN IMMEDIATE (store/db.py)
            seen.append(" ".join(sql.split()))

    event.listen(ctx.db.write_engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(ctx.db.write_engine, "before_cursor_execute", note)


def _queue(ctx: Context, jobs: int) -> list[str]:
    prompt_ids = seed_prompts(ctx, 2)
    requests = [queue.build_request(prompt_ids, {"edge": 0.5}) for _ in range(jobs)]
    return queue.enqueue_many(ctx, requests).job_ids


@pytest.mark.parametrize("queued", [1, 300])
def test_a_claim_is_one_update_that_picks_the_job(ctx: Context, queued: int) -> None:
    first = _queue(ctx, queued)[0]
    with statements(ctx) as seen:
        claim = store.claim_next_job(ctx.db, "w", lease_seconds=60)
    assert claim is not None and claim.job_id == first
    if ctx.db.is_sqlite:
        # The pick, its event and the runs it starts: nothing else, and nothing read first.
        assert sorted(s.split()[0] for s in seen) == ["INSERT", "UPDATE", "UPDATE"]
        (pick,) = [s for s in seen if s.startswith("UPDATE jobs")]
    else:
        # All three in one statement, sent without BEGIN and COMMIT around it.
        (pick,) = seen
        assert pick.startswith("WITH moved AS (UPDATE jobs")
        assert "FOR UPDATE OF candidate SKIP LOCKED" in pick
        assert "INSERT INTO events" in pick and "UPDATE runs" in pick
    assert "RETURNING" in pick and "LIMIT" in pick


def test_ending_a_job_without_results_is_one_guarded_update(ctx: Context) -> None:
    _queue(ctx, 1)
    claim = store.claim_next_job(ctx.db, "w", lease_seconds=60)
    assert claim is not None
    with statements(ctx) as seen:
        assert not store.finish_job(ctx.db, claim.job_id, "stale-token", JobStatus.SUCCEEDED)
    one_statement = ["UPDATE", "INSERT"] if ctx.db.is_sqlite else ["WITH"]
    assert [s.split()[0] for s in seen] == one_statement[:1]
    with statements(ctx) as seen:
        assert store.finish_job(ctx.db, claim.job_id, claim.lease_token, JobStatus.SUCCEEDED)
    assert [s.split()[0] for s in seen] == one_statement
    assert queue.get_job(ctx, claim.job_id).status == "succeeded"


def test_a_status_change_made_meanwhile_is_not_overwritten(ctx: Context) -> None:
    (job_id,) = _queue(ctx, 1)
    with ctx.db.write() as session:
        job = store.find_job(session, job_id)
        assert job is not None and job.status == "queued"
        # Another transaction claimed it after this one read it (simulated in place).
        session.execute(
            update(JobRow)
            .where(JobRow.id == job_id)
            .values(status="running")
            .execution_options(synchronize_session=False)
        )
        with pytest.raises(Conflict, match="changed meanwhile"):
            store.set_job_status(session, job, JobStatus.CANCELLED)
