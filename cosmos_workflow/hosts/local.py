"""The local machine as a host: a child in its own session, streamed, killed as a group."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from cosmos_workflow import defaults
from cosmos_workflow.domain.errors import ExecutionError, InvalidInput
from cosmos_workflow.hosts.base import (
    ATTEMPT_ENV,
    HOST_STATE_DIR,
    ContainerRef,
    Host,
    LineCallback,
    LineSink,
    LineSplitter,
    ProcessRef,
    ProcessResult,
    check_marker,
    check_relpath,
    is_log,
    process_env,
)

logger = logging.getLogger(__name__)

_READ_CHUNK = 65536
_PROC = Path("/proc")


class LocalHost(Host):
    """Runs commands on this machine under `root/<job id>`."""

    def __init__(
        self, name: str, root: Path, *, kill_grace_s: float = defaults.KILL_GRACE_SECONDS
    ) -> None:
        super().__init__(name, str(root.resolve()))
        self.kill_grace_s = kill_grace_s

    # -- files ---------------------------------------------------------------------------------

    def stage(self, workdir: str, files: Mapping[str, str], copies: Mapping[str, Path]) -> None:
        base = self._workdir_path(workdir)
        # Check every path before writing anything, so a refused job leaves nothing behind.
        texts = {check_relpath(rel): text for rel, text in files.items()}
        sources = {check_relpath(rel): source for rel, source in copies.items()}
        for source in sources.values():
            if not source.is_file():
                raise ExecutionError(f"host {self.name}: file to stage not found: {source}")
        base.mkdir(parents=True, exist_ok=True)
        for rel, text in texts.items():
            self._inside(base, rel, create_parent=True).write_text(text, encoding="utf-8")
        for rel, source in sources.items():
            link_or_copy(source, self._inside(base, rel, create_parent=True))

    def write_private(self, workdir: str, relpath: str, text: str) -> None:
        base = self._workdir_path(workdir)
        base.mkdir(parents=True, exist_ok=True)
        target = self._inside(base, check_relpath(relpath), create_parent=True)
        target.unlink(missing_ok=True)  # a new file, so the mode below is the one it has
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(fd, 0o600)  # whatever the umask
            handle.write(text)

    def list_files(self, workdir: str) -> set[str]:
        base = self._workdir_path(workdir)
        if not base.is_dir():
            return set()
        found = set()
        for path in base.rglob("*"):
            rel = path.relative_to(base)
            if rel.parts[0] != HOST_STATE_DIR and path.is_file():
                found.add(rel.as_posix())
        return found

    def fetch(self, workdir: str, relpaths: Iterable[str], dest: Path) -> dict[str, Path]:
        base = self._workdir_path(workdir)
        fetched: dict[str, Path] = {}
        for rel in relpaths:
            source = self._inside(base, check_relpath(rel), create_parent=False)
            target = dest / check_relpath(rel)
            if source.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
            elif source.is_dir():
                shutil.copytree(source, target, dirs_exist_ok=True)
            else:
                continue
            fetched[rel] = target
        return fetched

    def remove(self, workdir: str, *, keep_logs: bool = False) -> None:
        base = self._workdir_path(workdir)
        if not base.is_dir():
            return
        if not keep_logs:
            shutil.rmtree(base)
            return
        # Bottom-up, never following a link: a folder is removed once nothing is left in it.
        for folder, dirs, files in os.walk(base, topdown=False):
            here = Path(folder)
            for name in files:
                if not is_log(name):
                    (here / name).unlink()
            for name in dirs:
                child = here / name
                if child.is_symlink():
                    child.unlink()
                elif not any(child.iterdir()):
                    child.rmdir()
        if not any(base.iterdir()):
            base.rmdir()

    def close(self) -> None:
        """Nothing to release locally."""

    def _workdir_path(self, workdir: str) -> Path:
        return Path(self.check_workdir(workdir))

    @staticmethod
    def _inside(base: Path, rel: str, *, create_parent: bool) -> Path:
        """`base/rel`, refusing one that a symlink inside the work directory leads out of it."""
        target = base / rel
        if create_parent:
            target.parent.mkdir(parents=True, exist_ok=True)
        if not target.resolve().is_relative_to(base.resolve()):
            raise InvalidInput(f"path {rel!r} leads out of the work directory", field="path")
        return target

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
        full_env = {**os.environ, **process_env(env, marker)}
        sink = LineSink(on_line, log_path)
        started_at = datetime.now(UTC)
        try:
            child = subprocess.Popen(
                list(argv),
                cwd=cwd or workdir,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,  # one pipe keeps stdout and stderr in printed order
                start_new_session=True,
            )
        except OSError as exc:
            sink.close()
            raise ExecutionError(f"host {self.name}: cannot start {argv[0]!r}: {exc}") from exc
        assert child.stdout is not None
        reader = threading.Thread(
            target=_pump, args=(child.stdout, sink), name=f"{self.name}-output", daemon=True
        )
        reader.start()
        try:
            if on_start is not None:
                self._report_start(child, on_start, container)
            stopped = self._supervise(child, cancel, timeout_s, container)
        finally:
            # The job's processes never outlive it, whether it ended, was stopped or failed here.
            self._stop_group(child, container=None)
            reader.join(self.kill_grace_s)
            if reader.is_alive():
                logger.warning("host %s: a process outside the job holds its output", self.name)
            sink.close()
        return _result(child.returncode, stopped, started_at)

    def _report_start(
        self,
        child: subprocess.Popen[bytes],
        on_start: Callable[[int], None],
        container: ContainerRef | None,
    ) -> None:
        """A caller that could not record the group id could not end it later: stop it now, its
        container included (the `finally` of run stops only the group)."""
        try:
            on_start(child.pid)  # start_new_session: the child leads its own group
        except BaseException:
            logger.warning("host %s: on_start failed; stopping pid %d", self.name, child.pid)
            self._stop_group(child, container)
            raise

    def _supervise(
        self,
        child: subprocess.Popen[bytes],
        cancel: threading.Event,
        timeout_s: float | None,
        container: ContainerRef | None,
    ) -> str | None:
        """Waits for the child; returns "cancelled" or "timed_out" when it had to stop it."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while child.poll() is None:
            if cancel.is_set():
                logger.info("host %s: cancelling pid %d", self.name, child.pid)
                self._stop_group(child, container)
                return "cancelled"
            if deadline is not None and time.monotonic() >= deadline:
                logger.warning("host %s: pid %d ran past %ss", self.name, child.pid, timeout_s)
                self._stop_group(child, container)
                return "timed_out"
            wait = defaults.LOCAL_POLL_SECONDS
            if deadline is not None:
                wait = max(0.0, min(wait, deadline - time.monotonic()))
            cancel.wait(wait)
        return None

    def _stop_group(self, child: subprocess.Popen[bytes], container: ContainerRef | None) -> None:
        """SIGTERM to the whole process group (and the container kill), SIGKILL after the grace."""
        if container is not None:
            _kill_container(container, self.kill_grace_s)
        self._end_groups({child.pid}, self.kill_grace_s)  # the child leads its own group
        child.wait()

    def _end_groups(self, pgids: set[int], grace_s: float) -> set[int]:
        """SIGTERM to the groups, SIGKILL to those still alive after the grace; returns the groups
        that survived even that."""
        alive = {pgid for pgid in pgids if _signal_group(pgid, signal.SIGTERM)}
        alive = _wait_gone(alive, grace_s)
        for pgid in sorted(alive):
            logger.warning("host %s: group %d ignored SIGTERM; sending SIGKILL", self.name, pgid)
            _signal_group(pgid, signal.SIGKILL)
        return _wait_gone(alive, defaults.LOCAL_KILLED_WAIT_SECONDS)

    def end_process(self, ref: ProcessRef, *, grace_s: float | None = None) -> bool:
        marker = check_marker(ref.marker)
        self._check_machine(ref)
        grace = self.kill_grace_s if grace_s is None else grace_s
        if ref.container is not None:
            _kill_container(ref.container, grace)
        groups = _attempt_groups(marker)
        if ref.process_group is not None and ref.process_group not in groups:
            logger.info("host %s: group %d is not attempt %s", self.name, ref.process_group, marker)
        if groups:
            logger.info("host %s: ending attempt %s: groups %s", self.name, marker, sorted(groups))
        survivors = self._end_groups(groups, grace) | _attempt_groups(marker)
        if survivors:
            logger.warning("host %s: attempt %s survived: %s", self.name, marker, sorted(survivors))
        return not survivors

    def _check_machine(self, ref: ProcessRef) -> None:
        """Another machine's processes are out of reach: finding none here would falsely say
        "ended"."""
        here = socket.gethostname()
        if ref.machine != here:
            raise ExecutionError(
                f"host {self.name}: attempt {ref.marker} ran on {ref.machine}, not on {here}"
            )


def link_or_copy(source: Path, target: Path) -> None:
    """Place `source` at `target` as a hard link, so staging an input video costs neither a copy
    nor disk space per run (the model only reads it); a copy where a link cannot be made.

    The target is unlinked first: writing through an existing link (a stage retried into the
    same directory) would overwrite the user's own input."""
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError as exc:
        # EXDEV: another filesystem. EPERM/EACCES: links refused (protected_hardlinks, some
        # network mounts). EMLINK: the source has too many links. ENOTSUP: no links at all.
        if exc.errno not in _NO_LINK:
            raise
        logger.debug("cannot hard-link %s (%s); copying it", source, exc.strerror)
        shutil.copyfile(source, target)


_NO_LINK = frozenset({errno.EXDEV, errno.EPERM, errno.EACCES, errno.EMLINK, errno.ENOTSUP})


def _pump(stream: IO[bytes], sink: LineSink) -> None:
    """Reads whatever the child wrote as soon as it is written (no line buffering in between)."""
    splitter = LineSplitter()
    fd = stream.fileno()
    while chunk := os.read(fd, _READ_CHUNK):
        sink.emit(splitter.feed(chunk))
    sink.emit(splitter.flush())
    stream.close()


def _signal_group(pgid: int, signum: signal.Signals) -> bool:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    return True


def _group_alive(pgid: int) -> bool:
    """Whether the group still has a live member. Zombies do not count: an orphan whose new
    parent never reaps it would otherwise look alive forever."""
    proc = Path("/proc")
    if not proc.is_dir():
        return _signal_group(pgid, signal.Signals(0))
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the command name (which may hold spaces): state, ppid, pgrp, ...
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _wait_gone(pgids: set[int], timeout_s: float) -> set[int]:
    """Waits up to `timeout_s` for the groups to lose every live member; returns those that
    have not."""
    deadline = time.monotonic() + timeout_s
    while True:
        alive = {pgid for pgid in pgids if _group_alive(pgid)}
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(defaults.LOCAL_POLL_SECONDS)


def _attempt_groups(marker: str) -> set[int]:
    """The process groups of the live processes whose environment holds COSMOS_ATTEMPT=<marker>
    (a zombie's environment reads empty). Never our own group (a caller that carries the marker
    must not end itself), nor 0 or 1: `os.killpg(1, ...)` would signal every process we may."""
    if not _PROC.is_dir():
        raise ExecutionError("cannot search processes by their environment without /proc")
    wanted = f"{ATTEMPT_ENV}={marker}".encode()
    groups: set[int] = set()
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if wanted in (entry / "environ").read_bytes().split(b"\0"):
                groups.add(os.getpgid(int(entry.name)))
        except OSError:  # gone meanwhile, or another user's process
            continue
    return {pgid for pgid in groups if pgid > 1} - {os.getpgrp()}


def _kill_container(container: ContainerRef, timeout_s: float) -> None:
    argv = container.kill_argv()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.warning("could not run %s: %s", argv, exc)
        return
    if done.returncode != 0:
        # Usually "no such container": it had not started yet or already ended.
        logger.info("%s exited %d: %s", argv, done.returncode, done.stderr.strip())


def _result(returncode: int | None, stopped: str | None, started_at: datetime) -> ProcessResult:
    code = returncode if returncode is not None and returncode >= 0 else None
    signum = -returncode if returncode is not None and returncode < 0 else None
    return ProcessResult(
        exit_code=code,
        signal=signum,
        cancelled=stopped == "cancelled",
        timed_out=stopped == "timed_out",
        started_at=started_at,
        ended_at=datetime.now(UTC),
    )
