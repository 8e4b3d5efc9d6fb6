"""The worker `cosmos serve` runs inside the server, supervised: whenever the worker loop raises
(a FatalError such as a database outage, or a bug) or returns without being asked to stop, it is
logged and started again after an exponential backoff, so the queue never silently stops while
the UI looks fine. Its state is one thread-safe snapshot that the API and the UI both read."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol
from urllib.parse import unquote, urlsplit

from cosmos_workflow import defaults
from cosmos_workflow.domain.errors import CosmosError, FatalError

if TYPE_CHECKING:
    from cosmos_workflow.services.context import Context

log = logging.getLogger(__name__)

WorkerState = Literal["starting", "running", "restarting", "stopped"]

MAX_ERROR_CHARS = 200
_URL_CREDENTIALS = re.compile(r"(\w+://[^/\s:@]*:)[^@\s]*@")


class RunWorker(Protocol):
    """What the supervisor runs: `cosmos_workflow.worker.loop.run_worker` or a stand-in."""

    def __call__(
        self,
        ctx: Context,
        *,
        host_name: str | None = ...,
        simulate: bool = ...,
        stop: threading.Event | None = ...,
        kill: threading.Event | None = ...,
    ) -> int: ...


@dataclass(frozen=True)
class WorkerSnapshot:
    """The supervised worker at one moment (times are Unix seconds)."""

    state: WorkerState
    since: float  # when it entered `state`
    restarts: int = 0  # how many times it was started again after it exited
    last_error: str | None = None  # why it last exited, one line, secrets masked
    next_start_at: float | None = None  # with state "restarting": when it starts again


class EmbeddedWorker:
    """Runs `run` (default: the real worker loop) in a daemon thread and restarts it whenever it
    raises or returns while no stop was asked, waiting `initial_backoff_s` doubling up to
    `max_backoff_s`; a run that lasted `healthy_after_s` resets the wait."""

    def __init__(
        self,
        ctx: Context,
        *,
        host_name: str | None = None,
        simulate: bool = False,
        run: RunWorker | None = None,
        initial_backoff_s: float = defaults.EMBEDDED_BACKOFF_FIRST_SECONDS,
        max_backoff_s: float = defaults.EMBEDDED_BACKOFF_MAX_SECONDS,
        healthy_after_s: float = defaults.EMBEDDED_HEALTHY_AFTER_SECONDS,
    ) -> None:
        if run is None:
            from cosmos_workflow.worker.loop import run_worker

            run = run_worker
        self._ctx = ctx
        self._host_name = host_name
        self._simulate = simulate
        self._run = run
        self._initial_backoff = initial_backoff_s
        self._max_backoff = max_backoff_s
        self._healthy_after = healthy_after_s
        self._stop = threading.Event()
        self._kill = threading.Event()
        self._backoff = initial_backoff_s
        self._lock = threading.Lock()
        self._snapshot = WorkerSnapshot(state="starting", since=time.time())
        self._secrets = _secrets_of(ctx)
        self._thread = threading.Thread(target=self._supervise, name="cosmos-worker", daemon=True)

    def start(self) -> EmbeddedWorker:
        self._thread.start()
        return self

    def snapshot(self) -> WorkerSnapshot:
        with self._lock:
            return self._snapshot

    def is_alive(self) -> bool:
        """Whether the supervising thread still runs (it ends only after a stop)."""
        return self._thread.is_alive()

    def request_stop(self) -> None:
        """Stop claiming now; the running job goes on (`stop` then waits for it)."""
        self._stop.set()

    def kill_now(self) -> None:
        """End the running job's process now; its job goes back to the queue, uncharged."""
        self._stop.set()
        self._kill.set()

    def stop(self, grace_s: float, kill_wait_s: float = defaults.STOP_KILL_WAIT_SECONDS) -> bool:
        """Ask the worker to stop: its running job may finish for `grace_s` seconds, then its
        process is ended and the job given back to the queue without charging an attempt,
        which may take `kill_wait_s` more. True when the worker ended."""
        self._stop.set()
        if not self._thread.is_alive():  # never started, or already ended
            self._enter("stopped")
            return True
        self._thread.join(grace_s)
        if self._thread.is_alive():
            log.warning("embedded worker: the running job did not finish in time; ending it")
            self._kill.set()
            self._thread.join(kill_wait_s)
        if self._thread.is_alive():
            log.error("embedded worker did not stop within %.0f s of being killed", kill_wait_s)
            return False
        return True

    def _enter(
        self, state: WorkerState, *, error: str | None = None, next_start_at: float | None = None
    ) -> WorkerSnapshot:
        with self._lock:
            old = self._snapshot
            self._snapshot = WorkerSnapshot(
                state=state,
                since=old.since if state == old.state else time.time(),
                restarts=old.restarts
                + (1 if state == "running" and old.state == "restarting" else 0),
                last_error=error or old.last_error,
                next_start_at=next_start_at,
            )
            return self._snapshot

    def _supervise(self) -> None:
        try:
            while not self._stop.is_set():
                self._enter("running")
                started = time.monotonic()
                try:
                    self._run(
                        self._ctx,
                        host_name=self._host_name,
                        simulate=self._simulate,
                        stop=self._stop,
                        kill=self._kill,
                    )
                except FatalError as exc:
                    reason, delay = self._one_line(exc), self._next_delay(started)
                    log.error("embedded worker stopped: %s; %s", reason, self._then(delay))
                except Exception as exc:
                    reason, delay = self._one_line(exc), self._next_delay(started)
                    log.exception(
                        "embedded worker crashed (a bug): %s; %s", reason, self._then(delay)
                    )
                else:
                    if self._stop.is_set():
                        break
                    reason = "the worker loop returned without being asked to stop"
                    delay = self._next_delay(started)
                    log.warning("embedded worker: %s; %s", reason, self._then(delay))
                if self._stop.is_set():
                    break
                self._enter("restarting", error=reason, next_start_at=time.time() + delay)
                if self._stop.wait(delay):
                    break
        finally:
            snapshot = self._enter("stopped")
            if self._stop.is_set():
                log.info("embedded worker stopped (%d restart(s))", snapshot.restarts)
            else:  # only an exception outside Exception (SystemExit...) gets here
                log.error("embedded worker ended without a stop request; it is not restarted")

    def _next_delay(self, started: float) -> float:
        """The wait before the next start: doubling from the initial one, reset by a run that
        lasted `healthy_after_s`."""
        if time.monotonic() - started >= self._healthy_after:
            self._backoff = self._initial_backoff
        delay, self._backoff = self._backoff, min(self._backoff * 2, self._max_backoff)
        return delay

    def _then(self, delay: float) -> str:
        if self._stop.is_set():
            return "not restarting it (a stop was asked)"
        return f"restarting it in {delay:g} s"

    def _one_line(self, exc: BaseException) -> str:
        """The exception as one line without a traceback, its secrets masked."""
        text = exc.message if isinstance(exc, CosmosError) else f"{type(exc).__name__}: {exc}"
        text = (text.strip().splitlines() or [type(exc).__name__])[0]
        text = _URL_CREDENTIALS.sub(r"\1***@", text)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def _secrets_of(ctx: Context) -> tuple[str, ...]:
    """What must never reach `last_error`: the API token and the database password (as written
    in the URL and percent-decoded, the form a driver's message may quote)."""
    found = [ctx.settings.api_token]
    # An unparsable URL fails the worker itself, with its own message.
    with contextlib.suppress(ValueError):
        password = urlsplit(ctx.settings.resolved_database_url).password
        if password:
            found += [password, unquote(password)]
    return tuple(s for s in found if isinstance(s, str) and s)
