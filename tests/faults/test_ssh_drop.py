"""An SSH host whose connection drops in the middle of a job. The worker reaches the real
OpenSSH server through a TCP proxy (tests/faults/proxy.py) that resets every connection and
refuses new ones while cut; the model process runs detached on the remote side meanwhile.

- Down for 3 s (within the host's reconnect window): the host reconnects and follows the log on
  from where it was; the job succeeds in its one attempt, each run recorded once.
- Down for 5 s, past a 3 s reconnect window: the attempt counts as a crash, the job is retried
  and succeeds, each run recorded once; the first attempt's remote process is killed (it ends
  well before it would have finished by itself) and no process is left.

The worker runs in a thread of this process so that the reconnect window (120 s by default, no
setting) can be shortened."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cosmos_workflow.config import load_settings
from cosmos_workflow.hosts import ssh
from cosmos_workflow.services import queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.models import AttemptRow
from cosmos_workflow.worker.loop import run_worker
from tests.faults.ledger import ProcessWatch, assert_exactly_once, running_attempt, wait_for
from tests.faults.proxy import TcpProxy
from tests.hosts.sshd import SSHServer
from tests.services.helpers import seed_input, seed_prompts

pytestmark = [pytest.mark.slow, pytest.mark.ssh]

HOST = "gpu-ssh"


@pytest.fixture
def proxy(sshd: SSHServer) -> Iterator[TcpProxy]:
    with TcpProxy(sshd.port) as carried:
        yield carried


@pytest.fixture
def ssh_ctx(
    env: dict[str, str], sshd: SSHServer, proxy: TcpProxy, tmp_path: Path
) -> Iterator[Context]:
    """A context whose one host is the sshd, reached through the proxy."""
    known = sshd.known_hosts.read_text().split()
    known_hosts = tmp_path / "known_hosts_via_proxy"
    known_hosts.write_text(f"[127.0.0.1]:{proxy.port} {known[1]} {known[2]}\n")
    Path(env["COSMOS_CONFIG"]).write_text(
        "[[hosts]]\n"
        f'name = "{HOST}"\n'
        f'ssh = "{sshd.target}"\n'
        f"ssh_port = {proxy.port}\n"
        f'ssh_key = "{sshd.client_key}"\n'
        f'known_hosts = "{known_hosts}"\n'
        f'workdir = "{tmp_path / "remote-jobs"}"\n'
        "simulate = true\n"
    )
    ctx = Context(load_settings(lease_seconds=6))  # the reaper looks every 2 s
    yield ctx
    ctx.db.dispose()


class WorkerThread(threading.Thread):
    def __init__(self, ctx: Context) -> None:
        super().__init__(name="ssh-worker", daemon=True)
        self.ctx = ctx
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            run_worker(self.ctx, host_name=HOST, exit_when_idle=True)
        except BaseException as exc:
            self.error = exc

    def finish(self, timeout_s: float = 120) -> None:
        self.join(timeout_s)
        assert not self.is_alive(), "the worker did not finish the queue"
        assert self.error is None, f"the worker raised {self.error!r}"


def _job(ctx: Context) -> str:
    seed_input(ctx, "scene", controls=("edge",))
    (prompt_id,) = seed_prompts(ctx, 1)
    return queue.enqueue(ctx, queue.build_request([prompt_id], {"edge": 0.5})).job_id


def _attempts(ctx: Context) -> list[AttemptRow]:
    with ctx.db.read() as session:
        return list(session.scalars(select(AttemptRow).order_by(AttemptRow.id)).all())


def _cut_mid_job(ctx: Context, proxy: TcpProxy, down_s: float) -> None:
    wait_for(lambda: running_attempt(ctx), 60, "the remote model process to start")
    time.sleep(1.0)
    assert proxy.cut() > 0, "the worker held no SSH connection through the proxy"
    time.sleep(down_s)
    proxy.restore()


def test_a_short_drop_is_ridden_out_by_reconnecting(
    ssh_ctx: Context, proxy: TcpProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSMOS_SIM_TIME_SCALE", "0.01")  # the job runs about 6 s
    job_id = _job(ssh_ctx)
    worker = WorkerThread(ssh_ctx)
    worker.start()
    _cut_mid_job(ssh_ctx, proxy, down_s=3.0)
    worker.finish()
    assert queue.get_job(ssh_ctx, job_id).status == "succeeded"
    assert_exactly_once(ssh_ctx, fault_free=True)


def test_a_drop_past_the_reconnect_window_is_a_crash_retried(
    ssh_ctx: Context, proxy: TcpProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    class ShortWindow(ssh.SSHHost):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **{**kwargs, "reconnect_within_s": 3.0})

    monkeypatch.setattr(ssh, "SSHHost", ShortWindow)
    monkeypatch.setenv("COSMOS_SIM_TIME_SCALE", "0.018")  # the job runs about 10 s
    job_id = _job(ssh_ctx)
    lifetimes = ProcessWatch(ssh_ctx.db, Path(ssh_ctx.settings.home), interval_s=0.1)
    lifetimes.start()
    worker = WorkerThread(ssh_ctx)
    worker.start()
    try:
        _cut_mid_job(ssh_ctx, proxy, down_s=5.0)
        worker.finish()
    finally:
        lifetimes.stop()
    assert queue.get_job(ssh_ctx, job_id).status == "succeeded"
    ledger = assert_exactly_once(ssh_ctx)
    first, *retries = _attempts(ssh_ctx)
    assert retries, f"the dropped attempt was not retried: {ledger.summary()}"
    assert first.ended_at is not None, "the dropped attempt was never closed"
    last = retries[-1]
    assert first.marker and last.marker
    dropped, whole = lifetimes.lifetime(first.marker), lifetimes.lifetime(last.marker)
    assert dropped < 0.8 * whole, (
        f"the dropped attempt's remote process was not killed: it lived {dropped:.1f}s, "
        f"a whole run {whole:.1f}s"
    )
