"""The events table: state changes, progress and log lines in one monotonic id sequence, written
inside the transaction that made the change and read by the live stream."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Insert,
    String,
    Table,
    bindparam,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.orm import Session

from cosmos_workflow.store.models import EventRow

_EVENTS = cast(Table, EventRow.__table__)


def record_event(
    session: Session,
    kind: str,
    *,
    job_id: str | None = None,
    run_id: str | None = None,
    **data: Any,
) -> None:
    # A Core INSERT, sent at once: the ORM unit of work would cost more than the write itself
    # on hot paths (every claim and finish records one).
    session.execute(
        insert(_EVENTS).values(
            created_at=time.time(), kind=kind, job_id=job_id, run_id=run_id, data=data
        )
    )


# A change's event, for the statements that a hot path builds once (`jobs.StatusMove`): its time
# and data are bind parameters.
_EVENT_AT = bindparam("p_event_at", type_=_EVENTS.c.created_at.type)
_EVENT_DATA = bindparam("p_event_data", type_=_EVENTS.c.data.type)


def job_event(kind: str) -> Insert:
    """An INSERT of one job's event; the job's id is bound as `p_moved`."""
    job_id = bindparam("p_moved", type_=String)
    return insert(_EVENTS).values(created_at=_EVENT_AT, kind=kind, job_id=job_id, data=_EVENT_DATA)


def event_per_row(kind: str, job_ids: ColumnElement[str]) -> Insert:
    """An INSERT of one event per id that `job_ids` yields (a column of a CTE that changed
    jobs), so a change and its events can be one statement."""
    rows = select(_EVENT_AT, literal(kind, _EVENTS.c.kind.type), job_ids, _EVENT_DATA)
    return insert(_EVENTS).from_select(["created_at", "kind", "job_id", "data"], rows)


def events_after(
    session: Session,
    after_id: int,
    limit: int,
    *,
    job_id: str | None = None,
    kinds: frozenset[str] | None = None,
) -> Sequence[EventRow]:
    """Events with an id above `after_id`, oldest first, optionally of one job or some kinds."""
    query = select(EventRow).where(EventRow.id > after_id)
    if job_id:
        query = query.where(EventRow.job_id == job_id)
    if kinds:
        query = query.where(EventRow.kind.in_(sorted(kinds)))
    return session.scalars(query.order_by(EventRow.id).limit(limit)).all()


def newest_event_id(session: Session) -> int:
    """The highest event id now visible; 0 when there is none."""
    return int(session.scalar(select(func.max(EventRow.id))) or 0)


def latest_events(session: Session, kind: str, job_ids: Sequence[str]) -> dict[str, EventRow]:
    """Each of these jobs' newest event of `kind` (one statement; through the job_id index)."""
    if not job_ids:
        return {}
    newest = (
        select(func.max(EventRow.id))
        .where(EventRow.kind == kind, EventRow.job_id.in_(list(job_ids)))
        .group_by(EventRow.job_id)
    )
    rows = session.scalars(select(EventRow).where(EventRow.id.in_(newest))).all()
    return {row.job_id: row for row in rows if row.job_id is not None}
