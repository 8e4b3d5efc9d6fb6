"""Sweep rows, their names, and what a sweep's runs look like together: counts by status and
the runs in the order the sweep queued them."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cosmos_workflow.domain.errors import Conflict
from cosmos_workflow.domain.ids import new_id
from cosmos_workflow.store.db import now
from cosmos_workflow.store.models import RunRow, SweepRow

_CHUNK = 500


def new_sweep_id() -> str:
    return new_id("sw")


def new_sweep_row(sweep_id: str, name: str, spec: dict[str, Any], runs: int) -> dict[str, Any]:
    return {
        "id": sweep_id,
        "name": name,
        "created_at": now(),
        "spec": spec,
        "runs": runs,
    }


def free_name(session: Session, name: str | None, also_taken: Iterable[str] = ()) -> str:
    """The asked name (a taken one is a Conflict), or `sweep-<date>-<n>` with the first free n
    (`also_taken`: names given to sweeps of the same submission, not yet inserted)."""
    reserved = set(also_taken)
    if name is not None:
        if name in reserved or taken_names(session, [name]):
            raise Conflict(f"a sweep named {name!r} exists; choose another name", field="name")
        return name
    prefix = time.strftime("sweep-%Y%m%d-", time.localtime())
    taken = names_like(session, prefix) | reserved
    number = 1
    while f"{prefix}{number}" in taken:
        number += 1
    return f"{prefix}{number}"


def add_sweeps(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert sweeps. A name another transaction took since `free_name` looked (two sweeps
    named at the same moment, on PostgreSQL) is a Conflict, not a database error."""
    if not rows:
        return
    try:
        with session.begin_nested():
            session.execute(insert(SweepRow), list(rows))
    except IntegrityError:
        names = ", ".join(repr(row["name"]) for row in rows)
        raise Conflict(
            f"a sweep named {names} was queued meanwhile; try again", field="name"
        ) from None


def find_sweep(session: Session, id_or_name: str) -> SweepRow | None:
    return session.scalars(
        select(SweepRow).where(or_(SweepRow.id == id_or_name, SweepRow.name == id_or_name))
    ).first()


def taken_names(session: Session, names: Iterable[str]) -> set[str]:
    wanted = sorted(set(names))
    if not wanted:
        return set()
    return set(session.scalars(select(SweepRow.name).where(SweepRow.name.in_(wanted))).all())


def names_like(session: Session, prefix: str) -> set[str]:
    """Names that start with `prefix` (to number a default name past the ones taken)."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    query = select(SweepRow.name).where(SweepRow.name.like(f"{escaped}%", escape="\\"))
    return set(session.scalars(query).all())


def sweeps_page(session: Session, limit: int, offset: int) -> tuple[list[SweepRow], int]:
    """Sweeps, newest first, and how many there are."""
    total = int(session.scalar(select(func.count()).select_from(SweepRow)) or 0)
    rows = session.scalars(
        select(SweepRow)
        .order_by(SweepRow.created_at.desc(), SweepRow.id)
        .offset(offset)
        .limit(limit)
    ).all()
    return list(rows), total


def status_counts(session: Session, sweep_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Each sweep's runs counted by status (one statement per 500 sweeps)."""
    counts: dict[str, dict[str, int]] = {sweep_id: {} for sweep_id in sweep_ids}
    ids = list(sweep_ids)
    for start in range(0, len(ids), _CHUNK):
        rows = session.execute(
            select(RunRow.sweep_id, RunRow.status, func.count())
            .where(RunRow.sweep_id.in_(ids[start : start + _CHUNK]))
            .group_by(RunRow.sweep_id, RunRow.status)
        ).all()
        for sweep_id, status, count in rows:
            counts[str(sweep_id)][str(status)] = int(count)
    return counts


def runs_of_sweep(session: Session, sweep_id: str) -> list[RunRow]:
    """A sweep's runs in the order it queued them."""
    return list(
        session.scalars(
            select(RunRow)
            .where(RunRow.sweep_id == sweep_id)
            .order_by(RunRow.created_at, RunRow.origin_job_id, RunRow.origin_index, RunRow.id)
        ).all()
    )


def sweep_names(session: Session, sweep_ids: Iterable[str | None]) -> dict[str, str]:
    ids = sorted({s for s in sweep_ids if s})
    found: dict[str, str] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = session.execute(
            select(SweepRow.id, SweepRow.name).where(SweepRow.id.in_(ids[start : start + _CHUNK]))
        ).all()
        found.update((sweep_id, name) for sweep_id, name in rows)
    return found
