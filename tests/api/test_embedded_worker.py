"""The worker embedded in `cosmos serve`: supervised, restarted after a failure, and reported by
`GET /api/worker`. Real threads, the real worker loop and a real SQLite file."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from cosmos_workflow.api.app import create_app
from cosmos_workflow.domain.errors import FatalError
from cosmos_workflow.services import queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.worker.embedded import EmbeddedWorker, WorkerSnapshot
from tests.api.conftest import api_client
from tests.services.helpers import seed_prompts

FAST = {"initial_backoff_s": 0.2, "max_backoff_s": 1.0}


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


@pytest.fixture
def stopped() -> Iterator[list[EmbeddedWorker]]:
    """Workers a test started; each is stopped at the end even when the test fails."""
    started: list[EmbeddedWorker] = []
    yield started
    for worker in started:
        worker.stop(2.0)


class FailsThenRuns:
    """A worker loop that raises `errors` one per call, then runs until asked to stop."""

    def __init__(self, errors: list[Exception]) -> None:
        self.errors = errors
        self.calls: list[WorkerSnapshot] = []
        self.worker: EmbeddedWorker | None = None

    def __call__(
        self,
        ctx: Context,
        *,
        host_name: str | None = None,
        simulate: bool = False,
        stop: threading.Event | None = None,
        kill: threading.Event | None = None,
    ) -> int:
        assert self.worker is not None and stop is not None and kill is not None
        self.calls.append(self.worker.snapshot())
        if len(self.calls) <= len(self.errors):
            raise self.errors[len(self.calls) - 1]
        stop.wait()
        return 0


def supervise(ctx: Context, run: FailsThenRuns, started: list[EmbeddedWorker]) -> EmbeddedWorker:
    worker = EmbeddedWorker(ctx, run=run, **FAST)
    run.worker = worker
    started.append(worker)
    return worker


def test_a_fatal_error_restarts_the_worker_with_backoff(
    ctx: Context, stopped: list[EmbeddedWorker]
) -> None:
    run = FailsThenRuns(
        [FatalError("database unreachable for 300 s"), FatalError("database unreachable again")]
    )
    worker = supervise(ctx, run, stopped)
    assert worker.snapshot().state == "starting"
    worker.start()
    seen = []
    while len(run.calls) < 3:
        state = worker.snapshot()
        if state.state == "restarting":
            assert state.next_start_at is not None and state.next_start_at > state.since
            seen.append(state)
        time.sleep(0.005)
    assert [c.state for c in run.calls] == ["running", "running", "running"]
    assert [c.restarts for c in run.calls] == [0, 1, 2]
    assert {s.restarts for s in seen} == {0, 1}  # seen waiting before each restart
    waits = {s.restarts: s.next_start_at - s.since for s in seen if s.next_start_at}
    assert 0.15 < waits[0] < 0.3 and 0.35 < waits[1] < 0.5  # 0.2 s, then doubled
    now = worker.snapshot()
    assert now.state == "running" and now.restarts == 2 and now.next_start_at is None
    assert now.last_error == "database unreachable again"
    assert worker.stop(2.0) is True
    assert worker.snapshot().state == "stopped" and not worker.is_alive()


def test_a_bug_is_logged_with_its_traceback_and_the_worker_restarts(
    ctx: Context, stopped: list[EmbeddedWorker], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cosmos_workflow")
    run = FailsThenRuns([RuntimeError("boom\nsecond line")])
    worker = supervise(ctx, run, stopped).start()
    wait_for(lambda: len(run.calls) == 2)
    crashed = [r for r in caplog.records if "crashed" in r.getMessage()]
    assert len(crashed) == 1 and crashed[0].levelno == logging.ERROR
    assert crashed[0].exc_info is not None and crashed[0].exc_info[0] is RuntimeError
    now = worker.snapshot()
    assert now.state == "running" and now.restarts == 1 and worker.is_alive()
    assert now.last_error == "RuntimeError: boom"  # one line, no traceback
    worker.stop(2.0)
    assert worker.snapshot().state == "stopped"


def test_last_error_never_shows_the_database_password_or_the_token(
    ctx: Context, stopped: list[EmbeddedWorker]
) -> None:
    url = "postgresql://cosmos:s3cret-pw@db.example:5432/cosmos"
    settings = ctx.settings.model_copy(update={"database_url": url, "api_token": "tok-123456"})
    run = FailsThenRuns(
        [ConnectionError(f"cannot reach {url} as cosmos/s3cret-pw; token tok-123456")]
    )
    worker = supervise(Context(settings), run, stopped).start()
    wait_for(lambda: len(run.calls) == 2)
    assert worker.snapshot().last_error == (
        "ConnectionError: cannot reach postgresql://cosmos:***@db.example:5432/cosmos as "
        "cosmos/***; token ***"
    )


def test_a_worker_that_returns_unasked_is_restarted(
    ctx: Context, stopped: list[EmbeddedWorker]
) -> None:
    calls = []

    def returns_at_once(ctx: Context, **kwargs: object) -> int:
        calls.append(time.monotonic())
        return 0

    worker = EmbeddedWorker(ctx, run=returns_at_once, initial_backoff_s=0.01, max_backoff_s=0.02)
    stopped.append(worker)
    worker.start()
    wait_for(lambda: len(calls) >= 3)
    assert worker.snapshot().restarts >= 2
    assert "without being asked to stop" in (worker.snapshot().last_error or "")
    worker.stop(2.0)
    assert worker.snapshot().state == "stopped"


def test_the_real_worker_runs_a_queued_job_and_the_api_reports_it(
    ctx: Context, stopped: list[EmbeddedWorker], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSMOS_SIM_TIME_SCALE", "0")
    ctx.db.migrate()
    (prompt_id,) = seed_prompts(ctx, 1)
    job = queue.enqueue(ctx, queue.build_request([prompt_id], {"edge": 0.5}))
    worker = EmbeddedWorker(ctx, simulate=True)
    stopped.append(worker)
    with api_client(create_app(ctx, token=None, with_ui=False, worker=worker)) as client:
        worker.start()
        wait_for(lambda: queue.get_job(ctx, job.job_id).status == "succeeded", timeout=8.0)
        answer = client.get("/api/worker")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["state"] == "running" and body["restarts"] == 0
        assert body["last_error"] is None and body["next_start_at"] is None
        assert body["since"] <= time.time()
        assert worker.stop(5.0) is True
        assert client.get("/api/worker").json()["state"] == "stopped"
    assert queue.get_job(ctx, job.job_id).status == "succeeded"


def test_a_server_without_an_embedded_worker_says_so(client: TestClient) -> None:
    answer = client.get("/api/worker")
    assert answer.status_code == 200
    assert answer.json() == {
        "state": "none",
        "restarts": 0,
        "last_error": None,
        "next_start_at": None,
        "since": None,
    }
    schema = client.get("/openapi.json").json()
    assert "/api/worker" in schema["paths"]
    assert "EmbeddedWorkerStatus" in schema["components"]["schemas"]
