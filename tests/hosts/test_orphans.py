"""Model processes whose worker died: found later by their attempt marker and ended, never
anything else. Real processes only; the "worker" is a separate process the test SIGKILLs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cosmos_workflow.domain.errors import ExecutionError
from cosmos_workflow.hosts.base import ContainerRef, Host, ProcessRef
from cosmos_workflow.hosts.local import LocalHost
from tests.hosts.helpers import PYTHON, Lines, group_gone, marked_pids, process_gone
from tests.hosts.sshd import SSHServer
from tests.hosts.test_ssh import make_host

WORKER = Path(__file__).with_name("orphan_worker.py")
# Ignores SIGTERM, so ending it needs the SIGKILL after the grace; writes nothing to its output,
# which nobody reads once the worker is dead. child.pid is written last: when it is there, both
# processes run.
STUBBORN_SILENT = "trap '' TERM; sleep 60 & echo $! > grandchild.pid; echo $$ > child.pid; wait"
WAIT_S = 20.0


@pytest.fixture
def marker() -> Iterator[str]:
    """A fresh attempt marker; whatever still carries it after the test is killed."""
    value = f"attempt_{os.urandom(6).hex()}"
    yield value
    for pid in marked_pids(value):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def local(tmp_path: Path) -> LocalHost:
    return LocalHost("local", tmp_path / "root", kill_grace_s=0.3)


def wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def read_int(path: Path) -> int:
    wait_for(lambda: path.is_file() and path.read_text().endswith("\n"), str(path))
    return int(path.read_text())


def orphan(spec: dict[str, Any], tmp_path: Path) -> int:
    """Starts a worker that runs STUBBORN_SILENT with the marker, SIGKILLs it once the command
    runs, and returns the group id its on_start reported."""
    pgid_file = tmp_path / "reported.pgid"
    spec = {**spec, "argv": ["sh", "-c", STUBBORN_SILENT], "pgid_file": str(pgid_file)}
    worker = subprocess.Popen([PYTHON, str(WORKER), json.dumps(spec)])
    try:
        read_int(Path(spec["workdir"], "child.pid"))
        wait_for(pgid_file.exists, "on_start")
    finally:
        worker.kill()
        worker.wait()
    return int(pgid_file.read_text())


def ref_for(host: Host, workdir: str, marker: str, **fields: Any) -> ProcessRef:
    return ProcessRef(
        host_name=host.name, machine=socket.gethostname(), workdir=workdir, marker=marker, **fields
    )


def assert_orphan_survived(workdir: str, marker: str) -> tuple[int, int]:
    child = int(Path(workdir, "child.pid").read_text())
    grandchild = int(Path(workdir, "grandchild.pid").read_text())
    assert not process_gone(child) and not process_gone(grandchild)
    assert {child, grandchild} <= marked_pids(marker)
    return child, grandchild


def fake_runtime(tmp_path: Path) -> tuple[ContainerRef, Path]:
    """A stand-in container runtime that records its arguments (no docker daemon here)."""
    record = tmp_path / "runtime-calls"
    runtime = tmp_path / "fake-runtime"
    runtime.write_text(f'#!/bin/sh\necho "$@" >> {record}\n')
    runtime.chmod(0o755)
    return ContainerRef(runtime=str(runtime), name="cosmos-job_a"), record


def unrelated_sleep(marker: str) -> subprocess.Popen[bytes]:
    """A process in its own group that looks close to the attempt but is not of it: another
    marker that starts with this one, and the exact entry only inside another variable."""
    env = {**os.environ, "COSMOS_ATTEMPT": f"{marker}_2", "NOTE": f"COSMOS_ATTEMPT={marker}"}
    return subprocess.Popen(["sleep", "30"], env=env, start_new_session=True)


# -- local ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("known_group", [True, False], ids=["group_recorded", "group_unknown"])
def test_a_killed_workers_process_is_found_and_ended(
    local: LocalHost, tmp_path: Path, marker: str, known_group: bool
) -> None:
    workdir = local.job_dir("job_a")
    local.stage(workdir, {}, {})
    spec = {"host": "local", "root": local.root, "workdir": workdir, "marker": marker}
    pgid = orphan(spec, tmp_path)
    child, grandchild = assert_orphan_survived(workdir, marker)
    assert pgid == child  # the local child leads its own group

    fresh = LocalHost("local", tmp_path / "root", kill_grace_s=0.3)
    ref = ref_for(fresh, workdir, marker, process_group=pgid if known_group else None)
    assert fresh.end_process(ref) is True
    assert process_gone(child) and process_gone(grandchild) and group_gone(pgid)
    assert marked_pids(marker) == set()
    assert fresh.end_process(ref) is True  # nothing left: still "ended"


def test_a_process_without_the_marker_is_never_signalled(local: LocalHost, marker: str) -> None:
    other = unrelated_sleep(marker)
    try:
        ref = ref_for(local, local.job_dir("job_a"), marker, process_group=other.pid)
        assert local.end_process(ref, grace_s=0.1) is True  # nothing of the attempt ran
        time.sleep(0.1)
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_another_machines_attempt_is_refused(local: LocalHost, tmp_path: Path, marker: str) -> None:
    marked = subprocess.Popen(
        ["sleep", "30"], env={**os.environ, "COSMOS_ATTEMPT": marker}, start_new_session=True
    )
    container, record = fake_runtime(tmp_path)
    ref = ProcessRef(
        host_name="local",
        machine=f"not-{socket.gethostname()}",
        workdir=local.job_dir("job_a"),
        marker=marker,
        process_group=marked.pid,
        container=container,
    )
    try:
        with pytest.raises(ExecutionError, match="not-"):
            local.end_process(ref)
        assert marked.poll() is None and not record.exists()
    finally:
        marked.kill()
        marked.wait()


def test_end_process_kills_the_named_container(local: LocalHost, tmp_path: Path) -> None:
    container, record = fake_runtime(tmp_path)
    ref = ref_for(local, local.job_dir("job_a"), "attempt_gone", container=container)
    assert local.end_process(ref) is True
    assert record.read_text() == "kill cosmos-job_a\n"


def test_a_failing_on_start_kills_the_local_process(
    local: LocalHost, tmp_path: Path, marker: str
) -> None:
    workdir = local.job_dir("job_a")
    local.stage(workdir, {}, {})
    container, record = fake_runtime(tmp_path)
    reported: list[int] = []

    def on_start(pgid: int) -> None:
        reported.append(pgid)
        raise RuntimeError("cannot record the group")

    with pytest.raises(RuntimeError, match="cannot record"):
        local.run(
            ["sleep", "30"],
            workdir=workdir,
            cwd=None,
            env={},
            on_line=Lines(),
            cancel=threading.Event(),
            timeout_s=None,
            log_path=None,
            container=container,
            marker=marker,
            on_start=on_start,
        )
    assert len(reported) == 1 and group_gone(reported[0])
    assert marked_pids(marker) == set()
    assert record.read_text() == "kill cosmos-job_a\n"


# -- ssh -----------------------------------------------------------------------------------------


@pytest.mark.ssh
def test_a_killed_workers_remote_process_is_found_and_ended(
    sshd: SSHServer, tmp_path: Path, marker: str
) -> None:
    root = tmp_path / "remote"
    host = make_host(sshd, root)
    workdir = host.job_dir("job_a")
    host.stage(workdir, {}, {})
    host.close()
    spec = {
        "host": "ssh",
        "root": str(root),
        "workdir": workdir,
        "marker": marker,
        "target": sshd.target,
        "port": sshd.port,
        "key_path": str(sshd.client_key),
        "known_hosts": str(sshd.known_hosts),
    }
    pgid = orphan(spec, tmp_path)
    assert pgid == int(Path(workdir, ".cosmos/pid").read_text())  # on_start got the remote group
    child, grandchild = assert_orphan_survived(workdir, marker)
    assert pgid in marked_pids(marker)  # the detached group leader carries the marker too

    fresh = make_host(sshd, root, kill_grace_s=0.3)
    try:
        ref = ref_for(fresh, workdir, marker, process_group=pgid)
        assert fresh.end_process(ref) is True
        assert process_gone(child) and process_gone(grandchild)
        assert not fresh._group_alive(pgid) and marked_pids(marker) == set()
        assert fresh.end_process(ref) is True
    finally:
        fresh.close()


@pytest.mark.ssh
def test_a_remote_process_without_the_marker_is_never_signalled(
    sshd: SSHServer, tmp_path: Path, marker: str
) -> None:
    host = make_host(sshd, tmp_path / "remote")
    other = unrelated_sleep(marker)
    try:
        ref = ref_for(host, host.job_dir("job_a"), marker, process_group=other.pid)
        assert host.end_process(ref, grace_s=0.1) is True
        time.sleep(0.1)
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()
        host.close()


@pytest.mark.ssh
def test_remote_end_process_kills_the_named_container(sshd: SSHServer, tmp_path: Path) -> None:
    host = make_host(sshd, tmp_path / "remote")
    container, record = fake_runtime(tmp_path)
    try:
        ref = ref_for(host, host.job_dir("job_a"), "attempt_gone", container=container)
        assert host.end_process(ref) is True
        assert record.read_text() == "kill cosmos-job_a\n"
    finally:
        host.close()


@pytest.mark.ssh
def test_remote_end_process_on_an_unreachable_host_fails(sshd: SSHServer, tmp_path: Path) -> None:
    host = make_host(sshd, tmp_path / "remote", reconnect_within_s=0.5, connect_timeout_s=0.5)
    sshd.stop()
    with pytest.raises(ExecutionError, match="gpu-box"):
        host.end_process(ref_for(host, host.job_dir("job_a"), "attempt_x"))


@pytest.mark.ssh
def test_a_failing_on_start_kills_the_remote_process(
    sshd: SSHServer, tmp_path: Path, marker: str
) -> None:
    host = make_host(sshd, tmp_path / "remote")
    workdir = host.job_dir("job_a")
    host.stage(workdir, {}, {})
    container, record = fake_runtime(tmp_path)
    reported: list[int] = []

    def on_start(pgid: int) -> None:
        reported.append(pgid)
        raise RuntimeError("cannot record the group")

    try:
        with pytest.raises(RuntimeError, match="cannot record"):
            host.run(
                ["sleep", "30"],
                workdir=workdir,
                cwd=None,
                env={},
                on_line=Lines(),
                cancel=threading.Event(),
                timeout_s=None,
                log_path=None,
                container=container,
                marker=marker,
                on_start=on_start,
            )
    finally:
        host.close()
    assert reported == [int(Path(workdir, ".cosmos/pid").read_text())]
    assert group_gone(reported[0]) and marked_pids(marker) == set()
    assert record.read_text() == "kill cosmos-job_a\n"
