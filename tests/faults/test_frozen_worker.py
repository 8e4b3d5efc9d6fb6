"""A worker frozen (SIGSTOP) in the middle of a job for longer than its lease, then thawed
(SIGCONT) while a second worker runs the job again, on SQLite and PostgreSQL.

The second worker's reaper ends the frozen attempt's model process before the job is retried
(the two attempts' processes are never alive at the same moment), and the thawed worker, whose
lease is gone, writes nothing: each run is recorded once, by the second worker, and its output
is never replaced afterwards."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from benchmarks.soak import Workers
from cosmos_workflow.services import queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.models import AttemptRow, JobRow
from tests.e2e.conftest import BOTH_DATABASES
from tests.faults.ledger import ProcessWatch, assert_exactly_once, running_attempt, wait_for
from tests.services.helpers import seed_input, seed_prompts

pytestmark = pytest.mark.slow

LEASE_S = 2.0


def _logs(logs: Path) -> str:
    return "\n".join(
        f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(logs.glob("*.log"))
    )


@pytest.mark.timeout(180)
@pytest.mark.parametrize("database_url", BOTH_DATABASES, indirect=True)
def test_a_frozen_worker_thawed_after_its_lease_writes_nothing(
    ctx: Context, env: dict[str, str], tmp_path: Path
) -> None:
    seed_input(ctx, "scene", controls=("edge",))
    (prompt_id,) = seed_prompts(ctx, 1)
    job_id = queue.enqueue(ctx, queue.build_request([prompt_id], {"edge": 0.5})).job_id
    logs = tmp_path / "logs"
    workers = Workers(
        {
            **os.environ,
            **env,
            "COSMOS_SIM_TIME_SCALE": "0.012",  # the job runs about 7 s, past lease and reap
            "COSMOS_LEASE_SECONDS": str(LEASE_S),
        },
        logs,
    )
    watch = ProcessWatch(ctx.db, Path(ctx.settings.home), interval_s=0.1)
    watch.start()
    frozen = workers.start("--exit-when-idle")
    try:
        first = wait_for(lambda: running_attempt(ctx), 60, "the model process to start")
        assert isinstance(first, AttemptRow)
        time.sleep(0.5)
        frozen.send_signal(signal.SIGSTOP)

        def lapsed() -> bool:
            with ctx.db.read() as session:
                expires = session.scalar(select(JobRow.lease_expires_at).where(JobRow.id == job_id))
            return expires is not None and expires < time.time()

        wait_for(lapsed, 30, "the frozen worker's lease to lapse")
        second = workers.start("--exit-when-idle")
        retry = wait_for(
            lambda: running_attempt(ctx, after=first.id),
            60,
            "the second worker's attempt to start",
        )
        assert isinstance(retry, AttemptRow)
        frozen.send_signal(signal.SIGCONT)  # it wakes while the second worker runs the job
        assert second.wait(timeout=90) == 0, _logs(logs)
        assert frozen.wait(timeout=60) == 0, _logs(logs)
    finally:
        frozen.send_signal(signal.SIGCONT)
        workers.stop_all()
        watch.stop()
    assert watch.ran_beside() == [], f"a retry ran beside the process it replaced: {_logs(logs)}"
    assert first.marker in watch.seen and retry.marker in watch.seen, watch.seen
    assert_exactly_once(ctx, context=_logs(logs))
    with ctx.db.read() as session:
        attempts = session.scalars(select(AttemptRow).order_by(AttemptRow.id)).all()
    assert [a.id for a in attempts] == [first.id, retry.id]
