"""What every host offers: a per-job work directory, staging, a streamed run, fetch, removal.

A host is *where* a command runs. It knows nothing about backends: it takes plain argv, files and
paths. Every path a caller gives relative to a work directory is checked here, once, so no host
writes, reads or deletes anything outside the one job directory it was handed (a job never touches
another job's folder)."""

from __future__ import annotations

import codecs
import logging
import posixpath
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO

from cosmos_workflow.domain.errors import ExecutionError, InvalidInput
from cosmos_workflow.domain.ids import is_safe_id

logger = logging.getLogger(__name__)

# Python children block-buffer stdout into a pipe, which would hold every print back until exit and
# reorder it after stderr. Hosts set this unless the caller's env says otherwise.
UNBUFFERED_ENV = {"PYTHONUNBUFFERED": "1"}

# The host's own bookkeeping inside a job directory (remote log, pid, exit code); never an output.
HOST_STATE_DIR = ".cosmos"

# Every process a host starts for an attempt carries COSMOS_ATTEMPT=<marker> in its environment, so
# another process can find it later (after the worker that started it died) and never mistake an
# unrelated process that reused its pid for it.
ATTEMPT_ENV = "COSMOS_ATTEMPT"

# What `remove(..., keep_logs=True)` keeps: the host's own output log (.cosmos/output.log) and
# the logs a model writes into its work directory (Transfer2.5's debug.log).
LOG_SUFFIX = ".log"

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

LineCallback = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class ProcessResult:
    """How a command ended. `exit_code` is None when a signal ended it (then `signal` says which)
    or when it was cancelled or timed out before an exit code could be read."""

    exit_code: int | None
    signal: int | None
    cancelled: bool
    timed_out: bool
    started_at: datetime
    ended_at: datetime

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and not self.cancelled and not self.timed_out


@dataclass(frozen=True, slots=True)
class ContainerRef:
    """The one container a run starts: cancel kills it by its exact name with this runtime."""

    runtime: str
    name: str

    def kill_argv(self) -> list[str]:
        return [self.runtime, "kill", self.name]


@dataclass(frozen=True, slots=True)
class ProcessRef:
    """Where one attempt's process runs: enough for another process, later, to find and end it."""

    host_name: str
    machine: str  # socket.gethostname() of the machine that started it
    workdir: str  # the attempt's work directory on the host
    marker: str  # the COSMOS_ATTEMPT value in its environment (unique per attempt; a safe id)
    process_group: int | None = None
    container: ContainerRef | None = None


def check_relpath(relpath: str) -> str:
    """The normalised form of a path relative to a work directory; refuses anything that could
    leave it (absolute paths, `..`, empty names)."""
    if not relpath or "\x00" in relpath or "\\" in relpath:
        raise InvalidInput(f"invalid relative path {relpath!r}", field="path")
    path = PurePosixPath(relpath)
    if path.is_absolute() or ".." in path.parts:
        raise InvalidInput(f"path {relpath!r} escapes the work directory", field="path")
    normal = posixpath.normpath(relpath)
    if normal in ("", "."):
        raise InvalidInput(f"path {relpath!r} names the work directory itself", field="path")
    return normal


def is_log(name: str) -> bool:
    return name.endswith(LOG_SUFFIX)


def check_env(env: Mapping[str, str]) -> dict[str, str]:
    """Environment names must be shell identifiers: they are exported by name on remote hosts."""
    for name, value in env.items():
        if not _ENV_NAME.fullmatch(name):
            raise InvalidInput(f"invalid environment variable name {name!r}", field="env")
        if "\x00" in value:
            raise InvalidInput(f"environment variable {name} holds a NUL byte", field="env")
    return dict(env)


def check_marker(marker: str) -> str:
    """An attempt marker is a safe id: it goes into remote shell scripts and /proc searches."""
    if not is_safe_id(marker):
        raise InvalidInput(f"invalid attempt marker {marker!r}", field="marker")
    return marker


def process_env(env: Mapping[str, str], marker: str | None = None) -> dict[str, str]:
    """The caller's environment over the unbuffered-output default, plus the attempt marker."""
    marked = {} if marker is None else {ATTEMPT_ENV: check_marker(marker)}
    return {**UNBUFFERED_ENV, **check_env(env), **marked}


class LineSplitter:
    """Turns a byte stream into lines as they come. Carriage returns end a line too, so progress
    bars that redraw with `\\r` reach the caller live instead of as one line at exit."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""

    def feed(self, data: bytes) -> list[str]:
        text = self._pending + self._decoder.decode(data)
        parts = re.split(r"\r\n|\r|\n", text)
        self._pending = parts.pop()
        return [part for part in parts if part]

    def flush(self) -> list[str]:
        rest = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        return [rest] if rest else []


class LineSink:
    """Delivers each line to the caller and appends it to the local log file, one line at a time,
    so a reader of the log or the callback sees output while the process still runs."""

    def __init__(self, on_line: LineCallback, log_path: Path | None) -> None:
        self._on_line = on_line
        self._log: IO[str] | None = None
        self._lock = threading.Lock()
        self._callback_failed = False
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = log_path.open("a", encoding="utf-8")

    def emit(self, lines: Iterable[str]) -> None:
        with self._lock:
            for line in lines:
                self._emit_one(line)

    def _emit_one(self, line: str) -> None:
        if self._log is not None:
            self._log.write(line + "\n")
            self._log.flush()
        try:
            self._on_line(line)
        except Exception:
            # A broken listener must not kill a GPU job; it is reported once, output still logged.
            if not self._callback_failed:
                logger.exception("line callback failed; further failures are not reported")
            self._callback_failed = True

    def close(self) -> None:
        with self._lock:
            if self._log is not None:
                self._log.close()
                self._log = None


class Host(ABC):
    """Where commands run. Two implementations: the local machine and a machine over SSH."""

    def __init__(self, name: str, root: str) -> None:
        if not posixpath.isabs(root):
            raise ExecutionError(f"host {name}: work root {root!r} must be an absolute path")
        self.name = name
        self.root = posixpath.normpath(root)

    def job_dir(self, job_id: str) -> str:
        """The absolute path of this job's own work directory, directly under the host's root."""
        if not is_safe_id(job_id):
            raise InvalidInput(f"invalid job id {job_id!r}", field="job_id")
        return posixpath.join(self.root, job_id)

    def check_workdir(self, workdir: str) -> str:
        """A work directory must be one job directory under this host's root, nothing wider."""
        normal = posixpath.normpath(workdir)
        parent, job_id = posixpath.split(normal)
        if parent != self.root or not is_safe_id(job_id):
            raise InvalidInput(
                f"host {self.name}: {workdir!r} is not a job directory under {self.root}",
                field="workdir",
            )
        return normal

    @abstractmethod
    def stage(self, workdir: str, files: Mapping[str, str], copies: Mapping[str, Path]) -> None:
        """Create the work directory and write `files` (text) and `copies` (local files) into it."""

    @abstractmethod
    def write_private(self, workdir: str, relpath: str, text: str) -> None:
        """Write one file that holds secrets (a container's env file) into the work directory,
        readable and writable by its owner only (0600) from the moment it holds anything."""

    @abstractmethod
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
        """Run argv in `cwd` (the work directory when None); stream stdout and stderr, interleaved
        as printed, to `on_line` and `log_path`. Cancel or timeout kills the whole process group
        and, when given, the container by its name.

        With `marker`, every process started carries COSMOS_ATTEMPT=<marker> in its environment
        (for a container, the `docker run` client does), so `end_process` can find it after this
        caller died. `on_start(pgid)` is called once, as soon as the process group id is known, so
        the caller can record it; if it raises, the process is killed and the exception raised."""

    @abstractmethod
    def end_process(self, ref: ProcessRef, *, grace_s: float | None = None) -> bool:
        """End whatever still runs of that attempt: SIGTERM to its process group(s), SIGKILL after
        the grace (default: the host's kill grace), and `<runtime> kill <name>` for its container.

        Only process groups holding a process whose environment has COSMOS_ATTEMPT=<ref.marker>
        are signalled, so a pid reused by an unrelated process is never touched; the processes
        are found by that marker, which also covers ref.process_group None (the caller died
        before it learned it). Returns True when nothing of the attempt runs any more (also when
        nothing ever ran), False when something survived. Raises ExecutionError when the host
        cannot be reached or cannot search its processes, or (LocalHost) when ref.machine is not
        this machine. The container kill is best effort: its failure is logged, not reported."""

    @abstractmethod
    def list_files(self, workdir: str) -> set[str]:
        """Relative paths of the files under the work directory, the host's own state excluded."""

    @abstractmethod
    def fetch(self, workdir: str, relpaths: Iterable[str], dest: Path) -> dict[str, Path]:
        """Copy the files (or folders) that exist to `dest`, keeping their relative paths. A
        missing path is simply absent from the result, so the caller can tell."""

    @abstractmethod
    def remove(self, workdir: str, *, keep_logs: bool = False) -> None:
        """Delete this job's work directory, and only it. With `keep_logs`, its log files
        (`is_log`) stay, in their folders, and everything else goes (a cancelled or killed
        attempt: its inputs and partial outputs are of no use, its logs say what happened)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; the host may be used again after (it reconnects)."""
