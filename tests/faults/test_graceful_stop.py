"""A graceful stop on SIGTERM: `cosmos worker` and `cosmos serve` stop claiming, let the running
job finish for the stop grace, then end its process and give the job back to the queue without
charging an attempt, and exit 0. Real processes on the simulator; a short grace keeps it fast."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from cosmos_workflow import defaults
from cosmos_workflow.domain.states import AttemptEnd, JobStatus, RunStatus
from cosmos_workflow.services import queue
from cosmos_workflow.services.context import Context
from tests.e2e.conftest import BOTH_DATABASES, Cosmos, scene
from tests.faults import stopping
from tests.faults.stopping import SLOW

pytestmark = pytest.mark.slow
__all__ = ["scene"]

GRACE_S = 1.0
# After the grace: the process gets its kill grace (SIGTERM, then SIGKILL), the release is
# written, and the interpreter exits.
MARGIN_S = defaults.KILL_GRACE_SECONDS + 10


def _assert_given_back(ctx: Context, job_id: str, home: Path) -> None:
    job = stopping.job(ctx, job_id)
    assert job.status == JobStatus.QUEUED and job.lease_token is None
    assert job.attempts == 0, "the release charged an attempt"
    (attempt,) = stopping.attempts(ctx)
    assert attempt.outcome == AttemptEnd.RELEASED and attempt.ended_at is not None
    view = queue.get_job(ctx, job_id)
    assert {run.status for run in view.runs} == {RunStatus.QUEUED}
    assert all(run.attempts == 0 for run in view.runs)
    assert not stopping.processes_of(home, [attempt.marker or ""]), "the model process runs on"


@pytest.mark.timeout(90)
@pytest.mark.parametrize("database_url", BOTH_DATABASES, indirect=True)
def test_sigterm_ends_a_job_longer_than_the_grace_and_gives_it_back(
    ctx: Context, cosmos: Cosmos, scene: str, home: Path
) -> None:
    job_id = stopping.add_job(cosmos, scene)
    worker = cosmos.start("worker", "--simulate", "--stop-grace", str(GRACE_S), extra_env=SLOW)
    stopping.wait_for_process(ctx, 1)
    worker.send_signal(signal.SIGTERM)
    code, output, took = stopping.wait_exit(worker, GRACE_S + MARGIN_S)
    assert code == 0, output
    assert took >= GRACE_S, f"the job was ended before its grace: {took:.1f} s"
    assert "worker ran 1 job(s)" in output
    _assert_given_back(ctx, job_id, home)
    # Given back, not lost: the next worker runs it to its end, as its first charged attempt.
    rescuer = cosmos.start("worker", "--simulate", "--exit-when-idle")
    code, output, _ = stopping.wait_exit(rescuer, 60)
    assert code == 0, output
    job = stopping.job(ctx, job_id)
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 1


@pytest.mark.timeout(90)
def test_a_job_that_fits_in_the_grace_finishes_and_is_recorded(
    ctx: Context, cosmos: Cosmos, scene: str, home: Path
) -> None:
    job_id = stopping.add_job(cosmos, scene)
    other = stopping.add_job(cosmos, scene)
    worker = cosmos.start(
        "worker", "--simulate", "--stop-grace", "60", extra_env={"COSMOS_SIM_TIME_SCALE": "0.01"}
    )
    running = stopping.wait_for_process(ctx, 1)
    worker.send_signal(signal.SIGTERM)
    assert stopping.processes_of(home, [running.marker or ""]), "it ended before the signal"
    code, output, _ = stopping.wait_exit(worker, 60)
    assert code == 0, output
    first = stopping.job(ctx, job_id)
    assert first.status == JobStatus.SUCCEEDED and first.attempts == 1
    (attempt,) = stopping.attempts(ctx)
    assert attempt.outcome == AttemptEnd.EXITED and attempt.exit_code == 0
    assert stopping.job(ctx, other).status == JobStatus.QUEUED, "it claimed after the stop"


@pytest.mark.timeout(90)
def test_sigterm_stops_serve_and_its_worker_gracefully(
    ctx: Context, cosmos: Cosmos, scene: str, home: Path
) -> None:
    job_id = stopping.add_job(cosmos, scene)
    port = stopping.free_port()
    server = cosmos.start(
        "serve", "--port", str(port), "--stop-grace", str(GRACE_S), extra_env=SLOW
    )
    stopping.wait_for_process(ctx, 1)
    stopping.wait_for_server(port)
    asked = time.monotonic()
    server.send_signal(signal.SIGTERM)
    code, output, took = stopping.wait_exit(
        server, GRACE_S + MARGIN_S + defaults.SERVE_SHUTDOWN_GRACE_SECONDS
    )
    assert code == 0, output
    assert time.monotonic() - asked >= GRACE_S, f"the job was ended before its grace: {took:.1f}"
    _assert_given_back(ctx, job_id, home)
