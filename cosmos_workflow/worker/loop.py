"""The worker loop: claim -> execute -> repeat, with backoff when idle and a two-step stop.

`stop` ends claiming and lets the running job finish; `kill` (set when the stop grace runs out,
or by a second SIGTERM/Ctrl-C: worker/stopping.py) ends its process, and the job goes back to
the queue without charging an attempt.

The loop never dies of one job: JobExecutor.execute turns every failure of a job into a recorded
end (or a retry). Transient database errors are ridden out with backoff for up to
`database_outage_seconds`; past that, FatalError stops the worker with a clear log line (the CLI
exits 1). Like procrastinate's worker, it does not carry on half-alive."""

from __future__ import annotations

import logging
import posixpath
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TypeVar

from cosmos_workflow import defaults
from cosmos_workflow.domain.errors import Conflict, FatalError
from cosmos_workflow.hosts.base import Host
from cosmos_workflow.notify.watch import start_notifier
from cosmos_workflow.services.batching import batch_queue_head
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.retention import prune
from cosmos_workflow.services.targets import HostChoice, choose_hosts, simulated_time_scale
from cosmos_workflow.store import jobs
from cosmos_workflow.store.db import TRANSIENT_ERRORS
from cosmos_workflow.store.workers import register_worker, stop_worker, worker_heartbeat
from cosmos_workflow.worker.execute import JobExecutor
from cosmos_workflow.worker.hosts import open_host
from cosmos_workflow.worker.reaper import Reaper, ReaperTimer, reaper_interval, sweep

log = logging.getLogger(__name__)
T = TypeVar("T")

PRUNE_INTERVAL_S = 24 * 3600.0  # with retention_days: one prune a day of the worker's life


def run_worker(
    ctx: Context,
    *,
    host_name: str | None = None,
    host_names: Sequence[str] = (),
    simulate: bool = False,
    stop: threading.Event | None = None,
    kill: threading.Event | None = None,
    once: bool = False,
    max_jobs: int | None = None,
    exit_when_idle: bool = False,
) -> int:
    """Run jobs on every slot of the given hosts (default: every configured host, else the
    default simulated one) until stopped, one job per slot at once; returns how many jobs this
    worker executed. Raises FatalError when the database stays unreachable past
    `settings.database_outage_seconds` (every slot then stops)."""
    stop = stop or threading.Event()
    kill = kill or threading.Event()
    names = [*host_names, *([host_name] if host_name else [])]
    choices = choose_hosts(ctx.settings, names, simulate)
    if any(choice.is_default for choice in choices):
        log.warning(
            "no host configured: running on this machine with the SIMULATOR (no GPU work); "
            "declare hosts in cosmos.toml to run NVIDIA's models"
        )
    for choice in choices:
        if choice.simulate:
            scale = simulated_time_scale(choice, ctx.settings.sim_time_scale)
            log.info(time_scale_line(choice.config.name, scale))
    budget = JobBudget(1 if once else max_jobs)
    quit_when_idle = once or exit_when_idle
    retention = RetentionTimer(ctx)
    retention.start()
    # `[[notify]]`: a thread of its own that tails the events; no job waits for it.
    notifier = start_notifier(ctx)
    try:
        slots = [
            SlotWorker(ctx, choice.on_slot(slot), stop, kill)
            for choice in choices
            for slot in choice.slots
        ]
        if len(slots) == 1:
            slots[0].run(budget, quit_when_idle)
        else:
            _run_together(slots, budget, quit_when_idle, stop)
    finally:
        retention.stop()
        if notifier is not None:
            notifier.stop()  # tells of this worker's last ends first
    return budget.done


def time_scale_line(host_name: str, scale: float) -> str:
    """What a simulated host's start says of its pace, and how to change it: a quick start that
    seems to hang for half an hour at real time, or a demo of timing that ends in seconds,
    should not leave anyone guessing."""
    return (
        f"simulated host {host_name}: time x{scale:g} (1 simulated GPU minute = "
        f"{60 * scale:.3g} s; set sim_time_scale in cosmos.toml or COSMOS_SIM_TIME_SCALE; "
        "1 = real time)"
    )


def _run_together(
    slots: Sequence[SlotWorker], budget: JobBudget, quit_when_idle: bool, stop: threading.Event
) -> None:
    """Each slot in a thread of its own; the first FatalError stops them all and is raised."""
    failures: list[BaseException] = []

    def drive(slot: SlotWorker) -> None:
        try:
            slot.run(budget, quit_when_idle)
        except BaseException as exc:
            failures.append(exc)
            stop.set()  # the others stop claiming; their running jobs finish

    threads = [
        threading.Thread(target=drive, args=(slot,), name=f"slot-{slot.choice.slot_name}")
        for slot in slots
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


class JobBudget:
    """How many jobs the worker may still start (None: no limit), shared by its slots: a slot
    takes a ticket before it claims and gives it back when there was nothing to claim."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.done = 0
        self._taken = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.limit is not None and self._taken >= self.limit:
                return False
            self._taken += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self._taken -= 1

    def finished_one(self) -> None:
        with self._lock:
            self.done += 1


class SlotWorker:
    """Claims jobs for one slot and runs them there, pinned to its devices: its own worker
    registration, host connection, reaper and executor."""

    def __init__(
        self, ctx: Context, choice: HostChoice, stop: threading.Event, kill: threading.Event
    ) -> None:
        self.ctx = ctx
        self.choice = choice
        self.stop = stop
        self.kill = kill

    def run(self, budget: JobBudget, quit_when_idle: bool) -> None:
        ctx, choice, stop = self.ctx, self.choice, self.stop
        host = open_host(choice, ctx.settings)
        outage = Outage(ctx.settings.database_outage_seconds)
        worker_id = outage.ride(
            lambda: register_worker(
                ctx.db, choice.config.name, simulate=choice.simulate, slot=choice.slot_name
            ),
            stop,
        )
        log.info(
            "worker=%s host=%s slot=%s devices=%s simulate=%s started",
            worker_id,
            choice.config.name,
            choice.slot_name,
            choice.slot.visible_devices if choice.slot else "-",
            choice.simulate,
        )
        reaper = Reaper(ctx, host)
        sweep(reaper)  # the processes of this host's dead predecessors end first
        timer = ReaperTimer(reaper, reaper_interval(ctx.settings.lease_seconds))
        timer.start()
        executor = JobExecutor(
            ctx, choice, host, worker_id, self.kill, gpu_dir=simulated_gpus(choice, host, worker_id)
        )
        done = 0
        try:
            done = self._loop(executor, reaper, outage, worker_id, budget, quit_when_idle)
        except FatalError as exc:
            log.error("worker=%s stopping: %s", worker_id, exc.message)
            raise
        finally:
            timer.stop()
            reaper.close()
            _stopped(ctx, worker_id)
            host.close()
            log.info("worker=%s stopped after %d job(s)", worker_id, done)

    def _loop(
        self,
        executor: JobExecutor,
        reaper: Reaper,
        outage: Outage,
        worker_id: str,
        budget: JobBudget,
        quit_when_idle: bool,
    ) -> int:
        ctx, stop, host = self.ctx, self.stop, self.choice.config.name
        done = 0
        idle = defaults.IDLE_POLL_SECONDS
        while not stop.is_set() and budget.take():
            claim = outage.ride(lambda: _next_claim(ctx, reaper, worker_id, self.choice), stop)
            if claim is None:
                budget.give_back()
                if quit_when_idle or stop.is_set():
                    break
                stop.wait(idle)
                idle = min(idle * 1.5, defaults.IDLE_POLL_MAX_SECONDS)
                continue
            idle = defaults.IDLE_POLL_SECONDS
            executor.execute(claim)
            budget.finished_one()
            done += 1
        log.debug("worker=%s host=%s leaves its claim loop", worker_id, host)
        return done


def simulated_gpus(choice: HostChoice, host: Host, worker_id: str) -> str | None:
    """Where the simulator keeps the simulated machine's device locks (None when not
    simulating): one folder per host, shared by its slots (and by any other worker driving the
    same host), so two jobs on one device fail there as on a real GPU. Hosts may share a work
    root, so the folder is named for the host; the default host stands for each worker's own
    machine."""
    if not choice.simulate:
        return None
    folder = posixpath.join(host.root, ".simulated-gpus", choice.config.name)
    return posixpath.join(folder, worker_id) if choice.is_default else folder


def _next_claim(
    ctx: Context, reaper: Reaper, worker_id: str, choice: HostChoice
) -> jobs.Claim | None:
    worker_heartbeat(ctx.db, worker_id, None)
    if ctx.settings.planner.continuous:
        # Batching is an optimisation of this claim, never a reason to stop: a head another
        # worker claimed or batched first (Conflict), or a database error that outlived the
        # batching's own retries, skips it for this turn. The claim below still rides out a
        # real outage.
        try:
            batch_queue_head(ctx)
        except Conflict as exc:
            log.info("continuous batching skipped this turn: %s", exc.message)
        except TRANSIENT_ERRORS as exc:
            log.warning("continuous batching skipped this turn: %s", str(exc).splitlines()[0][:200])
    reaper.reap()
    return jobs.claim_next_job(
        ctx.db,
        worker_id,
        lease_seconds=ctx.settings.lease_seconds,
        backends=None,
        host_name=choice.config.name,
    )


class RetentionTimer:
    """With `retention_days` set: prunes what is older when the worker starts, then every
    `PRUNE_INTERVAL_S` of its life, in its own thread so a long job does not hold it back. A
    prune that fails is logged and tried again at the next turn; it never ends the worker."""

    def __init__(self, ctx: Context, interval_s: float = PRUNE_INTERVAL_S) -> None:
        self.ctx = ctx
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="retention", daemon=True)

    def start(self) -> None:
        if self.ctx.settings.retention_days is None:
            return
        self.prune()  # on start, before the first claim
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def prune(self) -> None:
        days = self.ctx.settings.retention_days
        assert days is not None
        try:
            prune(self.ctx, timedelta(days=days))  # logs what it removed
        except Exception:
            log.exception("retention: the prune of what is older than %d day(s) failed", days)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.prune()


def _stopped(ctx: Context, worker_id: str) -> None:
    try:
        stop_worker(ctx.db, worker_id)
    except TRANSIENT_ERRORS as exc:
        log.warning("worker=%s: could not record its stop: %s", worker_id, exc)


class Outage:
    """Rides out an unreachable database: a step that fails with a transient error is tried
    again with backoff until the database has been unreachable for `limit_s`, then FatalError.
    A stop request ends the waiting (the step's result is then None)."""

    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s

    def ride(self, step: Callable[[], T], stop: threading.Event) -> T:
        since = time.monotonic()
        delay = defaults.IDLE_POLL_SECONDS
        while True:
            try:
                return step()
            except TRANSIENT_ERRORS as exc:
                down = time.monotonic() - since
                if down >= self.limit_s:
                    raise FatalError(
                        f"the database was unreachable for more than {self.limit_s:g}s: "
                        f"{str(exc).splitlines()[0][:300]}"
                    ) from exc
                log.warning(
                    "database unreachable for %.0fs (%s); retrying in %.0fs",
                    down,
                    str(exc).splitlines()[0][:200],
                    delay,
                )
                if stop.wait(delay):
                    raise FatalError("stopped while the database was unreachable") from exc
                delay = min(delay * 2, defaults.IDLE_POLL_MAX_SECONDS)
