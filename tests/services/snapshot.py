"""A full dump of every table, to prove that a refused request changed nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from cosmos_workflow.services.context import Context
from cosmos_workflow.store.models import Base


def database_snapshot(ctx: Context) -> dict[str, list[tuple[Any, ...]]]:
    dump: dict[str, list[tuple[Any, ...]]] = {}
    with ctx.db.read() as session:
        for table in Base.metadata.sorted_tables:
            rows = session.execute(select(table)).all()
            dump[table.name] = sorted(tuple(map(repr, row)) for row in rows)
    return dump
