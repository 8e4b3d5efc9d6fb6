"""The reaper: expired leases and orphaned model processes.

An expired lease means a worker stopped renewing it (killed, cut off, frozen). Before its job is
retried, the attempt's process is ended on its host, so a retry never runs beside the process it
replaces. Orphans (open attempts whose job no longer holds their lease) are ended on a timer and
when a worker starts: those are the processes of its dead predecessors.

A process on a host this worker cannot reach (another machine's local host, an unconfigured or
unreachable host) is left to the workers of that host; its job is retried all the same, since
the orphan can write nothing (its lease is gone, its work directory is its own)."""

from __future__ import annotations

import logging
import socket
import threading

from cosmos_workflow import defaults
from cosmos_workflow.domain.errors import CosmosError
from cosmos_workflow.domain.states import AttemptEnd
from cosmos_workflow.hosts.base import ContainerRef, Host, ProcessRef
from cosmos_workflow.hosts.local import LocalHost
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.targets import choose_host
from cosmos_workflow.store import attempts, jobs
from cosmos_workflow.store.db import TRANSIENT_ERRORS
from cosmos_workflow.worker.hosts import open_host

log = logging.getLogger(__name__)


class Reaper:
    def __init__(self, ctx: Context, host: Host) -> None:
        self.ctx = ctx
        self.host = host
        self._others: dict[str, Host | None] = {}
        self._lock = threading.Lock()  # the timer and the claim loop may reap at once

    def reap(self) -> list[str]:
        """End the processes of attempts whose lease expired, then requeue or quarantine their
        jobs (jobs.reap_expired_leases re-checks each lease in its transaction)."""
        with self._lock:
            expired = jobs.expired_leases(self.ctx.db)
            if not expired:
                return []
            for attempt in attempts.open_attempts_of(self.ctx.db, expired):
                self._end(attempt, AttemptEnd.REAPED)
            return jobs.reap_expired_leases(self.ctx.db, expired)

    def end_orphans(self) -> int:
        """End the processes of this host's attempts that lost their lease; how many ended."""
        with self._lock:
            # A local host's processes can only be ended from the machine they run on.
            machine = socket.gethostname() if isinstance(self.host, LocalHost) else None
            orphans = attempts.orphaned_attempts(self.ctx.db, self.host.name, machine)
            return sum(self._end(attempt, AttemptEnd.ORPHAN_ENDED) for attempt in orphans)

    def close(self) -> None:
        for host in self._others.values():
            if host is not None:
                host.close()

    def _end(self, attempt: attempts.OpenAttempt, outcome: str) -> bool:
        process = attempt.process
        host = self._host_for(process.host_name)
        if host is None:
            log.info(
                "job=%s: its process on host %s is left to that host's workers",
                attempt.job_id,
                process.host_name,
            )
            return False
        container = None
        if process.container_runtime and process.container_name:
            container = ContainerRef(process.container_runtime, process.container_name)
        ref = ProcessRef(
            host_name=process.host_name,
            machine=process.machine,
            workdir=process.workdir,
            marker=process.marker,
            process_group=attempt.process_group,
            container=container,
        )
        try:
            ended = host.end_process(ref)
        except CosmosError as exc:
            log.warning("job=%s: could not end its process: %s", attempt.job_id, exc.message)
            return False
        if ended:
            attempts.end_attempt(self.ctx.db, attempt.attempt_id, outcome)
            log.warning(
                "job=%s: ended the process of attempt %d on host %s (%s)",
                attempt.job_id,
                attempt.attempt_id,
                process.host_name,
                outcome,
            )
            clear_workdir(host, process.workdir, attempt.job_id)
        return ended

    def _host_for(self, name: str) -> Host | None:
        """This worker's host, or another configured one, opened once (None: not reachable)."""
        if name == self.host.name:
            return self.host
        if name not in self._others:
            try:
                choice = choose_host(self.ctx.settings, name, simulate=False)
                self._others[name] = open_host(choice, self.ctx.settings)
            except CosmosError:
                self._others[name] = None
        return self._others[name]


class ReaperTimer:
    """Runs the reaper every heartbeat interval in its own thread, so expired leases are reaped
    and orphans ended even while this worker's only job runs for an hour. A tick that fails is
    logged and tried again at the next one; the thread itself never dies of it."""

    def __init__(self, reaper: Reaper, interval: float) -> None:
        self.reaper = reaper
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reaper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            sweep(self.reaper)


def sweep(reaper: Reaper) -> None:
    """One reaper pass that never raises: its errors are logged."""
    try:
        reaper.reap()
        reaper.end_orphans()
    except TRANSIENT_ERRORS as exc:
        log.warning("reaper: database unreachable (%s); trying again later", exc)
    except Exception:
        log.exception("reaper: unexpected error; trying again later")


def clear_workdir(host: Host, workdir: str | None, job_id: str) -> None:
    """Empty the work directory of an attempt that was cancelled or whose process was killed,
    keeping its logs: its staged inputs and partial outputs are of no use to anyone (a retry
    gets a directory of its own), its logs say what happened. Best effort: a host that cannot
    be reached keeps the directory, which `cosmos prune` removes later (local hosts)."""
    if not workdir:
        return
    try:
        host.remove(workdir, keep_logs=True)
    except (CosmosError, OSError) as exc:
        log.warning("job=%s: could not clear its work directory %s: %s", job_id, workdir, exc)


def reaper_interval(lease_seconds: float) -> float:
    return defaults.heartbeat_seconds(lease_seconds)
