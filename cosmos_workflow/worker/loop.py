"""The worker loop: claim -> execute -> repeat, with backoff when idle and a two-step stop.

The first stop request lets the running job finish; a second one (or `force`) kills it, and its
lease lapses so another worker picks it up."""

from __future__ import annotations

import logging
import threading

from cosmos_workflow import defaults
from cosmos_workflow.services.batching import batch_queue_head
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.targets import choose_host
from cosmos_workflow.store import queue as store
from cosmos_workflow.store.workers import register_worker, stop_worker, worker_heartbeat
from cosmos_workflow.worker.execute import JobExecutor
from cosmos_workflow.worker.hosts import open_host

log = logging.getLogger(__name__)


def run_worker(
    ctx: Context,
    *,
    host_name: str | None = None,
    simulate: bool = False,
    stop: threading.Event | None = None,
    kill: threading.Event | None = None,
    once: bool = False,
    max_jobs: int | None = None,
    exit_when_idle: bool = False,
) -> int:
    """Run jobs until stopped; returns how many jobs this worker executed."""
    stop = stop or threading.Event()
    kill = kill or threading.Event()
    choice = choose_host(ctx.settings, host_name, simulate)
    if choice.is_default:
        log.warning(
            "no host configured: running on this machine with the SIMULATOR (no GPU work); "
            "declare hosts in cosmos.toml to run NVIDIA's models"
        )
    host = open_host(choice, ctx.settings)
    worker_id = register_worker(ctx.db, choice.config.name, simulate=choice.simulate)
    log.info(
        "worker=%s host=%s simulate=%s started", worker_id, choice.config.name, choice.simulate
    )
    executor = JobExecutor(ctx, choice, host, worker_id, kill)
    done = 0
    idle = defaults.IDLE_POLL_SECONDS
    try:
        while not stop.is_set() and (max_jobs is None or done < max_jobs):
            worker_heartbeat(ctx.db, worker_id, None)
            if ctx.settings.planner.continuous:
                batch_queue_head(ctx, host_name)
            claim = store.claim_next_job(
                ctx.db,
                worker_id,
                lease_seconds=ctx.settings.lease_seconds,
                backends=None,
                host_name=choice.config.name,
            )
            if claim is None:
                if once or exit_when_idle:
                    break
                stop.wait(idle)
                idle = min(idle * 1.5, defaults.IDLE_POLL_MAX_SECONDS)
                continue
            idle = defaults.IDLE_POLL_SECONDS
            executor.execute(claim)
            done += 1
            if once:
                break
    finally:
        stop_worker(ctx.db, worker_id)
        host.close()
        log.info("worker=%s stopped after %d job(s)", worker_id, done)
    return done
