"""One supervisor per attempt, from the claim to the final write (collection included).

It renews the lease every heartbeat, looks for a cancel request every second, flushes the output
lines as events, and rides out transient database errors (each tick is retried and logged). It
sets `stop`, which kills the model process, when:

- the store says the lease is gone (reaped, maybe claimed by another worker): `lease_lost`;
- the lease could not be renewed for a whole lease length (another worker may reap it now, so
  going on could run the job twice): `lease_lost` too;
- a cancel was requested: `cancel_requested`;
- the database stayed unreachable past `database_outage_seconds`: `fatal` (the worker stops);
- the worker is stopping and the stop grace ran out (or a second SIGTERM/Ctrl-C came):
  `releasing` (the job goes back to the queue without charging an attempt).

Modelled on rq's `monitor_work_horse` (a loop that waits on the work with a timeout and renews
heartbeats each turn), with the database as the only shared state."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType

from cosmos_workflow import defaults
from cosmos_workflow.store import jobs
from cosmos_workflow.store.db import TRANSIENT_ERRORS, Database
from cosmos_workflow.store.workers import worker_heartbeat

log = logging.getLogger(__name__)


class AttemptSupervisor:
    def __init__(
        self,
        db: Database,
        claim: jobs.Claim,
        *,
        worker_id: str,
        lease_seconds: float,
        outage_seconds: float,
        kill: threading.Event,
        flush: Callable[[], None],
    ) -> None:
        self.db = db
        self.claim = claim
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.outage_seconds = outage_seconds
        self.kill = kill
        self.flush = flush
        self.stop = threading.Event()  # set: kill the model process now
        self.lease_lost = False
        self.cancel_requested = False
        self.releasing = False  # the worker is stopping: give the job back, uncharged
        self.fatal: str | None = None
        # Set by the executor before its final, lease-guarded write: the process has ended and
        # that write checks the lease itself, so a lease that reads as gone from then on is the
        # write's own doing (a finish clears it), not a loss to act on.
        self._final_write = threading.Event()
        self._done = threading.Event()
        self._renewed_at = time.monotonic()  # the claim itself granted a full lease
        self._failing_since: float | None = None
        self._thread = threading.Thread(
            target=self._loop, name=f"supervisor-{claim.job_id}", daemon=True
        )

    def __enter__(self) -> AttemptSupervisor:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join()
        self._tick(self.flush)  # the last lines of the process

    def final_write(self) -> None:
        self._final_write.set()

    @property
    def may_write(self) -> bool:
        """False once the lease is lost or presumed lost: then nothing more may be written."""
        return not self.lease_lost and self.fatal is None

    # -- the loop ----------------------------------------------------------------------------

    def _loop(self) -> None:
        heartbeat = defaults.heartbeat_seconds(self.lease_seconds)
        next_renewal = time.monotonic() + heartbeat
        next_check = time.monotonic() + defaults.CANCEL_POLL_SECONDS
        while not self._done.wait(defaults.SUPERVISOR_TICK_SECONDS):
            if self.kill.is_set() and not self.releasing:
                log.warning("job=%s: the worker is stopping; ending its process", self.claim.job_id)
                self.releasing = True
                self.stop.set()
            self._tick(self.flush)
            now = time.monotonic()
            if now >= next_renewal:
                if self._tick(self._renew):
                    next_renewal = now + heartbeat
                    next_check = now + defaults.CANCEL_POLL_SECONDS
            elif now >= next_check:
                self._tick(self._check)
                next_check = now + defaults.CANCEL_POLL_SECONDS
            self._watch_the_clock()

    def _renew(self) -> None:
        held, cancel = jobs.renew_lease(
            self.db, self.claim.job_id, self.claim.lease_token, self.lease_seconds
        )
        self._renewed_at = time.monotonic()
        self._seen(held, cancel)
        worker_heartbeat(self.db, self.worker_id, self.claim.job_id)

    def _check(self) -> None:
        held, cancel = jobs.check_lease(self.db, self.claim.job_id, self.claim.lease_token)
        self._seen(held, cancel)

    def _seen(self, held: bool, cancel: bool) -> None:
        if self._final_write.is_set():
            return
        if not held and not self.lease_lost:
            log.warning("job=%s: the lease was lost; stopping its process", self.claim.job_id)
            self.lease_lost = True
            self.stop.set()
        elif cancel and not self.cancel_requested:
            log.info("job=%s: cancel requested; stopping its process", self.claim.job_id)
            self.cancel_requested = True
            self.stop.set()

    def _tick(self, step: Callable[[], None]) -> bool:
        """Run one database step; a transient error is logged and tried again next tick."""
        try:
            step()
        except TRANSIENT_ERRORS as exc:
            if self._failing_since is None:
                self._failing_since = time.monotonic()
            log.warning(
                "job=%s: database unreachable (%s); retrying",
                self.claim.job_id,
                str(exc).splitlines()[0][:200],
            )
            return False
        if self._failing_since is not None:
            log.info("job=%s: database reachable again", self.claim.job_id)
        self._failing_since = None
        return True

    def _watch_the_clock(self) -> None:
        now = time.monotonic()
        if not self.lease_lost and now - self._renewed_at > self.lease_seconds:
            log.warning(
                "job=%s: the lease could not be renewed for %.0fs; stopping its process "
                "(another worker may take the job)",
                self.claim.job_id,
                now - self._renewed_at,
            )
            self.lease_lost = True
            self.stop.set()
        failing = self._failing_since
        if self.fatal is None and failing is not None and now - failing > self.outage_seconds:
            self.fatal = f"the database was unreachable for more than {self.outage_seconds:g}s"
            log.error("job=%s: %s", self.claim.job_id, self.fatal)
            self.stop.set()
