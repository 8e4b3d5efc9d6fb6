"""`Database.write_retrying`: a transaction PostgreSQL picks as a deadlock victim runs again from
the start and commits; any other error is raised at once, without a retry."""

from __future__ import annotations

import logging
import threading

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cosmos_workflow.services.context import Context
from cosmos_workflow.store.jobs import add_jobs, new_job_row
from cosmos_workflow.store.models import JobRow


def _two_jobs(ctx: Context) -> list[str]:
    rows = [
        new_job_row(
            kind="inference",
            backend="transfer1",
            priority=0,
            position=i,
            max_attempts=3,
            predicted_seconds=None,
        )
        for i in range(2)
    ]
    with ctx.db.write() as session:
        add_jobs(session, rows, [])
    return [str(row["id"]) for row in rows]


def _bump(session: Session, job_id: str) -> None:
    session.execute(update(JobRow).where(JobRow.id == job_id).values(priority=JobRow.priority + 1))


# SQLite's writers queue behind BEGIN IMMEDIATE: they cannot deadlock.
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_deadlock_victim_is_run_again_and_both_commit(
    ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = _two_jobs(ctx)
    both_hold_one = threading.Barrier(2, timeout=10)
    attempts: list[str] = []
    errors: list[BaseException] = []

    def crosswise(mine: str, theirs: str) -> None:
        def work(session: Session) -> None:
            attempts.append(mine)
            _bump(session, mine)
            if attempts.count(mine) == 1:
                both_hold_one.wait()  # each holds its row and reaches for the other's
            _bump(session, theirs)

        try:
            ctx.db.write_retrying(work, what="crosswise test")
        except BaseException as exc:  # recorded: the test fails naming it
            errors.append(exc)

    caplog.set_level(logging.WARNING, logger="cosmos_workflow.store.db")
    threads = [
        threading.Thread(target=crosswise, args=(first, second)),
        threading.Thread(target=crosswise, args=(second, first)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(attempts) == 3, "one of the two ran again, once"
    assert "crosswise test: deadlock detected" in caplog.text
    with ctx.db.read() as session:
        priorities = session.scalars(select(JobRow.priority).where(JobRow.id.in_([first, second])))
        assert sorted(priorities) == [2, 2], "each committed both of its bumps, once"


def test_any_other_error_is_raised_at_once(ctx: Context) -> None:
    (job_id, _) = _two_jobs(ctx)
    calls: list[int] = []
    slept: list[float] = []

    def duplicate(session: Session) -> None:
        calls.append(1)
        row = new_job_row(
            kind="inference",
            backend="transfer1",
            priority=0,
            position=0,
            max_attempts=3,
            predicted_seconds=None,
        )
        add_jobs(session, [{**row, "id": job_id}], [])
        session.flush()

    with pytest.raises(IntegrityError):
        ctx.db.write_retrying(duplicate, what="duplicate", sleep=slept.append)
    assert calls == [1] and slept == []
