"""`GET /api/events`: the events table as server-sent events, resumable by id.

Ordering. SQLite serialises writers, so event ids become visible in order. On PostgreSQL ids come
from a sequence when a row is inserted, but transactions commit in any order: id 41 can become
visible after id 42 was already sent. The stream therefore only advances over a contiguous run
of ids; at a gap it waits for the missing id, and only after a grace period
(`defaults.STREAM_GAP_GRACE_SECONDS`) treats it as an id that will never appear (a rolled-back
transaction also consumes a sequence number) and moves past it. A client that reconnects with
the last id it saw misses nothing that committed within the grace period."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool

from cosmos_workflow import defaults
from cosmos_workflow.services import events
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.events import EventView

RETRY_MS = 2000  # the reconnect delay EventSource clients are told to use
READ_BATCH = 500


@dataclass
class Cursor:
    """The last id sent, and since when the stream has been waiting at a gap."""

    last_id: int
    gap_since: float | None = None
    pending: list[EventView] = field(default_factory=list)

    def advance(self, fresh: list[EventView], clock: float, contiguous: bool) -> list[EventView]:
        """Events safe to send now, in id order; the rest stay pending for the next poll."""
        known = {e.id: e for e in self.pending}
        known.update({e.id: e for e in fresh if e.id > self.last_id})
        ready: list[EventView] = []
        for event_id in sorted(known):
            if contiguous and event_id != self.last_id + 1:
                if self.gap_since is None:
                    self.gap_since = clock
                if clock - self.gap_since < defaults.STREAM_GAP_GRACE_SECONDS:
                    break
            ready.append(known[event_id])
            self.last_id = event_id
            self.gap_since = None
        self.pending = [known[i] for i in sorted(known) if i > self.last_id]
        return ready


def frame_schema() -> dict[str, Any]:
    """One frame of the stream as OpenAPI 3.1 describes a server-sent event: its `id`, and its
    `data` a JSON-encoded event (the `retry:` and keep-alive lines carry no event)."""
    return {
        "type": "object",
        "required": ["id", "data"],
        "properties": {
            "id": {"type": "string", "pattern": "^[0-9]+$"},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": EventView.model_json_schema(mode="serialization"),
            },
        },
    }


async def start_of_stream(ctx: Context) -> int:
    """The newest event id, read in a worker thread: a blocking read on the event loop would
    stall every request the server is answering until the database replies."""
    return await run_in_threadpool(events.latest_event_id, ctx)


def format_event(event: EventView) -> str:
    payload = json.dumps(event.model_dump(mode="json"), separators=(",", ":"))
    return f"id: {event.id}\ndata: {payload}\n\n"


def read_after(ctx: Context, after: int) -> list[EventView]:
    return events.events_since(ctx, after, READ_BATCH)


async def event_stream(
    ctx: Context,
    after: int,
    *,
    follow: bool,
    job_id: str | None,
    kinds: frozenset[str] | None,
    disconnected: Callable[[], asyncio.Future[bool] | object],
) -> AsyncIterator[str]:
    """Yield SSE frames for every event after `after`; keep following new ones when `follow`.

    Gap handling needs every id, so a filtered stream (job or kinds) reads unfiltered and
    filters after ordering."""
    contiguous = not ctx.db.is_sqlite
    cursor = Cursor(after)
    yield f"retry: {RETRY_MS}\n\n"
    last_write = time.monotonic()
    while True:
        fresh = await asyncio.to_thread(read_after, ctx, cursor.last_id)
        ready = cursor.advance(fresh, time.monotonic(), contiguous)
        for event in ready:
            if _wanted(event, job_id, kinds):
                yield format_event(event)
                last_write = time.monotonic()
        if len(fresh) >= READ_BATCH and ready:
            continue
        if not follow:
            return
        if await _is_disconnected(disconnected):
            return
        if time.monotonic() - last_write >= defaults.STREAM_KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"
            last_write = time.monotonic()
        await asyncio.sleep(defaults.STREAM_POLL_SECONDS)


def _wanted(event: EventView, job_id: str | None, kinds: frozenset[str] | None) -> bool:
    if job_id and event.job_id != job_id:
        return False
    return not kinds or event.kind in kinds


async def _is_disconnected(check: Callable[[], object]) -> bool:
    result = check()
    if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
        return bool(await result)
    return bool(result)
