"""A remote machine over SSH (paramiko): SFTP staging, a detached command, a followed log.

The command is started detached on the remote side (`nohup setsid`), writing its combined output
to `<workdir>/.cosmos/output.log`, its process group id to `.cosmos/pid` and its exit code to
`.cosmos/exit_code`. The host then follows the log from an offset. A dropped connection therefore
loses nothing: the host reconnects with backoff and resumes from the last offset. If the machine
stays unreachable past `reconnect_within_s`, `run` fails with ExecutionError naming the host, and
the remote process, which could not be reached to kill, is left running (logged).

Host keys: with `known_hosts`, only that file is trusted; without it, the user's system
known_hosts is. An unknown key is refused unless `accept_new_host_keys=True`, which trusts a key
on first use and saves it to `known_hosts` when given (OpenSSH's `StrictHostKeyChecking
accept-new`); a changed key is always refused. Refusing by default is the safe choice: a worker
ships prompts, inputs and commands to that machine.

Every remote shell command is built from fixed text plus `shlex.quote`d tokens and run as
`sh -c <script>`, so the remote login shell's syntax does not matter and user text never becomes
shell syntax. The remote side needs a POSIX `sh`, `setsid`, `nohup` and `kill` (Linux hosts);
`ps` is used to tell a live process from a zombie when present. Ending an attempt's processes
found by their marker (`end_process`) also needs /proc and GNU grep (`-z`)."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import posixpath
import shlex
import stat
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import paramiko

from cosmos_workflow import defaults
from cosmos_workflow.domain.errors import ExecutionError, InvalidInput
from cosmos_workflow.hosts.base import (
    ATTEMPT_ENV,
    HOST_STATE_DIR,
    LOG_SUFFIX,
    ContainerRef,
    Host,
    LineCallback,
    LineSink,
    LineSplitter,
    ProcessRef,
    ProcessResult,
    check_marker,
    check_relpath,
    process_env,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

_READ_CHUNK = 1 << 20
# How many steps a SIGKILLed group gets to disappear before it counts as surviving.
_KILLED_STEPS = 10
# Exit status of the end script when something of the attempt survived (others mean it failed).
_SURVIVED = 1

_LOG = "output.log"
_PID = "pid"
_EXIT = "exit_code"
_TOKEN = "launch_token"
_COMMAND = "command.sh"


class UnknownHostKey(paramiko.SSHException):
    """The server's key is in no trusted known_hosts file and new keys are not accepted."""


class _RejectUnknown(paramiko.MissingHostKeyPolicy):
    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        raise UnknownHostKey(f"host key of {hostname} ({key.get_name()}) is not trusted")


# Errors that reconnecting cannot fix: wrong key, changed or unknown host key.
_PERMANENT = (paramiko.AuthenticationException, paramiko.BadHostKeyException, UnknownHostKey)


@dataclass(frozen=True, slots=True)
class _Output:
    code: int
    stdout: str
    stderr: str


class SSHHost(Host):
    """Runs commands on a remote machine under `root/<job id>`."""

    def __init__(
        self,
        name: str,
        target: str,
        *,
        root: str,
        port: int = 22,
        key_path: Path | None = None,
        known_hosts: Path | None = None,
        accept_new_host_keys: bool = False,
        connect_timeout_s: float = defaults.SSH_CONNECT_TIMEOUT_SECONDS,
        reconnect_within_s: float = defaults.SSH_RECONNECT_WITHIN_SECONDS,
        kill_grace_s: float = defaults.KILL_GRACE_SECONDS,
        poll_interval_s: float = defaults.SSH_POLL_SECONDS,
        liveness_interval_s: float = defaults.SSH_LIVENESS_SECONDS,
    ) -> None:
        super().__init__(name, root)
        user, _, hostname = target.rpartition("@")
        if not hostname:
            raise InvalidInput(f"invalid ssh target {target!r}", field="target")
        self.hostname = hostname
        self.username = user or None
        self.port = port
        self.key_path = key_path
        self.known_hosts = known_hosts
        self.accept_new_host_keys = accept_new_host_keys
        self.connect_timeout_s = connect_timeout_s
        self.reconnect_within_s = reconnect_within_s
        self.kill_grace_s = kill_grace_s
        self.poll_interval_s = poll_interval_s
        self.liveness_interval_s = liveness_interval_s
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._lock = threading.RLock()

    # -- connection ----------------------------------------------------------------------------

    def _connection(self) -> tuple[paramiko.SSHClient, paramiko.SFTPClient]:
        if self._client is None or self._sftp is None:
            self._client, self._sftp = self._connect()
        return self._client, self._sftp

    def _connect(self) -> tuple[paramiko.SSHClient, paramiko.SFTPClient]:
        client = paramiko.SSHClient()
        self._load_host_keys(client)
        try:
            client.connect(
                self.hostname,
                port=self.port,
                username=self.username,
                key_filename=None if self.key_path is None else str(self.key_path),
                look_for_keys=self.key_path is None,
                allow_agent=self.key_path is None,
                timeout=self.connect_timeout_s,
                banner_timeout=self.connect_timeout_s,
                auth_timeout=self.connect_timeout_s,
            )
            transport = client.get_transport()
            assert transport is not None
            transport.set_keepalive(defaults.SSH_KEEPALIVE_SECONDS)
            sftp = client.open_sftp()
            channel = sftp.get_channel()
            assert channel is not None  # an SFTP client is always opened on a channel
            # A read on a connection that died silently must fail rather than wait forever.
            channel.settimeout(max(self.connect_timeout_s, 3 * defaults.SSH_KEEPALIVE_SECONDS))
        except BaseException:
            client.close()
            raise
        logger.info("host %s: connected to %s:%d", self.name, self.hostname, self.port)
        return client, sftp

    def _load_host_keys(self, client: paramiko.SSHClient) -> None:
        if self.known_hosts is None:
            client.load_system_host_keys()
        else:
            if self.accept_new_host_keys and not self.known_hosts.exists():
                self.known_hosts.parent.mkdir(parents=True, exist_ok=True)
                self.known_hosts.touch(mode=0o600)
            client.load_host_keys(str(self.known_hosts))
        policy = paramiko.AutoAddPolicy() if self.accept_new_host_keys else _RejectUnknown()
        client.set_missing_host_key_policy(policy)

    def _disconnect(self) -> None:
        with self._lock:
            client, self._client, self._sftp = self._client, None, None
        if client is not None:
            client.close()

    def close(self) -> None:
        self._disconnect()

    def _alive(self) -> bool:
        transport = None if self._client is None else self._client.get_transport()
        return transport is not None and transport.is_active()

    def _retry(self, operation: Callable[[paramiko.SFTPClient], T], doing: str) -> T:
        """Runs `operation`, reconnecting with backoff while the host is unreachable. An error on
        a live connection (a missing remote file, a refused key) is not retried."""
        deadline: float | None = None
        delay = defaults.SSH_BACKOFF_FIRST_SECONDS
        while True:
            try:
                with self._lock:
                    return operation(self._connection()[1])
            except _PERMANENT as exc:
                self._disconnect()
                raise ExecutionError(f"host {self.name}: {doing}: {exc}") from exc
            except (OSError, EOFError, paramiko.SSHException) as exc:
                if self._alive() and not isinstance(exc, TimeoutError):
                    raise ExecutionError(f"host {self.name}: {doing} failed: {exc}") from exc
                self._disconnect()
                now = time.monotonic()
                deadline = now + self.reconnect_within_s if deadline is None else deadline
                if now >= deadline:
                    raise ExecutionError(
                        f"host {self.name} unreachable for {self.reconnect_within_s:g}s "
                        f"while {doing}: {exc}"
                    ) from exc
                logger.warning(
                    "host %s: %s: %s; reconnecting in %.1fs", self.name, doing, exc, delay
                )
                time.sleep(min(delay, max(0.0, deadline - now)))
                delay = min(delay * 2, defaults.SSH_BACKOFF_MAX_SECONDS)

    def _exec(self, script: str, doing: str, timeout_s: float | None = None) -> _Output:
        """Runs a short shell script on the host and returns its exit code and output."""

        def attempt(_sftp: paramiko.SFTPClient) -> _Output:
            client, _ = self._connection()
            transport = client.get_transport()
            assert transport is not None
            channel = transport.open_session(timeout=self.connect_timeout_s)
            try:
                channel.settimeout(timeout_s or self.connect_timeout_s)
                channel.exec_command(shlex.join(["sh", "-c", script]))
                stdout = channel.makefile("rb").read().decode("utf-8", "replace")
                stderr = channel.makefile_stderr("rb").read().decode("utf-8", "replace")
                return _Output(channel.recv_exit_status(), stdout, stderr)
            finally:
                channel.close()

        return self._retry(attempt, doing)

    # -- files ---------------------------------------------------------------------------------

    def stage(self, workdir: str, files: Mapping[str, str], copies: Mapping[str, Path]) -> None:
        workdir = self.check_workdir(workdir)
        texts = {check_relpath(rel): text for rel, text in files.items()}
        sources = {check_relpath(rel): source for rel, source in copies.items()}
        for source in sources.values():
            if not source.is_file():
                raise ExecutionError(f"host {self.name}: file to stage not found: {source}")

        def upload(sftp: paramiko.SFTPClient) -> None:
            _makedirs(sftp, workdir)
            for rel, text in texts.items():
                _write(sftp, workdir, rel, text.encode("utf-8"))
            # Runs of one job often share an input video: it crosses the network once, and the
            # other runs' paths link to that copy.
            uploaded: dict[Path, str] = {}
            for rel, source in sources.items():
                remote = posixpath.join(workdir, rel)
                _makedirs(sftp, posixpath.dirname(remote))
                first = uploaded.setdefault(source.resolve(), remote)
                if first == remote:
                    sftp.put(str(source), remote)
                else:
                    _link(sftp, first, remote)

        self._retry(upload, f"staging {workdir}")

    def write_private(self, workdir: str, relpath: str, text: str) -> None:
        workdir = self.check_workdir(workdir)
        rel = check_relpath(relpath)

        def upload(sftp: paramiko.SFTPClient) -> None:
            remote = posixpath.join(workdir, rel)
            _makedirs(sftp, posixpath.dirname(remote))
            with sftp.open(remote, "wb") as handle:
                handle.chmod(0o600)  # before it holds anything
                handle.write(text.encode("utf-8"))

        self._retry(upload, f"writing {rel} in {workdir}")

    def list_files(self, workdir: str) -> set[str]:
        workdir = self.check_workdir(workdir)

        def walk(sftp: paramiko.SFTPClient) -> set[str]:
            if _stat(sftp, workdir) is None:
                return set()
            files = _walk(sftp, workdir, "")
            return {rel for rel in files if rel.split("/")[0] != HOST_STATE_DIR}

        return self._retry(walk, f"listing {workdir}")

    def fetch(self, workdir: str, relpaths: Iterable[str], dest: Path) -> dict[str, Path]:
        workdir = self.check_workdir(workdir)
        wanted = {rel: check_relpath(rel) for rel in relpaths}

        def download(sftp: paramiko.SFTPClient) -> dict[str, Path]:
            fetched: dict[str, Path] = {}
            for rel, normal in wanted.items():
                remote = posixpath.join(workdir, normal)
                attrs = _stat(sftp, remote)
                if attrs is None or attrs.st_mode is None:
                    continue
                names = _walk(sftp, remote, "") if stat.S_ISDIR(attrs.st_mode) else [""]
                for name in names:
                    local = dest / normal / name if name else dest / normal
                    local.parent.mkdir(parents=True, exist_ok=True)
                    sftp.get(posixpath.join(remote, name) if name else remote, str(local))
                fetched[rel] = dest / normal
            return fetched

        return self._retry(download, f"fetching from {workdir}")

    def remove(self, workdir: str, *, keep_logs: bool = False) -> None:
        workdir = self.check_workdir(workdir)
        where = shlex.quote(workdir)
        script = f"rm -rf -- {where}"
        if keep_logs:
            # find never follows links (-P): a link is removed itself, never what it points at.
            # `-delete` goes depth first, so a folder is removed once nothing is left in it.
            keep = shlex.quote(f"*{LOG_SUFFIX}")
            script = (
                f"[ ! -d {where} ] || {{ find {where} ! -type d ! -name {keep} -delete && "
                f"find {where} -type d -empty -delete; }}"
            )
        done = self._exec(script, f"removing {workdir}")
        if done.code != 0:
            raise ExecutionError(
                f"host {self.name}: cannot remove {workdir}: {done.stderr.strip()}"
            )

    # -- processes -----------------------------------------------------------------------------

    def run(
        self,
        argv: Sequence[str],
        *,
        workdir: str,
        cwd: str | None,
        env: Mapping[str, str],
        on_line: LineCallback,
        cancel: threading.Event,
        timeout_s: float | None,
        log_path: Path | None,
        container: ContainerRef | None = None,
        marker: str | None = None,
        on_start: Callable[[int], None] | None = None,
    ) -> ProcessResult:
        workdir = self.check_workdir(workdir)
        if not argv:
            raise InvalidInput("empty command", field="argv")
        cwd = cwd or workdir
        if not posixpath.isabs(cwd):
            raise InvalidInput(f"cwd {cwd!r} must be an absolute path", field="cwd")
        script = _command_script(argv, cwd, process_env(env, marker))
        sink = LineSink(on_line, log_path)
        started_at = datetime.now(UTC)
        try:
            self._launch(workdir, script, marker)
            if on_start is not None:
                self._report_start(workdir, on_start, container)
            return self.follow(
                workdir,
                sink=sink,
                cancel=cancel,
                timeout_s=timeout_s,
                container=container,
                started_at=started_at,
            )
        finally:
            sink.close()

    def _launch(self, workdir: str, script: str, marker: str | None) -> None:
        state = posixpath.join(workdir, HOST_STATE_DIR)
        token = os.urandom(8).hex()

        def write_script(sftp: paramiko.SFTPClient) -> None:
            _makedirs(sftp, state)
            _write(sftp, state, _COMMAND, script.encode("utf-8"))

        self._retry(write_script, "writing the command")
        done = self._exec(_launch_script(state, token, marker), "starting the command")
        if done.code != 0:
            raise ExecutionError(
                f"host {self.name}: cannot start the command: {done.stderr.strip()}"
            )
        logger.info("host %s: started the command in %s", self.name, workdir)

    def _report_start(
        self, workdir: str, on_start: Callable[[int], None], container: ContainerRef | None
    ) -> None:
        """Hands the remote group id to the caller. A caller that could not record it could not
        end the process later, so then it is killed here; a pid that never shows is logged (the
        process can still be found by its marker)."""
        state = posixpath.join(workdir, HOST_STATE_DIR)
        pgid = self._read_pid(state, wait_s=self.connect_timeout_s)
        if pgid is None:
            logger.warning("host %s: no pid in %s to report", self.name, state)
            return
        try:
            on_start(pgid)
        except BaseException:
            logger.warning("host %s: on_start failed; killing group %d", self.name, pgid)
            self._kill(state, container)
            raise

    def follow(
        self,
        workdir: str,
        *,
        sink: LineSink,
        cancel: threading.Event,
        timeout_s: float | None,
        container: ContainerRef | None = None,
        started_at: datetime | None = None,
        offset: int = 0,
    ) -> ProcessResult:
        """Follows a started command's log from `offset` until it ends, is cancelled or times
        out. Also usable to re-attach to a command started earlier in `workdir`."""
        state = posixpath.join(self.check_workdir(workdir), HOST_STATE_DIR)
        follower = _Follower(self, state, sink, offset)
        started_at = started_at or datetime.now(UTC)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        next_liveness = time.monotonic() + self.liveness_interval_s
        while True:
            stopped = _stop_reason(cancel, deadline)
            if stopped is not None:
                self._kill(state, container)
                follower.drain()
                return _result(None, stopped, started_at)
            if follower.read():
                continue
            code = self._read_exit_code(state)
            if code is not None:
                follower.drain()
                return _result(code, None, started_at)
            if time.monotonic() >= next_liveness:
                self._check_still_running(state)
                next_liveness = time.monotonic() + self.liveness_interval_s
            cancel.wait(self.poll_interval_s)

    def _read_exit_code(self, state: str) -> int | None:
        text = self._retry(lambda sftp: _read_text(sftp, posixpath.join(state, _EXIT)), "polling")
        return None if text is None or not text.strip() else int(text.strip())

    def _check_still_running(self, state: str) -> None:
        pgid = self._read_pid(state, wait_s=0.0)
        if pgid is not None and self._group_alive(pgid):
            return
        if self._read_exit_code(state) is not None:
            return  # it ended between the two reads
        raise ExecutionError(f"host {self.name}: the command ended without an exit code")

    def _read_pid(self, state: str, wait_s: float) -> int | None:
        """The remote process group id; the detached shell writes it first thing after start."""
        deadline = time.monotonic() + wait_s
        while True:
            text = self._retry(lambda sftp: _read_text(sftp, posixpath.join(state, _PID)), "pid")
            if text and text.strip():
                return int(text.strip())
            if time.monotonic() >= deadline:
                return None
            time.sleep(defaults.SSH_KILL_STEP_SECONDS)

    def _group_alive(self, pgid: int) -> bool:
        return self._exec(_alive_script(str(pgid)), "checking the command").code == 0

    def _kill(self, state: str, container: ContainerRef | None) -> None:
        """`kill -TERM -PGID` (and the container by name), SIGKILL after the grace period."""
        if container is not None:
            self._kill_container(container)
        pgid = self._read_pid(state, wait_s=self.kill_grace_s)
        if pgid is None:
            logger.warning("host %s: no pid in %s; nothing to kill", self.name, state)
            return
        script = _kill_script(str(pgid), _steps(self.kill_grace_s))
        if self._exec(script, "killing the command", self._kill_wait_s(self.kill_grace_s)).code:
            logger.warning("host %s: process group %d survived SIGKILL", self.name, pgid)
        else:
            logger.info("host %s: killed process group %d", self.name, pgid)

    def _kill_container(self, container: ContainerRef) -> None:
        done = self._exec(shlex.join(container.kill_argv()), "killing the container")
        if done.code != 0:
            # Usually "no such container": it had not started yet or already ended.
            logger.info("host %s: %s: %s", self.name, container.kill_argv(), done.stderr.strip())

    def _kill_wait_s(self, grace_s: float) -> float:
        """A kill script waits up to the grace and the killed wait itself; allow one connect
        timeout on top of that."""
        return grace_s + _KILLED_STEPS * defaults.SSH_KILL_STEP_SECONDS + self.connect_timeout_s

    def end_process(self, ref: ProcessRef, *, grace_s: float | None = None) -> bool:
        """The remote machine is reached over SSH, so ref.machine (the starter's) does not
        matter here."""
        marker = check_marker(ref.marker)
        grace = self.kill_grace_s if grace_s is None else grace_s
        if ref.container is not None:
            self._kill_container(ref.container)
        doing = f"ending attempt {marker}"
        done = self._exec(_end_script(marker, _steps(grace)), doing, self._kill_wait_s(grace))
        if done.code not in (0, _SURVIVED):
            raise ExecutionError(f"host {self.name}: {doing}: {done.stderr.strip()}")
        if done.code == _SURVIVED:
            logger.warning("host %s: attempt %s survived SIGKILL", self.name, marker)
        return done.code == 0


class _Follower:
    """Reads the remote log incrementally; the offset survives reconnections."""

    def __init__(self, host: SSHHost, state: str, sink: LineSink, offset: int) -> None:
        self._host = host
        self._path = posixpath.join(state, _LOG)
        self._sink = sink
        self._splitter = LineSplitter()
        self.offset = offset

    def read(self) -> bool:
        """Reads what was appended since the last read; False when nothing was."""
        chunk = self._host._retry(self._read_chunk, "following the output")
        if not chunk:
            return False
        self.offset += len(chunk)
        self._sink.emit(self._splitter.feed(chunk))
        return True

    def drain(self) -> None:
        while self.read():
            pass
        self._sink.emit(self._splitter.flush())

    def _read_chunk(self, sftp: paramiko.SFTPClient) -> bytes:
        try:
            with sftp.open(self._path, "rb") as log:
                log.seek(self.offset)
                return bytes(log.read(_READ_CHUNK))
        except FileNotFoundError:
            return b""


def _stop_reason(cancel: threading.Event, deadline: float | None) -> str | None:
    if cancel.is_set():
        return "cancelled"
    if deadline is not None and time.monotonic() >= deadline:
        return "timed_out"
    return None


def _result(code: int | None, stopped: str | None, started_at: datetime) -> ProcessResult:
    # The remote shell reports death by signal N as exit status 128 + N.
    signum = code - 128 if code is not None and 128 < code < 128 + 65 else None
    return ProcessResult(
        exit_code=None if signum is not None else code,
        signal=signum,
        cancelled=stopped == "cancelled",
        timed_out=stopped == "timed_out",
        started_at=started_at,
        ended_at=datetime.now(UTC),
    )


def _command_script(argv: Sequence[str], cwd: str, env: Mapping[str, str]) -> str:
    where = shlex.quote(cwd)
    lines = [f"cd {where} || {{ echo cannot enter {where} >&2; exit 1; }}"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in env.items()]
    lines.append("exec " + shlex.join(argv))
    return "\n".join(lines) + "\n"


def _launch_script(state: str, token: str, marker: str | None = None) -> str:
    """Starts command.sh detached, unless this very launch already happened (a retried start
    after a dropped connection must not start the command twice). The group leader carries the
    marker too (command.sh only exports it to what it starts), so it is found by it."""
    marked = "" if marker is None else f"{ATTEMPT_ENV}={shlex.quote(check_marker(marker))} "
    inner = (
        f"echo $$ > {_PID}; sh ./{_COMMAND} > {_LOG} 2>&1; "
        f"echo $? > {_EXIT}.tmp; mv {_EXIT}.tmp {_EXIT}"
    )
    return "\n".join(
        [
            f"cd {shlex.quote(state)} || exit 1",
            f'if [ -f {_TOKEN} ] && [ "$(cat {_TOKEN})" = {token} ]; then exit 0; fi',
            f"rm -f {_LOG} {_PID} {_EXIT} {_EXIT}.tmp",
            f"echo {token} > {_TOKEN}",
            f"{marked}nohup setsid sh -c {shlex.quote(inner)} </dev/null >/dev/null 2>&1 &",
        ]
    )


def _alive_script(pgids: str) -> str:
    """Exit 0 while one of the groups has a live (non-zombie) member. `pgids` is shell text that
    expands, unquoted, to group ids separated by spaces: a number, or `$groups`."""
    return (
        "if command -v ps >/dev/null 2>&1; then "
        f'ps -e -o pgid= -o stat= | awk -v g="{pgids}" '
        '\'BEGIN { split(g, ids, " "); for (i in ids) want[ids[i]] = 1 } '
        "($1 in want) && $2 !~ /^Z/ { found = 1 } END { exit !found }'; "
        f"else ( for g in {pgids}; do kill -0 -$g 2>/dev/null && exit 0; done; exit 1 ); fi"
    )


def _kill_script(pgids: str, steps: int) -> str:
    """SIGTERM to the groups, SIGKILL to them after `steps` waits while one lives; exit 0 when
    none has a live member at the end. `pgids` as for `_alive_script`."""
    alive = _alive_script(pgids)
    return "\n".join(
        [
            f"for g in {pgids}; do kill -TERM -$g 2>/dev/null; done",
            _wait_script(alive, steps),
            f"if {{ {alive}; }}; then for g in {pgids}; do kill -KILL -$g 2>/dev/null; done; fi",
            _wait_script(alive, _KILLED_STEPS),
            f"! {{ {alive}; }}",
        ]
    )


def _wait_script(alive: str, steps: int) -> str:
    """Sleeps while `alive` succeeds, at most `steps` times."""
    return (
        f"i=0; while [ $i -lt {steps} ] && {{ {alive}; }}; do "
        f"sleep {defaults.SSH_KILL_STEP_SECONDS}; i=$((i+1)); done"
    )


def _end_script(marker: str, steps: int) -> str:
    """Ends the groups of every process whose environment holds COSMOS_ATTEMPT=<marker> (grep
    `-z -x -F`: one exact NUL-separated entry; a zombie's environment reads empty). Groups 0 and
    1 are never taken: `kill -TERM -1` would signal every process of the user. Exit 0 when
    nothing of the attempt is left, 1 when something survived, 3 without /proc."""
    entry = shlex.quote(f"{ATTEMPT_ENV}={check_marker(marker)}")
    find = (
        f"cd /proc && for f in $(grep -l -z -x -F -s -e {entry} -- [0-9]*/environ); do "
        'awk \'{ sub(/.*\\) /, ""); if ($3 > 1) print $3 }\' "${f%/environ}/stat" 2>/dev/null; '
        "done | sort -u"
    )
    kill = _kill_script("$groups", steps)
    return "\n".join(
        [
            "[ -d /proc/self ] || { echo 'no /proc on this host' >&2; exit 3; }",
            f"attempt_groups() {{ echo $({find}); }}",
            "groups=$(attempt_groups)",
            '[ -z "$groups" ] && exit 0',
            f"{{\n{kill}\n}} || exit {_SURVIVED}",
            f'[ -z "$(attempt_groups)" ] || exit {_SURVIVED}',
        ]
    )


def _steps(grace_s: float) -> int:
    return math.ceil(grace_s / defaults.SSH_KILL_STEP_SECONDS)


def _stat(sftp: paramiko.SFTPClient, path: str) -> paramiko.SFTPAttributes | None:
    try:
        return sftp.stat(path)
    except FileNotFoundError:
        return None


def _makedirs(sftp: paramiko.SFTPClient, path: str) -> None:
    current = "/"
    for part in path.strip("/").split("/"):
        current = posixpath.join(current, part)
        if _stat(sftp, current) is not None:
            continue
        try:
            sftp.mkdir(current)
        except OSError:
            # Another job on this host may have created the same parent (the root) meanwhile.
            if _stat(sftp, current) is None:
                raise


def _write(sftp: paramiko.SFTPClient, base: str, rel: str, data: bytes) -> None:
    remote = posixpath.join(base, rel)
    _makedirs(sftp, posixpath.dirname(remote))
    with sftp.open(remote, "wb") as handle:
        handle.write(data)


def _link(sftp: paramiko.SFTPClient, target: str, link: str) -> None:
    """A symbolic link at `link` to `target`, both in one work directory: relative, so it holds
    wherever that directory is mounted (a container). Not a hard link: SFTP has none but an
    OpenSSH extension that paramiko does not offer. A stage retried after a dropped connection
    finds the link there already and makes it again."""
    with contextlib.suppress(FileNotFoundError):
        sftp.remove(link)
    sftp.symlink(posixpath.relpath(target, posixpath.dirname(link)), link)


def _read_text(sftp: paramiko.SFTPClient, path: str) -> str | None:
    try:
        with sftp.open(path, "rb") as handle:
            return bytes(handle.read()).decode("utf-8", "replace")
    except FileNotFoundError:
        return None


def _walk(sftp: paramiko.SFTPClient, base: str, prefix: str) -> list[str]:
    """Relative paths of the regular files under `base` (symbolic links are not followed)."""
    found: list[str] = []
    for entry in sftp.listdir_attr(posixpath.join(base, prefix) if prefix else base):
        rel = posixpath.join(prefix, entry.filename) if prefix else entry.filename
        mode = entry.st_mode or 0
        if stat.S_ISDIR(mode):
            found += _walk(sftp, base, rel)
        elif stat.S_ISREG(mode):
            found.append(rel)
    return found
