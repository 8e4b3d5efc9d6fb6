"""The SSH host against a real OpenSSH server on 127.0.0.1 (the remote root is a local folder)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from cosmos_workflow.domain.errors import ExecutionError, InvalidInput
from cosmos_workflow.hosts.base import ProcessResult
from cosmos_workflow.hosts.ssh import SSHHost
from tests.hosts.helpers import PYTHON, STUBBORN, WAIT_FOR_GO, Lines, group_gone, process_gone
from tests.hosts.sshd import SSHServer

pytestmark = pytest.mark.ssh


def make_host(server: SSHServer, root: Path, **options: object) -> SSHHost:
    settings: dict = {
        "root": str(root),
        "port": server.port,
        "key_path": server.client_key,
        "known_hosts": server.known_hosts,
        "kill_grace_s": 0.5,
        "poll_interval_s": 0.05,
        **options,
    }
    return SSHHost("gpu-box", server.target, **settings)


@pytest.fixture
def host(sshd: SSHServer, tmp_path: Path) -> SSHHost:
    remote = make_host(sshd, tmp_path / "remote")
    yield remote
    remote.close()


def run(host: SSHHost, argv: list[str], workdir: str, lines: Lines, **options: object):
    settings: dict = {"cwd": None, "env": {}, "cancel": threading.Event(), "timeout_s": None}
    settings |= {"log_path": None, **options}
    return host.run(argv, workdir=workdir, on_line=lines, **settings)


def test_stage_run_stream_and_fetch(host: SSHHost, tmp_path: Path) -> None:
    source = tmp_path / "input.bin"
    source.write_bytes(b"\x00video\xff")
    workdir = host.job_dir("job_a")
    host.stage(workdir, {"spec/prompt.txt": "a cat"}, {"inputs/input.bin": source})
    assert host.list_files(workdir) == {"spec/prompt.txt", "inputs/input.bin"}

    go = tmp_path / "go"
    lines = Lines()
    lines.on("first", go.touch)  # only possible if "first" arrives while the command runs
    log = tmp_path / "job.log"
    script = "open('out/video.mp4', 'w').write(open('spec/prompt.txt').read())\n" + WAIT_FOR_GO
    Path(workdir, "out").mkdir()
    result = run(host, [PYTHON, "-c", script, str(go), "2", "3"], workdir, lines, log_path=log)

    assert lines.lines == ["first", "second", "line 0", "line 1"]
    assert log.read_text() == "first\nsecond\nline 0\nline 1\n"
    assert result.exit_code == 3 and result.signal is None and not result.succeeded
    assert "out/video.mp4" in host.list_files(workdir)
    assert not any(name.startswith(".cosmos") for name in host.list_files(workdir))
    dest = tmp_path / "fetched"
    fetched = host.fetch(workdir, ["out", "inputs/input.bin", "out/missing.mp4"], dest)
    assert fetched == {"out": dest / "out", "inputs/input.bin": dest / "inputs/input.bin"}
    assert (dest / "out/video.mp4").read_text() == "a cat"
    assert (dest / "inputs/input.bin").read_bytes() == b"\x00video\xff"


def test_arguments_env_and_cwd_are_never_shell_syntax(host: SSHHost, tmp_path: Path) -> None:
    workdir = host.job_dir("job_a")
    host.stage(workdir, {"my dir/keep": ""}, {})
    lines = Lines()
    hostile = "$(touch pwned); `touch pwned2` 'quote\" ; exit 9"
    result = run(
        host,
        ["sh", "-c", 'pwd; printf "%s\\n" "$1" "$NOTE"', "sh", hostile],
        workdir,
        lines,
        cwd=f"{workdir}/my dir",
        env={"NOTE": hostile},
    )
    assert lines.lines == [f"{workdir}/my dir", hostile, hostile]
    assert result.exit_code == 0
    assert host.list_files(workdir) == {"my dir/keep"}


def test_stdout_and_stderr_interleave(host: SSHHost) -> None:
    workdir = host.job_dir("job_a")
    host.stage(workdir, {}, {})
    lines = Lines()
    run(host, ["sh", "-c", "echo out; echo err >&2; echo out2"], workdir, lines)
    assert lines.lines == ["out", "err", "out2"]


def test_cancel_kills_the_remote_group(host: SSHHost) -> None:
    workdir = host.job_dir("job_a")
    host.stage(workdir, {}, {})
    cancel = threading.Event()
    lines = Lines()
    lines.on("ready", cancel.set)
    result = run(host, ["sh", "-c", STUBBORN], workdir, lines, cancel=cancel)
    assert result.cancelled and result.exit_code is None
    pgid = int(Path(workdir, ".cosmos/pid").read_text())
    for name in ("child.pid", "grandchild.pid"):
        assert process_gone(int(Path(workdir, name).read_text()))
    assert group_gone(pgid)


def test_timeout_kills_the_remote_process(host: SSHHost) -> None:
    workdir = host.job_dir("job_a")
    host.stage(workdir, {}, {})
    result = run(host, ["sleep", "30"], workdir, Lines(), timeout_s=0.5)
    assert result.timed_out and not result.cancelled
    assert group_gone(int(Path(workdir, ".cosmos/pid").read_text()))


def test_two_jobs_never_touch_each_others_dirs(sshd: SSHServer, tmp_path: Path) -> None:
    root = tmp_path / "remote"
    hosts = [make_host(sshd, root), make_host(sshd, root)]
    workdirs = [hosts[0].job_dir("job_a"), hosts[1].job_dir("job_b")]
    results: list[ProcessResult] = []

    def job(index: int) -> None:
        host, workdir = hosts[index], workdirs[index]
        host.stage(workdir, {"in.txt": f"job {index}"}, {})
        command = ["sh", "-c", "mkdir -p out && cp in.txt out/result.txt && sleep 0.3"]
        results.append(run(host, command, workdir, Lines()))

    threads = [threading.Thread(target=job, args=(index,)) for index in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [result.exit_code for result in results] == [0, 0]
    for index, workdir in enumerate(workdirs):
        assert Path(workdir, "out/result.txt").read_text() == f"job {index}"
    hosts[0].remove(workdirs[0])
    assert not Path(workdirs[0]).exists()
    assert hosts[1].list_files(workdirs[1]) == {"in.txt", "out/result.txt"}
    with pytest.raises(InvalidInput):
        hosts[0].remove(str(root))
    for host in hosts:
        host.close()


def test_a_dropped_connection_is_resumed(
    host: SSHHost, sshd: SSHServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    workdir = host.job_dir("job_a")
    host.stage(workdir, {}, {})
    go = tmp_path / "go"
    lines = Lines()
    lines.on("first", sshd.drop_connections)
    lines.on("first", go.touch)
    with caplog.at_level(logging.WARNING, logger="cosmos_workflow.hosts.ssh"):
        result = run(host, [PYTHON, "-c", WAIT_FOR_GO, str(go), "50", "4"], workdir, lines)
    assert lines.lines == ["first", "second", *(f"line {index}" for index in range(50))]
    assert result.exit_code == 4
    assert any("reconnecting" in record.message for record in caplog.records)  # it did reconnect


def test_a_restarted_sshd_is_reconnected(host: SSHHost, sshd: SSHServer, tmp_path: Path) -> None:
    workdir = host.job_dir("job_a")
    host.stage(workdir, {}, {})
    go = tmp_path / "go"

    def restart_later() -> None:
        sshd.start()
        go.touch()

    lines = Lines()
    lines.on("first", sshd.stop)
    lines.on("first", lambda: threading.Timer(0.5, restart_later).start())
    result = run(host, [PYTHON, "-c", WAIT_FOR_GO, str(go), "3"], workdir, lines)
    assert lines.lines == ["first", "second", "line 0", "line 1", "line 2"]
    assert result.exit_code == 0


def test_an_unreachable_host_fails_cleanly(sshd: SSHServer, tmp_path: Path) -> None:
    host = make_host(sshd, tmp_path / "remote", reconnect_within_s=1.0, connect_timeout_s=1.0)
    workdir = host.job_dir("job_a")
    host.stage(workdir, {}, {})
    lines = Lines()
    lines.on("started", sshd.stop)
    with pytest.raises(ExecutionError, match="gpu-box"):
        run(host, ["sh", "-c", "echo started; exec sleep 30"], workdir, lines)
    # Reconnection failed, so the remote command could not be killed: it is still running.
    pgid = int(Path(workdir, ".cosmos/pid").read_text())
    assert not group_gone(pgid)
    os.killpg(pgid, signal.SIGKILL)
    host.close()


def test_unknown_host_keys_are_refused_unless_accepted(sshd: SSHServer, tmp_path: Path) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    refusing = make_host(sshd, tmp_path / "remote", known_hosts=empty)
    with pytest.raises(ExecutionError, match="not trusted"):
        refusing.list_files(refusing.job_dir("job_a"))
    fresh = tmp_path / "new" / "known_hosts"
    accepting = make_host(sshd, tmp_path / "remote", known_hosts=fresh, accept_new_host_keys=True)
    assert accepting.list_files(accepting.job_dir("job_a")) == set()
    assert f"[127.0.0.1]:{sshd.port}" in fresh.read_text()
    accepting.close()


def test_a_wrong_client_key_is_refused(sshd: SSHServer, tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)]
    subprocess.run(keygen, check=True, capture_output=True)
    host = make_host(sshd, tmp_path / "remote", key_path=other)
    with pytest.raises(ExecutionError, match="gpu-box"):
        host.stage(host.job_dir("job_a"), {}, {})


def test_a_command_killed_from_outside_is_an_error(sshd: SSHServer, tmp_path: Path) -> None:
    """Killed with its wrapper, it never writes an exit code: the liveness check notices."""
    host = make_host(sshd, tmp_path / "remote", liveness_interval_s=0.2)
    workdir = host.job_dir("job_a")
    host.stage(workdir, {}, {})

    def kill_everything() -> None:
        os.killpg(int(Path(workdir, ".cosmos/pid").read_text()), signal.SIGKILL)

    lines = Lines()
    lines.on("started", kill_everything)
    with pytest.raises(ExecutionError, match="without an exit code"):
        run(host, ["sh", "-c", "echo started; exec sleep 30"], workdir, lines)
    host.close()
