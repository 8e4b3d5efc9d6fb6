"""Workers as real processes running the simulator: batches, many workers, crashes, faults."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cosmos_workflow.services import media
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.models import AttemptRow, BatchLimitRow, JobRow, RunRow
from tests.e2e.conftest import BOTH_DATABASES, Cosmos

pytestmark = pytest.mark.slow


def _prompts(cosmos: Cosmos, scene: str, count: int) -> list[str]:
    return [
        cosmos.json("prompt", "create", f"a scene, variation {i}", "--input", scene)["id"]
        for i in range(count)
    ]


def _wait(processes: list, timeout: float = 240) -> None:  # type: ignore[type-arg]
    for process in processes:
        output, _ = process.communicate(timeout=timeout)
        assert process.returncode == 0, output


def _all_runs(ctx: Context) -> list[RunRow]:
    with ctx.db.read() as session:
        return list(session.scalars(select(RunRow)).all())


@pytest.mark.parametrize("database_url", BOTH_DATABASES, indirect=True)
def test_mixed_controls_auto_plan_two_workers(ctx: Context, cosmos: Cosmos, scene: str) -> None:
    prompt_ids = _prompts(cosmos, scene, 3)
    for weights in ("edge=0.6", "depth=0.5", "depth=0.4,seg=0.6", "edge=0.9", "vis=0.3,edge=0.4"):
        cosmos.json("queue", "add", *prompt_ids, "--weights", weights)
    plan = cosmos.json("batch", "analyze", "--mode", "auto")
    assert plan["predicted_seconds_after"] <= plan["predicted_seconds_before"]
    applied = cosmos.json("batch", "apply", plan["plan_id"])
    assert applied["created_job_ids"], "auto should batch this queue"
    workers = [cosmos.start("worker", "--simulate", "--exit-when-idle") for _ in range(2)]
    _wait(workers)
    runs = _all_runs(ctx)
    assert len(runs) == 15
    for run in runs:
        assert run.status == "succeeded", (run.id, run.error)
        assert run.output_path and media.video_decodes(Path(run.output_path))
    weights = {json.dumps(r.weights, sort_keys=True) for r in runs}
    assert len(weights) == 5, "every run kept its own weights through batching"


@pytest.mark.parametrize("database_url", BOTH_DATABASES, indirect=True)
def test_three_workers_run_thirty_jobs_exactly_once(
    ctx: Context, cosmos: Cosmos, scene: str
) -> None:
    (prompt_id,) = _prompts(cosmos, scene, 1)
    jobs = [cosmos.json("queue", "add", prompt_id, "--seed", str(i))["job_id"] for i in range(30)]
    workers = [cosmos.start("worker", "--simulate", "--exit-when-idle") for _ in range(3)]
    _wait(workers)
    with ctx.db.read() as session:
        attempts = dict(
            session.execute(
                select(AttemptRow.job_id, func.count()).group_by(AttemptRow.job_id)
            ).all()
        )
        statuses = dict(session.execute(select(JobRow.id, JobRow.status)).all())
        hosts = set(session.scalars(select(AttemptRow.worker_id)).all())
    assert set(attempts) == set(jobs)
    assert set(attempts.values()) == {1}, "a job ran twice"
    assert set(statuses.values()) == {"succeeded"}
    assert len(hosts) >= 2


@pytest.mark.parametrize("database_url", BOTH_DATABASES, indirect=True)
def test_killed_worker_loses_nothing(
    ctx: Context, cosmos: Cosmos, scene: str, env: dict[str, str]
) -> None:
    prompt_ids = _prompts(cosmos, scene, 4)
    cosmos.json("queue", "add", *prompt_ids, "--weights", "edge=0.5")
    cosmos.json("queue", "add", *prompt_ids, "--weights", "edge=0.7")
    plan = cosmos.json("batch", "analyze", "--mode", "strict")
    cosmos.json("batch", "apply", plan["plan_id"])
    slow = {"COSMOS_SIM_TIME_SCALE": "0.01", "COSMOS_LEASE_SECONDS": "2"}
    victim = cosmos.start("worker", "--simulate", "--once", extra_env=slow)
    deadline = time.time() + 60
    while time.time() < deadline:
        with ctx.db.read() as session:
            if session.scalar(
                select(func.count()).select_from(JobRow).where(JobRow.status == "running")
            ):
                break
        time.sleep(0.1)
    time.sleep(0.5)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    time.sleep(2.5)  # the lease (2 s) lapses
    rescuer = cosmos.start(
        "worker", "--simulate", "--exit-when-idle", extra_env={"COSMOS_LEASE_SECONDS": "2"}
    )
    _wait([rescuer])
    runs = _all_runs(ctx)
    assert len(runs) == 8
    assert {r.status for r in runs} == {"succeeded"}, [(r.id, r.status, r.error) for r in runs]
    assert all(media.video_decodes(Path(r.output_path)) for r in runs if r.output_path)
    with ctx.db.read() as session:
        job_attempts = session.scalars(
            select(JobRow.attempts).where(JobRow.status == "succeeded")
        ).all()
    assert max(job_attempts) == 2, "the killed job ran again exactly once more"


def test_out_of_memory_splits_the_batch_and_learns(
    ctx: Context, cosmos: Cosmos, scene: str
) -> None:
    prompt_ids = _prompts(cosmos, scene, 4)
    cosmos.json("queue", "add", *prompt_ids[:2], "--weights", "edge=0.5")
    cosmos.json("queue", "add", *prompt_ids[2:], "--weights", "edge=0.5")
    plan = cosmos.json("batch", "analyze", "--mode", "strict")
    assert any(b["gpu_batch_size"] > 1 for b in plan["batches"]), plan
    cosmos.json("batch", "apply", plan["plan_id"])
    faults = json.dumps({"oom_above_batch_size": 1})
    worker = cosmos.start(
        "worker", "--simulate", "--exit-when-idle", extra_env={"COSMOS_SIM_FAULTS": faults}
    )
    _wait([worker])
    with ctx.db.read() as session:
        failed = session.scalars(select(JobRow).where(JobRow.status == "failed")).all()
        limits = session.scalars(select(BatchLimitRow)).all()
    assert failed and all(j.failure_class == "out_of_memory" for j in failed)
    assert "split into" in (failed[0].error or "")
    assert limits and limits[0].max_gpu_batch_size < 4
    assert {r.status for r in _all_runs(ctx)} == {"succeeded"}


def test_cancel_kills_a_running_job_within_two_seconds(
    ctx: Context, cosmos: Cosmos, scene: str
) -> None:
    (prompt_id,) = _prompts(cosmos, scene, 1)
    job_id = cosmos.json("queue", "add", prompt_id, "--weights", "edge=0.5")["job_id"]
    # A long lease: the cancel must not wait for the next renewal (20 s away).
    worker = cosmos.start(
        "worker",
        "--simulate",
        "--once",
        extra_env={"COSMOS_SIM_TIME_SCALE": "0.05", "COSMOS_LEASE_SECONDS": "60"},
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        with ctx.db.read() as session:
            if session.scalar(select(AttemptRow.process_group)):
                break
        time.sleep(0.1)
    asked = time.time()
    cosmos.json("queue", "cancel", job_id)
    _wait([worker], timeout=60)
    job = cosmos.json("job", "show", job_id)
    assert job["status"] == "cancelled"
    assert {r["status"] for r in job["runs"]} == {"cancelled"}
    with ctx.db.read() as session:
        attempt = session.scalars(select(AttemptRow)).one()
    assert attempt.outcome == "cancelled"
    assert attempt.ended_at is not None and attempt.ended_at - asked < 2.5, "cancel seen late"
