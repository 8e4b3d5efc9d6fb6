"""Retention: delete history older than a cutoff (`cosmos prune`, and a worker once a day).

The rows that go are chosen in store/retention.py. On disk, what goes with them: the work
directories of attempts that ended before the cutoff, and the job logs (`logs/<job>.log`) of the
jobs that go. The rendered videos and thumbnails (`outputs/<run>/`) of the runs that go are kept
unless `outputs=True`: they are what the work was for. Every path removed lies under COSMOS_HOME
(or, for a work directory, under a local host's configured root), and a work directory is
removed only by a prune on the machine it was made on.

Rows are deleted first, files after the commit: a prune that fails halfway leaves files no row
points at, never a row pointing at a file that is gone."""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel

from cosmos_workflow.config import Settings
from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.domain.ids import is_safe_id
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.retention import Prunable, delete_prunable, select_prunable

log = logging.getLogger(__name__)

_AGE = re.compile(r"\s*(\d{1,6})\s*([hdw])\s*")
_UNIT_HOURS = {"h": 1, "d": 24, "w": 24 * 7}
MAX_AGE = timedelta(days=36_500)  # larger ages overflow datetime arithmetic


class Removed(BaseModel):
    """A kind of files removed (or, in a dry run, that would be): how many and their bytes."""

    count: int = 0
    bytes: int = 0


class PruneResult(BaseModel):
    dry_run: bool
    cutoff: datetime  # everything that ended or was created before it went
    outputs_removed: bool  # False: the outputs of pruned runs were kept (no `--outputs`)
    jobs: int
    runs: int
    attempts: int
    timings: int
    events: int
    plans: int
    work_directories: Removed
    logs: Removed
    outputs: Removed
    # Paths that could not be removed (with why); their rows are gone all the same.
    errors: list[str]


def parse_age(text: str) -> timedelta:
    """`12h`, `30d`, `2w`: a whole number of hours, days or weeks, at least one."""
    match = _AGE.fullmatch(text)
    if match is None or int(match[1]) < 1:
        raise InvalidInput(
            f"invalid age {text!r}: use a whole number of hours, days or weeks, e.g. 12h, 30d, 2w",
            field="older_than",
        )
    age = timedelta(hours=int(match[1]) * _UNIT_HOURS[match[2]])
    if age > MAX_AGE:
        raise InvalidInput(f"age {text!r} is longer than {MAX_AGE.days} days", field="older_than")
    return age


def prune(
    ctx: Context,
    older_than: timedelta,
    *,
    dry_run: bool = False,
    outputs: bool = False,
    now: float | None = None,
) -> PruneResult:
    """Delete (or with `dry_run`, only count) what is older than `older_than`."""
    if older_than <= timedelta(0) or older_than > MAX_AGE:
        raise InvalidInput(f"invalid age {older_than}", field="older_than")
    cutoff = (time.time() if now is None else now) - older_than.total_seconds()
    with ctx.db.read() if dry_run else ctx.db.write() as session:
        rows = select_prunable(session, cutoff)
        if not dry_run:
            delete_prunable(session, rows)
    files = _files(ctx.settings, rows, outputs)
    sizes = files.measure()  # before anything is removed
    result = PruneResult(
        dry_run=dry_run,
        cutoff=datetime.fromtimestamp(cutoff, UTC),
        outputs_removed=outputs,
        jobs=len(rows.job_ids),
        runs=len(rows.run_ids),
        attempts=rows.attempts,
        timings=rows.timings,
        events=rows.events,
        plans=len(rows.plan_ids),
        work_directories=sizes["workdirs"],
        logs=sizes["logs"],
        outputs=sizes["outputs"],
        errors=[] if dry_run else files.remove(),
    )
    if not dry_run:
        _log_pruned(result)
    return result


def _log_pruned(result: PruneResult) -> None:
    log.info(
        "pruned before %s: %d job(s), %d run(s), %d event(s), %d plan(s), "
        "%d work director(ies), %d output folder(s)",
        result.cutoff.isoformat(timespec="seconds"),
        result.jobs,
        result.runs,
        result.events,
        result.plans,
        result.work_directories.count,
        result.outputs.count,
    )


# -- files -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Files:
    workdirs: list[Path]
    logs: list[Path]
    outputs: list[Path]

    def measure(self) -> dict[str, Removed]:
        kinds = {"workdirs": self.workdirs, "logs": self.logs, "outputs": self.outputs}
        return {kind: _measure(paths) for kind, paths in kinds.items()}

    def remove(self) -> list[str]:
        errors = []
        for path in [*self.workdirs, *self.outputs, *self.logs]:
            try:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("prune: cannot remove %s: %s", path, exc)
                errors.append(f"{path}: {exc.strerror or exc}")
        return errors


def _files(settings: Settings, rows: Prunable, outputs: bool) -> _Files:
    home = settings.home.resolve()
    machine = socket.gethostname()
    remote = {host.name for host in settings.hosts if host.ssh}  # their paths are not here
    # Work directories lie under COSMOS_HOME (jobs/) or a local host's own configured root.
    roots = [home] + [
        Path(host.workdir).expanduser().resolve()
        for host in settings.hosts
        if not host.ssh and host.workdir
    ]
    workdirs = {
        path
        for attempt in rows.workdirs
        if attempt.machine == machine
        and attempt.host_name not in remote
        and (path := _inside_any(roots, Path(attempt.workdir))) is not None
        and path.is_dir()
    }
    logs = [settings.logs_dir / f"{job_id}.log" for job_id in rows.job_ids if is_safe_id(job_id)]
    folders = [settings.outputs_dir / run_id for run_id in rows.run_ids if is_safe_id(run_id)]
    return _Files(
        workdirs=sorted(workdirs),
        logs=[path for path in logs if _under(home, path) and path.is_file()],
        outputs=[path for path in folders if outputs and _under(home, path) and path.is_dir()],
    )


def _under(root: Path, path: Path) -> Path | None:
    """`path` resolved, when it lies strictly inside `root` (symbolic links followed)."""
    resolved = path.expanduser().resolve()
    return resolved if resolved != root and resolved.is_relative_to(root) else None


def _inside_any(roots: list[Path], path: Path) -> Path | None:
    return next((inside for root in roots if (inside := _under(root, path))), None)


def _measure(paths: list[Path]) -> Removed:
    return Removed(count=len(paths), bytes=sum(_size(path) for path in paths))


def _size(path: Path) -> int:
    """Bytes of a file, or of the regular files under a folder (links not followed)."""
    if not path.is_dir():
        return path.lstat().st_size if path.exists() else 0
    total = 0
    for folder, _dirs, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:  # removed meanwhile
                continue
    return total
