"""The database unreachable for 10 s in the middle of a job, and for longer than the worker may
wait.

PostgreSQL: the worker reaches the server through a TCP proxy (tests/faults/proxy.py) that
resets every connection and refuses new ones for the outage. SQLite: another connection holds
the database with `BEGIN EXCLUSIVE`, so no write gets through.

- 10 s, with COSMOS_DATABASE_OUTAGE_SECONDS=30 and a lease longer than the outage: the worker
  rides it out (lease renewals, log lines and the final write wait or retry), every run is
  recorded once, no job needs a second attempt, and the worker finishes the queue (exit 0).
- Longer than COSMOS_DATABASE_OUTAGE_SECONDS (PostgreSQL): the worker stops with a clear log
  line and a non-zero exit; once the database is back and the lease has lapsed, a new worker
  finishes the job exactly once, and no simulator process is left."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from benchmarks.soak import Workers
from cosmos_workflow.services import queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.models import JobRow
from tests.e2e.conftest import BOTH_DATABASES
from tests.faults.ledger import assert_exactly_once, running_attempt, wait_for
from tests.faults.proxy import TcpProxy
from tests.notify.receiver import receiving
from tests.services.helpers import seed_input, seed_prompts

pytestmark = pytest.mark.slow

OUTAGE_S = 10.0
TIME_SCALE = "0.004"  # a job runs about 2.5 s


def _jobs(ctx: Context, count: int) -> list[str]:
    seed_input(ctx, "scene", controls=("edge",))
    prompt_ids = seed_prompts(ctx, count)
    requests = [queue.build_request([p], {"edge": 0.5}) for p in prompt_ids]
    return queue.enqueue_many(ctx, requests).job_ids


class Database:
    """The worker's way to the database, and how to take it away."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        self.proxy = (
            None if parsed.get_backend_name() == "sqlite" else TcpProxy(parsed.port or 5432)
        )
        self.worker_url = url
        if self.proxy is not None:
            self.worker_url = parsed.set(port=self.proxy.port).render_as_string(hide_password=False)
        self._lock: sqlite3.Connection | None = None

    def cut(self) -> None:
        if self.proxy is not None:
            cut = self.proxy.cut()
            assert cut > 0, "the worker held no connection through the proxy"
            return
        path = make_url(self.url).database
        assert path
        self._lock = sqlite3.connect(path, isolation_level=None, timeout=30)
        self._lock.execute("BEGIN EXCLUSIVE")

    def restore(self) -> None:
        if self.proxy is not None:
            self.proxy.restore()
        elif self._lock is not None:
            self._lock.execute("ROLLBACK")
            self._lock.close()
            self._lock = None

    def close(self) -> None:
        self.restore()
        if self.proxy is not None:
            self.proxy.close()


@contextmanager
def workers_on(db: Database, env: dict[str, str], logs: Path, **settings: str) -> Iterator[Workers]:
    workers = Workers(
        {
            **os.environ,
            **env,
            "COSMOS_DATABASE_URL": db.worker_url,
            "COSMOS_SIM_TIME_SCALE": TIME_SCALE,
            **settings,
        },
        logs,
    )
    try:
        yield workers
    finally:
        workers.stop_all()
        db.close()


def _logs(logs: Path) -> str:
    return "\n".join(
        f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(logs.glob("*.log"))
    )


@pytest.mark.timeout(180)
@pytest.mark.parametrize("database_url", BOTH_DATABASES, indirect=True)
def test_a_ten_second_outage_mid_job_is_ridden_out(
    ctx: Context, env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    job_ids = _jobs(ctx, 3)
    db = Database(database_url)
    logs = tmp_path / "logs"
    with workers_on(
        db, env, logs, COSMOS_LEASE_SECONDS="20", COSMOS_DATABASE_OUTAGE_SECONDS="30"
    ) as workers:
        worker = workers.start("--exit-when-idle")
        wait_for(lambda: running_attempt(ctx), 60, "a running model process")
        time.sleep(0.5)
        db.cut()
        time.sleep(OUTAGE_S)
        db.restore()
        code = worker.wait(timeout=120)
        refused = db.proxy.refused if db.proxy else None
    assert code == 0, _logs(logs)
    assert refused != 0, "the worker never tried the database during the outage"
    ledger = assert_exactly_once(ctx, fault_free=True, context=_logs(logs))
    assert ledger.jobs == len(job_ids)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_an_outage_past_the_limit_stops_the_worker_and_a_new_one_finishes(
    ctx: Context, env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    (job_id, *_) = _jobs(ctx, 2)
    db = Database(database_url)
    logs = tmp_path / "logs"
    with workers_on(
        db, env, logs, COSMOS_LEASE_SECONDS="4", COSMOS_DATABASE_OUTAGE_SECONDS="3"
    ) as workers:
        first = workers.start("--exit-when-idle")
        wait_for(lambda: running_attempt(ctx, [job_id]), 60, "a running model process")
        time.sleep(0.5)
        db.cut()
        try:
            code = first.wait(timeout=60)
        finally:
            db.restore()
        output = _logs(logs)
        assert code != 0, f"the worker went on without its database:\n{output}"
        assert re.search(r"ERROR.*database.*unreachable", output, re.IGNORECASE), output

        def lapsed() -> bool:
            with ctx.db.read() as session:
                job = session.get(JobRow, job_id)
                assert job is not None
                return job.status != "running" or (job.lease_expires_at or 0) < time.time()

        wait_for(lapsed, 30, "the stopped worker's lease to lapse")
        second = workers.start("--exit-when-idle")
        assert second.wait(timeout=120) == 0, _logs(logs)
    with ctx.db.read() as session:
        attempts = session.scalar(select(JobRow.attempts).where(JobRow.id == job_id))
    assert attempts == 2, "the interrupted job ran once more, on the new worker"
    assert_exactly_once(ctx, context=_logs(logs))


@pytest.mark.timeout(180)
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_notifications_ride_out_the_outage_and_are_told_once(
    ctx: Context, env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    """The worker's notifier loses the database with the worker (its polls and claims fail):
    once it is back, every job's end and the drained queue are told, each exactly once."""
    job_ids = _jobs(ctx, 3)
    db = Database(database_url)
    logs = tmp_path / "logs"
    with receiving() as receiver:
        config = tmp_path / "notify.toml"
        config.write_text(
            f"[[notify]]\nurl = '{receiver.url}/ends'\non = ['job_finished', 'queue_drained']\n"
        )
        with workers_on(
            db,
            {**env, "COSMOS_CONFIG": str(config)},
            logs,
            COSMOS_LEASE_SECONDS="20",
            COSMOS_DATABASE_OUTAGE_SECONDS="30",
        ) as workers:
            worker = workers.start("--exit-when-idle")
            wait_for(lambda: running_attempt(ctx), 60, "a running model process")
            time.sleep(0.5)
            db.cut()
            time.sleep(OUTAGE_S)
            db.restore()
            code = worker.wait(timeout=120)
        time.sleep(1.0)  # anything told twice would have arrived by now
        told = [json.loads(r.body) for r in receiver.received]
    assert code == 0, _logs(logs)
    assert "notify: reading the events failed" in _logs(logs), "the outage missed the notifier"
    assert_exactly_once(ctx, fault_free=True, context=_logs(logs))
    ends = Counter(b["job_id"] for b in told if b["event"] == "job_finished")
    assert ends == dict.fromkeys(job_ids, 1), (ends, _logs(logs))
    assert [b["event"] for b in told].count("queue_drained") == 1, told
