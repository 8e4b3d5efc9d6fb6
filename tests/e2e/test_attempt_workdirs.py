"""The work directory of an attempt that was cancelled, or whose process was killed, is emptied
down to its logs: through a real worker and simulator, on the local host and on a real OpenSSH
server, and after a SIGKILLed worker's attempt is reaped by the next worker."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from cosmos_workflow.config import load_settings
from cosmos_workflow.services import queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.models import AttemptRow
from cosmos_workflow.worker.loop import run_worker
from tests.e2e.conftest import Cosmos
from tests.hosts.sshd import SSHServer, sshd
from tests.services.helpers import seed_prompts

pytestmark = pytest.mark.slow
__all__ = ["sshd"]

SLOW = "0.05"  # the simulator's seconds per simulated second: a job runs for several seconds


def _attempts(ctx: Context) -> list[AttemptRow]:
    with ctx.db.read() as session:
        return list(session.scalars(select(AttemptRow).order_by(AttemptRow.id)).all())


def _running_with_logs(ctx: Context, timeout_s: float = 60) -> Path:
    """The work directory of the first attempt, once its process runs and has written a log."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        started = [a for a in _attempts(ctx) if a.process_group is not None and a.workdir]
        if started and any(Path(started[0].workdir or "").rglob("debug.log")):
            return Path(started[0].workdir or "")
        time.sleep(0.1)
    raise AssertionError("the attempt never started writing its logs")


def _files(workdir: Path) -> set[str]:
    return {p.relative_to(workdir).as_posix() for p in workdir.rglob("*") if not p.is_dir()}


@pytest.fixture
def ssh_config(env: dict[str, str], sshd: SSHServer, tmp_path: Path) -> Iterator[Path]:
    remote = tmp_path / "remote-jobs"
    Path(env["COSMOS_CONFIG"]).write_text(
        "[[hosts]]\n"
        'name = "gpu-ssh"\n'
        f'ssh = "{sshd.target}"\n'
        f"ssh_port = {sshd.port}\n"
        f'ssh_key = "{sshd.client_key}"\n'
        f'known_hosts = "{sshd.known_hosts}"\n'
        f'workdir = "{remote}"\n'
        'backend = "transfer2.5"\n'
        "simulate = true\n"
    )
    yield remote


@pytest.mark.parametrize("where", ["local", pytest.param("ssh", marks=pytest.mark.ssh)])
def test_a_cancelled_attempt_keeps_only_its_logs(
    where: str,
    env: dict[str, str],
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COSMOS_SIM_TIME_SCALE", SLOW)
    host_name = None
    if where == "ssh":
        request.getfixturevalue("ssh_config")
        host_name = "gpu-ssh"
    ctx = Context(load_settings())
    try:
        prompt_ids = seed_prompts(ctx, 2)
        params = {"backend": "transfer2.5"}
        job_id = queue.enqueue(ctx, queue.build_request(prompt_ids, {"edge": 0.5}, params)).job_id
        worker = threading.Thread(
            target=lambda: run_worker(ctx, host_name=host_name, simulate=True, once=True)
        )
        worker.start()
        workdir = _running_with_logs(ctx)
        staged = _files(workdir)
        assert any(name.endswith(".mp4") for name in staged), staged
        queue.cancel_job(ctx, job_id)
        worker.join(timeout=120)
        assert not worker.is_alive()
        assert queue.get_job(ctx, job_id).status == "cancelled"
        left = _files(workdir)
        assert left and all(name.endswith(".log") for name in left), left
        assert left <= staged | {".cosmos/output.log"}
        assert (ctx.settings.logs_dir / f"{job_id}.log").is_file(), "the job's own log stays"
    finally:
        ctx.db.dispose()


def test_a_reaped_attempt_keeps_only_its_logs(ctx: Context, cosmos: Cosmos, scene: str) -> None:
    prompt_id = cosmos.json("prompt", "create", "a scene", "--input", scene)["id"]
    cosmos.json("queue", "add", prompt_id, "--weights", "edge=0.5", "--backend", "transfer2.5")
    lease = {"COSMOS_LEASE_SECONDS": "2"}
    victim = cosmos.start(
        "worker", "--simulate", "--once", extra_env={"COSMOS_SIM_TIME_SCALE": SLOW, **lease}
    )
    workdir = _running_with_logs(ctx)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert any(not name.endswith(".log") for name in _files(workdir))
    time.sleep(2.5)  # the lease (2 s) lapses
    rescuer = cosmos.start("worker", "--simulate", "--exit-when-idle", extra_env=lease)
    output, _ = rescuer.communicate(timeout=240)
    assert rescuer.returncode == 0, output
    first, second = _attempts(ctx)
    assert first.outcome in ("reaped", "orphan ended")
    left = _files(workdir)
    assert left and all(name.endswith(".log") for name in left), left
    assert second.workdir != first.workdir and not Path(second.workdir or "").exists()
