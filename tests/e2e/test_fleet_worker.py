"""One worker drives every slot of its hosts: jobs run at once, one per slot, each pinned to its
own devices (the simulator refuses two jobs on one device, as a GPU in exclusive-process mode
does); a SIGKILLed multi-slot worker loses nothing and runs nothing twice."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from cosmos_workflow.config import load_settings
from cosmos_workflow.services import queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.models import AttemptRow, WorkerRow
from cosmos_workflow.worker.loop import run_worker
from tests.e2e.conftest import Cosmos
from tests.faults.ledger import assert_exactly_once, wait_for
from tests.hosts.sshd import SSHServer, sshd
from tests.services.helpers import seed_prompts

pytestmark = pytest.mark.slow

__all__ = ["sshd"]  # the real OpenSSH server fixture

HOST = """
[[hosts]]
name = "node"
simulate = true
gpus = [3, 5, 6, 7]
"""


def _fleet_ctx(env: dict[str, str], config: str) -> Context:
    Path(env["COSMOS_CONFIG"]).write_text(config)
    return Context(load_settings())


def _enqueue(ctx: Context, count: int) -> list[str]:
    prompt_ids = seed_prompts(ctx, 1)
    return [
        queue.enqueue(ctx, queue.build_request(prompt_ids, {"edge": 0.5}, {"seed": i})).job_id
        for i in range(count)
    ]


def _overlap(attempts: list[AttemptRow]) -> int:
    """The most attempts that ran at one moment."""
    marks = sorted(
        [(a.started_at, 1) for a in attempts] + [(a.ended_at or a.started_at, -1) for a in attempts]
    )
    most = current = 0
    for _, step in marks:
        current += step
        most = max(most, current)
    return most


def test_one_worker_runs_a_job_per_slot_at_once_each_on_its_own_devices(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSMOS_SIM_TIME_SCALE", "0.004")  # a job lasts about two seconds
    ctx = _fleet_ctx(env, HOST)
    try:
        jobs = _enqueue(ctx, 8)
        assert run_worker(ctx, exit_when_idle=True) == 8
        with ctx.db.read() as session:
            attempts = list(session.scalars(select(AttemptRow)).all())
            slots = sorted(w.slot or "" for w in session.scalars(select(WorkerRow)).all())
        assert slots == ["node/0", "node/1", "node/2", "node/3"]
        assert sorted(a.job_id for a in attempts) == sorted(jobs), "each job ran exactly once"
        assert all(a.exit_code == 0 for a in attempts)
        assert _overlap(attempts) >= 3, "the slots ran their jobs at the same time"
        # The simulator locked exactly the configured devices, and a device held twice would
        # have failed the second job ("CUDA-capable device(s) is/are busy").
        locks = Path(ctx.settings.jobs_dir) / ".simulated-gpus" / "node"
        assert sorted(p.name for p in locks.glob("device-*.lock")) == [
            f"device-{d}.lock" for d in (3, 5, 6, 7)
        ]
        assert_exactly_once(ctx)
    finally:
        ctx.db.dispose()


def test_two_workers_on_one_single_gpu_host_collide_as_on_a_real_gpu(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers driving one single-GPU host is a mistake the configuration cannot see: on a
    real machine the second job finds the GPU busy (exclusive-process mode) or torchrun's port
    taken, and so it does here. Each such failure is a crash the queue retries; no run is lost
    or run twice."""
    monkeypatch.setenv("COSMOS_SIM_TIME_SCALE", "0.004")
    monkeypatch.setenv("COSMOS_MAX_ATTEMPTS", "3")
    ctx = _fleet_ctx(env, '[[hosts]]\nname = "one"\nsimulate = true\n')
    try:
        _enqueue(ctx, 4)
        threads = [
            threading.Thread(target=run_worker, args=(ctx,), kwargs={"exit_when_idle": True})
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        with ctx.db.read() as session:
            failed = session.scalars(
                select(AttemptRow.job_id).where(AttemptRow.exit_code.not_in([0]))
            ).all()
        logs = " ".join(p.read_text(errors="replace") for p in ctx.settings.logs_dir.glob("*.log"))
        assert failed, "the two workers never met on the GPU"
        assert "busy or unavailable" in logs or "EADDRINUSE" in logs
        assert_exactly_once(ctx, all_succeeded=False)
    finally:
        ctx.db.dispose()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # heavy: run once
def test_a_killed_multi_slot_worker_loses_nothing_and_runs_nothing_twice(
    env: dict[str, str], cosmos: Cosmos
) -> None:
    ctx = _fleet_ctx(env, HOST)
    cosmos.env.update({"COSMOS_SIM_TIME_SCALE": "0.006", "COSMOS_LEASE_SECONDS": "2"})
    try:
        jobs = _enqueue(ctx, 8)
        first = cosmos.start("worker", "--exit-when-idle")
        # Wait until several slots run a job, then kill the worker with no warning.
        wait_for(lambda: _running(ctx, jobs) >= 2, 60, "two slots running a job")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        second = cosmos.start("worker", "--exit-when-idle")
        output, _ = second.communicate(timeout=200)
        assert second.returncode == 0, output
        ledger = assert_exactly_once(ctx)
        assert ledger.attempts > len(jobs), "the kill hit running jobs, which ran again"
    finally:
        ctx.db.dispose()


def _running(ctx: Context, jobs: list[str]) -> int:
    """How many of these jobs have a model process running now."""
    with ctx.db.read() as session:
        query = select(AttemptRow.id).where(
            AttemptRow.ended_at.is_(None),
            AttemptRow.process_group.is_not(None),
            AttemptRow.job_id.in_(jobs),
        )
        return len(session.scalars(query).all())


@pytest.mark.ssh
def test_an_ssh_hosts_slots_are_pinned_the_same_way(
    env: dict[str, str], sshd: SSHServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A two-GPU host over SSH: its jobs run at once, each pinned by CUDA_VISIBLE_DEVICES in the
    script that starts it (tests/hosts/test_pinning.py), and the simulator there locks both
    devices, one per job."""
    monkeypatch.setenv("COSMOS_SIM_TIME_SCALE", "0.004")
    remote = tmp_path / "remote-jobs"
    ctx = _fleet_ctx(
        env,
        "[[hosts]]\n"
        'name = "far"\n'
        f'ssh = "{sshd.target}"\n'
        f"ssh_port = {sshd.port}\n"
        f'ssh_key = "{sshd.client_key}"\n'
        f'known_hosts = "{sshd.known_hosts}"\n'
        f'workdir = "{remote}"\n'
        "gpus = 2\n"
        "simulate = true\n",
    )
    try:
        jobs = _enqueue(ctx, 4)
        assert run_worker(ctx, exit_when_idle=True) == 4
        with ctx.db.read() as session:
            attempts = list(session.scalars(select(AttemptRow)).all())
        assert sorted(a.job_id for a in attempts) == sorted(jobs)
        assert _overlap(attempts) == 2, "both slots ran at once"
        locks = remote / ".simulated-gpus" / "far"
        assert sorted(p.name for p in locks.glob("device-*.lock")) == [
            "device-0.lock",
            "device-1.lock",
        ]
        # Unpinned, both would have taken device 0 and one would have failed as busy.
        assert all(a.exit_code == 0 for a in attempts)
        assert_exactly_once(ctx)
    finally:
        ctx.db.dispose()
