"""Infrastructure is not the job's fault: workers SIGKILLed under a healthy job (their leases
lapse, the next worker's reaper ends the orphaned process and takes the job back) never
quarantine it, while a job whose process crashes every time still is, after its configured
attempts, whatever lapses came between. Real worker processes on the simulator."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from cosmos_workflow.domain.states import LAPSES, FailureClass, JobStatus
from cosmos_workflow.services.context import Context
from tests.e2e.conftest import Cosmos, scene
from tests.faults import stopping
from tests.faults.stopping import SLOW

pytestmark = pytest.mark.slow
__all__ = ["scene"]

LEASE = {"COSMOS_LEASE_SECONDS": "2"}
KILLS = 3  # as many as the job's attempts (max_attempts 3): each used to cost one


def _kill_workers_under(ctx: Context, cosmos: Cosmos, kills: int) -> None:
    """Start a worker, SIGKILL it once its model process runs, `kills` times; each next worker
    first reaps the lapsed lease of the one before."""
    for count in range(1, kills + 1):
        victim = cosmos.start("worker", "--simulate", "--once", extra_env={**SLOW, **LEASE})
        stopping.wait_for_process(ctx, count)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        time.sleep(2.2)  # its lease (2 s) lapses


@pytest.mark.timeout(120)
def test_three_killed_workers_do_not_quarantine_a_healthy_job(
    ctx: Context, cosmos: Cosmos, scene: str, home: Path
) -> None:
    job_id = stopping.add_job(cosmos, scene)
    _kill_workers_under(ctx, cosmos, KILLS)
    rescuer = cosmos.start("worker", "--simulate", "--exit-when-idle", extra_env=LEASE)
    code, output, _ = stopping.wait_exit(rescuer, 60)
    assert code == 0, output
    job = stopping.job(ctx, job_id)
    assert job.status == JobStatus.SUCCEEDED, (job.status, job.error)
    rows = stopping.attempts(ctx)
    assert len(rows) == KILLS + 1 and job.attempts == KILLS + 1
    assert all(row.outcome in LAPSES for row in rows[:KILLS]), [r.outcome for r in rows]
    assert rows[-1].exit_code == 0
    assert not stopping.processes_of(home, [r.marker or "" for r in rows]), "an orphan runs on"


@pytest.mark.timeout(120)
def test_a_job_that_crashes_every_time_is_quarantined_lapses_aside(
    ctx: Context, cosmos: Cosmos, scene: str
) -> None:
    job_id = stopping.add_job(cosmos, scene)
    _kill_workers_under(ctx, cosmos, 1)
    crashing = {"COSMOS_SIM_FAULTS": json.dumps({"crash_after_steps": 1}), **LEASE}
    worker = cosmos.start("worker", "--simulate", "--exit-when-idle", extra_env=crashing)
    code, output, _ = stopping.wait_exit(worker, 60)
    assert code == 0, output
    job = stopping.job(ctx, job_id)
    assert job.status == JobStatus.FAILED and job.failure_class == FailureClass.CRASH
    crashes = [row for row in stopping.attempts(ctx) if row.outcome not in LAPSES]
    assert len(crashes) == job.max_attempts, "the lapse counted toward the crash rule"
    assert job.attempts == job.max_attempts + 1
    assert f"attempt {job.max_attempts} of {job.max_attempts}" in (job.error or "")
