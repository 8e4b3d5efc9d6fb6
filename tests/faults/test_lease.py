"""The lease holds from the claim to the final write, whatever is slow or failing in between.

- A collect slower than the lease (the output fetch sleeps 2.5 s under a 1 s lease, as a big
  output over SFTP would): the job succeeds once, and another worker that reaps expired leases
  and claims the whole time never gets it.
- A lease that does lapse during the collect (renewals fail while the output is fetched), while a
  second worker reaps the job, runs it again and records it: the first worker's output, fetched
  already, never replaces the recorded one (outputs are moved into place only in the
  lease-guarded final write), and its result is dropped.
- A heartbeat that fails three times (sqlalchemy OperationalError from `store.renew_lease`) and
  then recovers, under a lease long enough to ride that out but shorter than the job: the job
  succeeds once, never claimed by the other worker meanwhile.

The worker runs in a thread of this process (`run_worker(ctx, simulate=True, once=True)`), so
its host and store functions can be wrapped; "another worker" is the product's own reaper and
`store.claim_next_job` called from the test."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from cosmos_workflow.config import load_settings
from cosmos_workflow.hosts.local import LocalHost
from cosmos_workflow.services import queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.targets import choose_host
from cosmos_workflow.store import jobs as store
from cosmos_workflow.store.models import AttemptRow, JobRow, RunRow
from cosmos_workflow.worker.hosts import open_host
from cosmos_workflow.worker.loop import run_worker
from cosmos_workflow.worker.reaper import Reaper
from tests.e2e.conftest import BOTH_DATABASES
from tests.faults.ledger import assert_exactly_once, running_attempt, wait_for
from tests.services.helpers import seed_input, seed_prompts

pytestmark = pytest.mark.slow

SLOW_FETCH_S = 2.5


@contextmanager
def context(**overrides: Any) -> Iterator[Context]:
    ctx = Context(load_settings(**overrides))
    try:
        yield ctx
    finally:
        ctx.db.dispose()


class WorkerThread(threading.Thread):
    """`run_worker(..., once=True)` in a thread, keeping what it raised."""

    def __init__(self, ctx: Context, name: str = "worker-A") -> None:
        super().__init__(name=name, daemon=True)
        self.ctx = ctx
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            run_worker(self.ctx, simulate=True, once=True)
        except BaseException as exc:
            self.error = exc


def other_worker_claims(ctx: Context, worker: WorkerThread, timeout_s: float = 120) -> list[str]:
    """While `worker` runs: what a second worker does, again and again (reap expired leases,
    ending their processes, then claim). The jobs it claimed."""
    with context(lease_seconds=60) as other:
        reaper = Reaper(other, open_host(choose_host(other.settings, None, True), other.settings))
        claimed = []
        deadline = time.monotonic() + timeout_s
        while worker.is_alive() and time.monotonic() < deadline:
            reaper.reap()
            claim = store.claim_next_job(other.db, "worker-B", lease_seconds=60)
            if claim is not None:
                claimed.append(f"{claim.job_id} (attempt {claim.attempt})")
            time.sleep(0.1)
        reaper.close()
    worker.join(30)
    assert not worker.is_alive(), "worker A did not finish"
    assert worker.error is None, f"worker A raised {worker.error!r}"
    return claimed


def one_job(ctx: Context) -> str:
    seed_input(ctx, "scene", controls=("edge",))
    (prompt_id,) = seed_prompts(ctx, 1)
    return queue.enqueue(ctx, queue.build_request([prompt_id], {"edge": 0.5})).job_id


@pytest.mark.parametrize("database_url", BOTH_DATABASES, indirect=True)
def test_a_collect_slower_than_the_lease_runs_the_job_once(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSMOS_SIM_TIME_SCALE", "0")
    with context(lease_seconds=1) as ctx:
        job_id = one_job(ctx)
        fetching = threading.Event()
        original = LocalHost.fetch

        def slow_fetch(self: LocalHost, *args: Any, **kwargs: Any) -> Any:
            fetching.set()
            time.sleep(SLOW_FETCH_S)  # 2.5 lease lengths
            return original(self, *args, **kwargs)

        monkeypatch.setattr(LocalHost, "fetch", slow_fetch)
        worker = WorkerThread(ctx)
        worker.start()
        assert fetching.wait(60), "the worker never fetched an output"
        claimed = other_worker_claims(ctx, worker)
        assert claimed == [], f"another worker claimed the job during the slow collect: {claimed}"
        assert queue.get_job(ctx, job_id).status == "succeeded"
        assert_exactly_once(ctx, fault_free=True)


@pytest.mark.parametrize("database_url", BOTH_DATABASES, indirect=True)
def test_a_lease_lost_during_the_collect_never_replaces_the_recorded_output(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSMOS_SIM_TIME_SCALE", "0")
    with context(lease_seconds=1) as ctx:
        job_id = one_job(ctx)
        first_fetch = threading.Event()
        second_done = threading.Event()
        first_token: list[str] = []
        fetch, renew = LocalHost.fetch, store.renew_lease

        def held_fetch(self: LocalHost, *args: Any, **kwargs: Any) -> Any:
            if threading.current_thread().name == "worker-A" and not first_token:
                with ctx.db.read() as session:
                    token = session.scalar(select(JobRow.lease_token).where(JobRow.id == job_id))
                first_token.append(str(token))
                first_fetch.set()
                second_done.wait(60)  # fetching while the second worker runs the job
            return fetch(self, *args, **kwargs)

        def failing_renew(db: Any, job: str, token: str, *args: Any) -> tuple[bool, bool]:
            if first_token and token == first_token[0]:
                raise OperationalError("UPDATE jobs ...", {}, Exception("server closed"))
            return renew(db, job, token, *args)

        monkeypatch.setattr(LocalHost, "fetch", held_fetch)
        monkeypatch.setattr(store, "renew_lease", failing_renew)
        first = WorkerThread(ctx, "worker-A")
        first.start()
        assert first_fetch.wait(60), "the first worker never fetched an output"

        def lapsed() -> bool:  # expired, or reaped already (the first worker's own reaper)
            with ctx.db.read() as session:
                job = session.get(JobRow, job_id)
            assert job is not None
            return job.status != "running" or (job.lease_expires_at or 0) < time.time()

        wait_for(lapsed, 30, "the first worker's lease to lapse")
        with context(lease_seconds=1) as other:
            second = WorkerThread(other, "worker-B")
            second.start()
            second.join(60)
        second_done.set()
        first.join(60)
        for worker in (first, second):
            assert not worker.is_alive() and worker.error is None, worker.error
        assert queue.get_job(ctx, job_id).status == "succeeded"
        assert_exactly_once(ctx)
        with ctx.db.read() as session:
            attempts = session.scalars(select(AttemptRow.marker).order_by(AttemptRow.id)).all()
            output = session.scalar(select(RunRow.output_path))
        assert len(attempts) == 2, attempts
        assert output and attempts[0] not in output, output


def test_a_heartbeat_that_fails_three_times_then_recovers_keeps_the_lease(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lease = 4.0  # a heartbeat every 4/3 s; three failed ones retried within the lease
    monkeypatch.setenv("COSMOS_SIM_TIME_SCALE", "0.01")  # the job runs about 6 s
    with context(lease_seconds=lease) as ctx:
        job_id = one_job(ctx)
        real = store.renew_lease
        calls: list[str] = []

        def flaky(*args: Any, **kwargs: Any) -> tuple[bool, bool]:
            calls.append("failed" if len(calls) < 3 else "renewed")
            if calls[-1] == "failed":
                raise OperationalError("UPDATE jobs ...", {}, Exception("database is locked"))
            return real(*args, **kwargs)

        monkeypatch.setattr(store, "renew_lease", flaky)
        worker = WorkerThread(ctx)
        worker.start()
        wait_for(lambda: running_attempt(ctx), 60, "worker A's model process to start")
        claimed = other_worker_claims(ctx, worker)
        assert claimed == [], f"another worker claimed the job meanwhile: {claimed}"
        assert calls[:4] == ["failed", "failed", "failed", "renewed"], calls
        with ctx.db.read() as session:
            (attempt,) = session.scalars(select(AttemptRow)).all()
        assert attempt.ended_at is not None
        assert attempt.ended_at - attempt.started_at > lease, "the job outlived one lease"
        assert queue.get_job(ctx, job_id).status == "succeeded"
        assert_exactly_once(ctx, fault_free=True)
