"""A real OpenSSH server on 127.0.0.1 for tests, with its own host key and one client key.

Use the `sshd` fixture (register it with `pytest_plugins = ["tests.hosts.sshd"]` or import it into
a conftest). It skips when `sshd` is not installed, unless COSMOS_TEST_STRICT=1, where a missing
server is a failure: CI must not pass by skipping."""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SSHD = Path("/usr/sbin/sshd")
# sshd refuses to start as root without its privilege-separation directory.
PRIVSEP_DIR = Path("/run/sshd")
# How long a fresh sshd gets to accept connections; it listens within milliseconds normally.
START_TIMEOUT_S = 10.0


@dataclass
class SSHServer:
    """A running sshd that can be stopped, restarted and have its connections cut."""

    home: Path
    port: int
    user: str
    client_key: Path
    known_hosts: Path
    config: Path
    process: subprocess.Popen[bytes] | None = field(default=None)

    @property
    def target(self) -> str:
        return f"{self.user}@127.0.0.1"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(SSHD), "-D", "-e", "-f", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=(self.home / "sshd.log").open("ab"),
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.home / "sshd.log").read_text(errors="replace")
                raise RuntimeError(f"sshd exited with {self.process.returncode}: {log}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd did not listen on port {self.port}")

    def drop_connections(self) -> None:
        """Kills the per-connection sshd processes: every client sees its connection die, while
        the server keeps listening and the commands it started (detached) keep running."""
        assert self.process is not None
        for pid in _descendants(self.process.pid):
            if _comm(pid).startswith("sshd"):
                _kill(pid)

    def stop(self) -> None:
        """Stops the server and cuts every connection it holds."""
        if self.process is None:
            return
        self.drop_connections()
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def sshd_unavailable(reason: str) -> None:
    if os.environ.get("COSMOS_TEST_STRICT") == "1":
        pytest.fail(f"{reason} (COSMOS_TEST_STRICT=1 forbids skipping)")
    pytest.skip(reason)


@pytest.fixture
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    """A fresh sshd per test, so a test that stops or restarts it affects no other."""
    if not SSHD.exists() or shutil.which("ssh-keygen") is None:
        sshd_unavailable(f"OpenSSH server not installed ({SSHD}); apt-get install openssh-server")
    if os.geteuid() == 0:
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    home = tmp_path_factory.mktemp("sshd")
    server = _configure(home)
    try:
        server.start()
    except RuntimeError as exc:
        sshd_unavailable(f"sshd could not start: {exc}")
    try:
        yield server
    finally:
        server.stop()


def _configure(home: Path) -> SSHServer:
    host_key, client_key = home / "host_key", home / "client_key"
    for key in (host_key, client_key):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
            check=True,
            capture_output=True,
        )
    port = _free_port()
    known_hosts = home / "known_hosts"
    host_public = host_key.with_suffix(".pub").read_text().split()
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_public[0]} {host_public[1]}\n")
    lines = [
        f"Port {port}",
        "ListenAddress 127.0.0.1",
        f"HostKey {host_key}",
        f"AuthorizedKeysFile {client_key.with_suffix('.pub')}",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        f"PidFile {home / 'sshd.pid'}",
        "Subsystem sftp internal-sftp",
        "LogLevel ERROR",
    ]
    if os.geteuid() == 0:
        lines.append("PermitRootLogin prohibit-password")
    config = home / "sshd_config"
    config.write_text("\n".join(lines) + "\n")
    return SSHServer(
        home=home,
        port=port,
        user=getpass.getuser(),
        client_key=client_key,
        known_hosts=known_hosts,
        config=config,
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
