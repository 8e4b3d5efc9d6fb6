"""A worker's two-step stop, as SIGTERM and SIGINT ask for it.

The first request stops claiming and lets the running job finish for the stop grace; when the
grace runs out, or a second request comes, the job's process is ended and the job goes back to
the queue without charging an attempt (worker/execute.py). systemd, Docker and Kubernetes stop
a service with SIGTERM and kill it after their own timeout, so that timeout should exceed the
grace plus the process's kill grace (docs/operations.md)."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


class StopRequests:
    """`stop` and `kill`, the events `run_worker` watches, set by `request` and the grace timer."""

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self.stop = threading.Event()
        self.kill = threading.Event()
        self._timer: threading.Timer | None = None

    def request(self) -> bool:
        """Ask the worker to stop; True for the first request (the grace starts), False for a
        later one (the running job is ended now)."""
        if self.stop.is_set():
            self.kill.set()
            return False
        self.stop.set()
        self._timer = threading.Timer(self.grace_s, self._grace_over)
        self._timer.daemon = True
        self._timer.start()
        return True

    def close(self) -> None:
        """The worker ended: the timer has nothing left to kill."""
        if self._timer is not None:
            self._timer.cancel()

    def _grace_over(self) -> None:
        if not self.kill.is_set():
            log.warning(
                "the stop grace (%g s) is over: ending the running job; it goes back to the queue",
                self.grace_s,
            )
            self.kill.set()
