"""The events table as readers see it: state changes, progress and log lines in id order."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.views import row_columns
from cosmos_workflow.store.events import events_after, newest_event_id
from cosmos_workflow.store.models import EventRow

MAX_EVENTS_PER_READ = 5_000


class EventView(BaseModel):
    id: int
    created_at: float
    kind: str
    job_id: str | None
    run_id: str | None
    data: dict[str, Any]

    @classmethod
    def of(cls, row: EventRow) -> EventView:
        return cls.model_validate({**row_columns(row), "data": dict(row.data or {})})


MAX_EVENT_ID = 2**63 - 1  # event ids are 64-bit integers on both databases


def events_since(
    ctx: Context,
    after_id: int,
    limit: int = 500,
    *,
    job_id: str | None = None,
    kinds: frozenset[str] | None = None,
) -> list[EventView]:
    """Events with an id above `after_id`, oldest first, optionally of one job or some kinds."""
    if not 1 <= limit <= MAX_EVENTS_PER_READ:
        raise InvalidInput(f"limit must be 1 to {MAX_EVENTS_PER_READ}", field="limit")
    if not 0 <= after_id <= MAX_EVENT_ID:
        raise InvalidInput(f"after must be 0 to {MAX_EVENT_ID}", field="after")
    with ctx.db.read() as session:
        rows = events_after(session, after_id, limit, job_id=job_id, kinds=kinds)
        return [EventView.of(row) for row in rows]


def latest_event_id(ctx: Context) -> int:
    """The highest event id now visible (0 when there is none): where a live view starts."""
    with ctx.db.read() as session:
        return newest_event_id(session)
