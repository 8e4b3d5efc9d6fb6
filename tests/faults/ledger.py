"""What counts, for every fault test: run twice, lost, output overwritten, processes left.

The checker itself lives in benchmarks/soak.py (the soak benchmark runs the kill test longer and
must count the same way, and benchmarks import nothing from tests/); this module is the tests'
side of it: the same ledger, plus the assertions and waits the tests share."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

from sqlalchemy import select

from benchmarks.soak import (
    Ledger,
    LiveProcess,
    ProcessWatch,
    live_simulators,
    read_ledger,
    settle,
)
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.models import AttemptRow, RunRow

__all__ = [
    "Ledger",
    "LiveProcess",
    "ProcessWatch",
    "assert_exactly_once",
    "live_simulators",
    "read_ledger",
    "running_attempt",
    "settle",
    "wait_for",
]


def assert_exactly_once(
    ctx: Context, *, fault_free: bool = False, all_succeeded: bool = True, context: str = ""
) -> Ledger:
    """Read the ledger of `ctx`'s database and home and fail with every violation found."""
    ledger = read_ledger(ctx.db, Path(ctx.settings.home))
    problems = ledger.problems(fault_free=fault_free)
    if all_succeeded and set(ledger.run_statuses) - {"succeeded"}:
        problems.append(f"not every run succeeded: {dict(ledger.run_statuses)}")
    prefix = f"{context}\n" if context else ""
    assert not problems, prefix + ledger.report(fault_free=fault_free) + "\n" + _runs(ctx)
    return ledger


def _runs(ctx: Context) -> str:
    """The runs that did not succeed, with their errors (what a failure message needs)."""
    with ctx.db.read() as session:
        rows = session.execute(
            select(RunRow.id, RunRow.status, RunRow.error).where(RunRow.status != "succeeded")
        ).all()
    return "\n".join(f"run {r.id} {r.status}: {r.error}" for r in rows[:10])


def wait_for(
    condition: Callable[[], object], timeout_s: float, what: str, poll_s: float = 0.1
) -> object:
    """Poll until `condition()` is truthy; its value, or AssertionError naming `what`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what}")
        time.sleep(poll_s)


def running_attempt(
    ctx: Context, job_ids: Iterable[str] | None = None, *, after: int = 0
) -> AttemptRow | None:
    """An open attempt (of these jobs, newer than attempt id `after`) whose process has
    started (its group is recorded), if any."""
    query = select(AttemptRow).where(
        AttemptRow.ended_at.is_(None),
        AttemptRow.process_group.is_not(None),
        AttemptRow.id > after,
    )
    if job_ids is not None:
        query = query.where(AttemptRow.job_id.in_(list(job_ids)))
    with ctx.db.read() as session:
        return session.scalars(query.order_by(AttemptRow.id)).first()
