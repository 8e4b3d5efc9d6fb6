"""The local machine as a host: a child in its own session, streamed, killed as a group."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from cosmos_workflow.domain.errors import ExecutionError, InvalidInput
from cosmos_workflow.hosts.base import (
    DEFAULT_KILL_GRACE_S,
    HOST_STATE_DIR,
    ContainerRef,
    Host,
    LineCallback,
    LineSink,
    LineSplitter,
    ProcessResult,
    check_relpath,
    process_env,
)

logger = logging.getLogger(__name__)

# How often the supervisor looks at the child while nothing else wakes it: cancel wakes it at
# once, so this only bounds how late a normal exit or a timeout is noticed.
POLL_INTERVAL_S = 0.05
_READ_CHUNK = 65536


class LocalHost(Host):
    """Runs commands on this machine under `root/<job id>`."""

    def __init__(
        self, name: str, root: Path, *, kill_grace_s: float = DEFAULT_KILL_GRACE_S
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
            shutil.copyfile(source, self._inside(base, rel, create_parent=True))

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

    def remove(self, workdir: str) -> None:
        base = self._workdir_path(workdir)
        if base.is_dir():
            shutil.rmtree(base)

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
    ) -> ProcessResult:
        workdir = self.check_workdir(workdir)
        if not argv:
            raise InvalidInput("empty command", field="argv")
        full_env = {**os.environ, **process_env(env)}
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
            stopped = self._supervise(child, cancel, timeout_s, container)
        finally:
            # The job's processes never outlive it, whether it ended, was stopped or failed here.
            self._stop_group(child, container=None)
            reader.join(self.kill_grace_s)
            if reader.is_alive():
                logger.warning("host %s: a process outside the job holds its output", self.name)
            sink.close()
        return _result(child.returncode, stopped, started_at)

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
            wait = POLL_INTERVAL_S
            if deadline is not None:
                wait = max(0.0, min(wait, deadline - time.monotonic()))
            cancel.wait(wait)
        return None

    def _stop_group(self, child: subprocess.Popen[bytes], container: ContainerRef | None) -> None:
        """SIGTERM to the whole process group (and the container kill), SIGKILL after the grace."""
        if container is not None:
            _kill_container(container, self.kill_grace_s)
        pgid = child.pid  # start_new_session: the child leads its own group
        if not _signal_group(pgid, signal.SIGTERM):
            child.wait()
            return
        deadline = time.monotonic() + self.kill_grace_s
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL_S)
        if _group_alive(pgid):
            logger.warning("host %s: group %d ignored SIGTERM; sending SIGKILL", self.name, pgid)
            _signal_group(pgid, signal.SIGKILL)
        child.wait()


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
