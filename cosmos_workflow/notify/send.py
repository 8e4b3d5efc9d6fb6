"""One target's sender: a thread with a bounded queue that POSTs each notification, retrying
what may pass later (a connection error, a timeout, a 5xx or 429 answer, after its Retry-After)
with exponential backoff and jitter a bounded number of times, then logging it as given up.

Whoever hands a notification over never waits: `submit` only appends (dropping the oldest, with
a warning, when the queue is full). Logs name the target by scheme and host only: the URL's path
and the headers often hold a token."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

import httpx

from cosmos_workflow.config import NotifyConfig
from cosmos_workflow.notify.messages import Notification, Outgoing, render

log = logging.getLogger(__name__)

QUEUE_CAPACITY = 1000
SEND_ATTEMPTS = 5
FIRST_BACKOFF_SECONDS = 2.0
MAX_BACKOFF_SECONDS = 120.0
THREAD_PREFIX = "notify-"


class _HideRequestLines(logging.Filter):
    """httpx logs each request's full URL (at INFO): dropped for our senders' threads, whose
    URLs may hold a token; their own lines say the same without it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.threadName or not record.threadName.startswith(THREAD_PREFIX)


logging.getLogger("httpx").addFilter(_HideRequestLines())


class _Retry(Exception):
    """A failure that may pass later; `wait` is what the server asked for (Retry-After)."""

    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


class Sender:
    """Sends one target's notifications in a thread of its own, oldest first."""

    def __init__(
        self,
        target: NotifyConfig,
        *,
        capacity: int = QUEUE_CAPACITY,
        attempts: int = SEND_ATTEMPTS,
        first_backoff_s: float = FIRST_BACKOFF_SECONDS,
        max_backoff_s: float = MAX_BACKOFF_SECONDS,
    ) -> None:
        self.target = target
        self.attempts = attempts
        self.first_backoff_s = first_backoff_s
        self.max_backoff_s = max_backoff_s
        self._queue: deque[Notification] = deque()
        self._capacity = capacity
        self._ready = threading.Condition()
        self._closing = False
        self._abandon = threading.Event()  # cuts a backoff short when the worker stops
        self._thread = threading.Thread(
            target=self._loop, name=f"{THREAD_PREFIX}{target.where}", daemon=True
        )
        self._client = httpx.Client(timeout=target.timeout_seconds, follow_redirects=False)

    def start(self) -> Sender:
        self._thread.start()
        return self

    def submit(self, note: Notification) -> None:
        """Queue `note`; never blocks on the network."""
        with self._ready:
            if len(self._queue) >= self._capacity:
                dropped = self._queue.popleft()
                log.warning(
                    "notify %s: queue full (%d); dropped the oldest: %s %s",
                    self.target.where,
                    self._capacity,
                    dropped.event,
                    dropped.subject,
                )
            self._queue.append(note)
            self._ready.notify()

    def close(self, wait_s: float) -> None:
        """Send what is queued for up to `wait_s` seconds, then give up on the rest (the thread
        is a daemon: a request still hanging ends with the process)."""
        with self._ready:
            self._closing = True
            self._ready.notify()
        if self._thread.is_alive():
            self._thread.join(wait_s)
        if self._thread.is_alive():
            self._abandon.set()
            with self._ready:
                left = len(self._queue)
            log.warning(
                "notify %s: stopping with %d notification(s) unsent and one in flight",
                self.target.where,
                left,
            )
            return
        self._client.close()

    def _next(self) -> Notification | None:
        with self._ready:
            while not self._queue and not self._closing:
                self._ready.wait()
            return self._queue.popleft() if self._queue else None

    def _loop(self) -> None:
        while (note := self._next()) is not None:
            if self._abandon.is_set():
                return
            try:
                self.deliver(note)
            except Exception:  # a bug here must not end the sender: the next one still goes
                log.exception(
                    "notify %s: %s %s failed", self.target.where, note.event, note.subject
                )

    def deliver(self, note: Notification) -> bool:
        """POST `note`, retrying what may pass later; True when the target took it. Every
        attempt sends the same body (rendered once), so a receiver can tell a retry."""
        outgoing = render(note, self.target.format, time.time())
        for attempt in range(1, self.attempts + 1):
            try:
                return self._post(note, outgoing)
            except _Retry as failure:
                if attempt == self.attempts:
                    log.warning(
                        "notify %s: gave up on %s %s after %d attempt(s): %s",
                        self.target.where,
                        note.event,
                        note.subject,
                        attempt,
                        failure.reason,
                    )
                    return False
                delay = self._delay(attempt, failure.wait)
                log.info(
                    "notify %s: %s %s: %s (attempt %d of %d); retrying in %.1fs",
                    self.target.where,
                    note.event,
                    note.subject,
                    failure.reason,
                    attempt,
                    self.attempts,
                    delay,
                )
                if self._abandon.wait(delay):
                    return False
        return False

    def _post(self, note: Notification, outgoing: Outgoing) -> bool:
        headers = {**outgoing.headers, **self.target.headers}
        try:
            answer = self._client.post(self.target.url, content=outgoing.body, headers=headers)
        except httpx.TimeoutException:
            raise _Retry(f"no answer within {self.target.timeout_seconds:g}s") from None
        except httpx.NetworkError as error:  # the operating system's words: no URL in them
            raise _Retry(f"{type(error).__name__}: {_first_line(error)}") from None
        except httpx.TransportError as error:  # its text may quote the request: not shown
            raise _Retry(type(error).__name__) from None
        status = answer.status_code
        if status == 429 or status >= 500:
            raise _Retry(f"HTTP {status}", retry_after(answer.headers))
        if status >= 300:
            # Refused as sent (bad token, unknown topic, a redirect we do not follow): sending
            # the same request again would be refused again.
            log.warning(
                "notify %s: %s %s refused with HTTP %d; not retried",
                self.target.where,
                note.event,
                note.subject,
                status,
            )
            return False
        log.info("notify %s: sent %s %s", self.target.where, note.event, note.subject)
        return True

    def _delay(self, attempt: int, asked: float | None) -> float:
        """The server's Retry-After when it gave one (within the cap), else exponential
        backoff with jitter, so workers that failed together do not retry together."""
        if asked is not None:
            return min(asked, self.max_backoff_s)
        backoff = min(self.first_backoff_s * 2.0 ** (attempt - 1), self.max_backoff_s)
        return backoff * (0.5 + random.random() / 2)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Retry-After in seconds: a number of seconds or an HTTP date; None when absent or bad."""
    value = headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, float(when.timestamp()) - time.time())


def _first_line(error: Exception) -> str:
    text = (str(error).strip().splitlines() or [""])[0]
    return text[:200]
