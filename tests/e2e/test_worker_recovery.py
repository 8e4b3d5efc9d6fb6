"""The worker's exception boundary and its orphans: a job's failure is recorded in its class
(crash: retried; bad input: final), the worker goes on, and a killed worker's model process is
ended before its job runs again."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from cosmos_workflow.backends.transfer1 import Transfer1Backend as Transfer1
from cosmos_workflow.services import queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.models import AttemptRow, InputRow, JobRow, RunRow
from cosmos_workflow.worker.loop import run_worker
from tests.e2e.conftest import Cosmos
from tests.services.helpers import seed_prompts

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _fast_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSMOS_SIM_TIME_SCALE", "0")


def _jobs(ctx: Context) -> dict[str, JobRow]:
    with ctx.db.read() as session:
        return {job.id: job for job in session.scalars(select(JobRow)).all()}


def test_a_bug_in_collect_is_a_crash_and_the_worker_goes_on(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompt_ids = seed_prompts(ctx, 1)
    first = queue.enqueue(ctx, queue.build_request(prompt_ids, {"edge": 0.5})).job_id
    second = queue.enqueue(ctx, queue.build_request(prompt_ids, {"edge": 0.6})).job_id
    real = Transfer1.collect
    calls = []

    def buggy(self: Transfer1, *args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug in collect")
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Transfer1, "collect", buggy)
    assert run_worker(ctx, simulate=True, exit_when_idle=True) == 3
    jobs = _jobs(ctx)
    assert jobs[first].status == "succeeded" and jobs[first].attempts == 2
    assert jobs[second].status == "succeeded" and jobs[second].attempts == 1
    with ctx.db.read() as session:
        outcomes = session.scalars(
            select(AttemptRow.outcome).where(AttemptRow.job_id == first).order_by(AttemptRow.id)
        ).all()
    assert outcomes == ["exited", "exited"]


def test_a_host_error_is_a_crash_retried_then_quarantined(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 1)
    job_id = queue.enqueue(ctx, queue.build_request(prompt_ids, {"edge": 0.5})).job_id
    with ctx.db.read() as session:
        video = Path(session.scalars(select(InputRow.video_path)).one())
    video.unlink()  # staging fails on the host: not the user's input being invalid
    assert run_worker(ctx, simulate=True, exit_when_idle=True) == ctx.settings.max_attempts
    job = _jobs(ctx)[job_id]
    assert job.status == "failed" and job.failure_class == "crash"
    assert job.attempts == ctx.settings.max_attempts
    with ctx.db.read() as session:
        run = session.scalars(select(RunRow)).one()
    assert run.status == "failed" and run.failure_class == "crash"


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pgid}/stat")
    return not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_a_killed_workers_process_is_ended_before_its_job_runs_again(
    ctx: Context, cosmos: Cosmos, scene: str
) -> None:
    prompt_id = cosmos.json("prompt", "create", "a scene", "--input", scene)["id"]
    job_id = cosmos.json("queue", "add", prompt_id, "--weights", "edge=0.5")["job_id"]
    slow = {"COSMOS_SIM_TIME_SCALE": "0.05", "COSMOS_LEASE_SECONDS": "2"}
    victim = cosmos.start("worker", "--simulate", "--once", extra_env=slow)
    deadline = time.time() + 60
    pgid = None
    while pgid is None and time.time() < deadline:
        with ctx.db.read() as session:
            pgid = session.scalar(select(AttemptRow.process_group))
        time.sleep(0.1)
    assert pgid is not None
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    time.sleep(0.5)
    assert _alive(pgid), "the model process outlives its killed worker"
    time.sleep(2.0)  # the lease (2 s) lapses
    rescuer = cosmos.start(
        "worker", "--simulate", "--exit-when-idle", extra_env={"COSMOS_LEASE_SECONDS": "2"}
    )
    output, _ = rescuer.communicate(timeout=240)
    assert rescuer.returncode == 0, output
    assert not _alive(pgid), "the orphaned model process was left running"
    with ctx.db.read() as session:
        first, second = session.scalars(select(AttemptRow).order_by(AttemptRow.id)).all()
    assert first.outcome in ("reaped", "orphan ended") and first.ended_at is not None
    assert second.started_at >= first.ended_at, "the job ran again beside its orphan"
    job = _jobs(ctx)[job_id]
    assert job.status == "succeeded" and job.attempts == 2
