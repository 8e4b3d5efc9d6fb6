"""Queue and run lists read one page with a bounded number of statements and rows, whatever the
history holds (counted on the real engine, SQLite and PostgreSQL), and the pages they read are
the pages of the full, ordered list."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, update

from cosmos_workflow.domain.states import JobStatus, RunStatus
from cosmos_workflow.services import queue, runs
from cosmos_workflow.services.context import Context
from cosmos_workflow.store import jobs as store
from cosmos_workflow.store.events import record_event
from cosmos_workflow.store.models import JobRow, RunRow
from tests.services.helpers import seed_prompts

WEIGHTS = ({"edge": 0.5}, {"depth": 0.7}, {"edge": 0.4, "seg": 0.6})


@contextmanager
def counted(ctx: Context) -> Iterator[list[str]]:
    """The SQL statements the context's engines execute inside the block, and one "row" entry
    per job or run row loaded (a list that read the whole history would load all of it)."""
    seen: list[str] = []

    def statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        seen.append(sql)

    def row(target: Any, _context: Any) -> None:
        seen.append("row")

    engines = {ctx.db.read_engine, ctx.db.write_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", statement)
    for model in (JobRow, RunRow):
        event.listen(model, "load", row)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", statement)
        for model in (JobRow, RunRow):
            event.remove(model, "load", row)


def _add_jobs(ctx: Context, prompt_ids: list[str], count: int) -> list[str]:
    requests = [queue.build_request(prompt_ids, WEIGHTS[i % len(WEIGHTS)]) for i in range(count)]
    return queue.enqueue_many(ctx, requests).job_ids


def _finish_all_queued(ctx: Context) -> None:
    """Turn what is queued into history (the state a long-used queue leaves behind)."""
    with ctx.db.write() as session:
        session.execute(update(RunRow).where(RunRow.status == "queued").values(status="succeeded"))
        session.execute(update(JobRow).where(JobRow.status == "queued").values(status="succeeded"))


LISTS: dict[str, Callable[[Context], object]] = {
    "queue page": lambda ctx: queue.list_queue(ctx, limit=50),
    "queue page with history": lambda ctx: queue.list_queue(
        ctx, include_history=True, limit=50, offset=20
    ),
    "runs page": lambda ctx: runs.list_runs(ctx, limit=50),
    "runs page of a control set": lambda ctx: runs.list_runs(ctx, controls="seg+edge", limit=50),
    "live view": queue.live_jobs,
}


def _costs(ctx: Context) -> dict[str, tuple[int, int]]:
    """(statements, rows loaded) of each list."""
    found = {}
    for name, read in LISTS.items():
        with counted(ctx) as seen:
            read(ctx)
        rows = seen.count("row")
        found[name] = (len(seen) - rows, rows)
    return found


def test_list_statements_do_not_grow_with_the_history(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 2)
    _add_jobs(ctx, prompt_ids, 90)  # history enough to fill every page already
    _finish_all_queued(ctx)
    _add_jobs(ctx, prompt_ids, 6)
    store.claim_next_job(ctx.db, "w", lease_seconds=60)  # one running, five queued
    small = _costs(ctx)
    with ctx.db.write() as session:  # ten times the history, behind the same queue
        session.execute(update(JobRow).where(JobRow.status == "queued").values(status="failed"))
    _add_jobs(ctx, prompt_ids, 900)
    _finish_all_queued(ctx)
    _add_jobs(ctx, prompt_ids, 5)
    large = _costs(ctx)
    assert large == small
    # A page: counts, its segments and its runs; the fleet ETA adds three that do not grow
    # with the history either (running jobs on slots, calibrations, queued predictions), and
    # what each run says one (the page's prompt texts; the sweep names one more when its runs
    # belong to sweeps).
    assert max(statements for statements, _ in large.values()) <= 9, large
    # At most a page of 50 jobs with their 2 runs each, or 50 runs.
    assert max(rows for _, rows in large.values()) <= 150, large


def test_pages_of_the_queue_are_slices_of_the_whole_list(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 1)
    _add_jobs(ctx, prompt_ids, 4)
    _finish_all_queued(ctx)
    _add_jobs(ctx, prompt_ids, 5)
    for _ in range(2):
        store.claim_next_job(ctx.db, "w", lease_seconds=60)
    whole = queue.list_queue(ctx, include_history=True, limit=1000)
    assert whole.total == 9
    assert [j.status for j in whole.jobs] == ["running"] * 2 + ["queued"] * 3 + ["succeeded"] * 4
    assert [j.position for j in whole.jobs[2:5]] == [1, 2, 3]
    for offset in range(10):
        page = queue.list_queue(ctx, include_history=True, limit=2, offset=offset)
        assert page.total == 9
        expected = [(j.id, j.position) for j in whole.jobs[offset : offset + 2]]
        assert [(j.id, j.position) for j in page.jobs] == expected
    active = queue.list_queue(ctx, limit=1000)
    assert active.total == 5 and [j.id for j in active.jobs] == [j.id for j in whole.jobs[:5]]
    assert queue.get_job(ctx, whole.jobs[3].id).position == 2


def test_the_live_view_holds_running_jobs_with_their_latest_progress(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 2)
    _add_jobs(ctx, prompt_ids, 3)
    assert queue.live_jobs(ctx) == []
    claim = store.claim_next_job(ctx.db, "w", lease_seconds=60)
    assert claim is not None
    (live,) = queue.live_jobs(ctx)
    assert live.job.id == claim.job_id and live.progress is None
    assert [r.status for r in live.job.runs] == ["running", "running"]
    with ctx.db.write() as session:
        for step in (1, 2):
            record_event(session, "job.progress", job_id=claim.job_id, step=step, total=9)
    (live,) = queue.live_jobs(ctx)
    assert live.progress == {"step": 2, "total": 9}


def test_runs_filter_in_the_database_on_the_control_set(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 1)
    _add_jobs(ctx, prompt_ids, 6)
    both = runs.list_runs(ctx, controls="seg+edge")
    assert both.total == 2 and all(set(r.weights) == {"edge", "seg"} for r in both.runs)
    assert runs.list_runs(ctx, controls="edge").total == 2
    page = runs.list_runs(ctx, limit=4, offset=4)
    assert page.total == 6 and len(page.runs) == 2
    newest_first = runs.list_runs(ctx).runs
    assert [r.created_at for r in newest_first] == sorted(
        (r.created_at for r in newest_first), reverse=True
    )
    assert runs.list_runs(ctx, status=RunStatus.QUEUED.value).total == 6
    assert queue.queue_status(ctx).queued == 6 == len(queue.list_queue(ctx).jobs)
    assert {j.status for j in queue.list_queue(ctx).jobs} == {JobStatus.QUEUED.value}


def test_a_run_count_past_its_cap_is_a_lower_bound(ctx: Context, monkeypatch: Any) -> None:
    """The count behind `total` stops COUNT_CAP past the page's offset, so it costs the same
    at any history size; a capped total says so (`total_exact` False) instead of lying."""
    from cosmos_workflow.store import runs as run_store

    monkeypatch.setattr(run_store, "COUNT_CAP", 4)
    _add_jobs(ctx, seed_prompts(ctx, 1), 9)
    first = runs.list_runs(ctx, limit=2)
    assert (first.total, first.total_exact, len(first.runs)) == (4, False, 2)
    later = runs.list_runs(ctx, limit=2, offset=4)
    assert (later.total, later.total_exact, len(later.runs)) == (8, False, 2)
    last = runs.list_runs(ctx, limit=2, offset=6)
    assert (last.total, last.total_exact, len(last.runs)) == (9, True, 2)
    assert runs.list_runs(ctx, controls="edge").total_exact  # 3 match, under the cap


def test_the_jobs_tab_tick_reads_the_live_view(ctx: Context) -> None:
    from cosmos_workflow.ui.jobs_tab import follow_running

    prompt_ids = seed_prompts(ctx, 1)
    _add_jobs(ctx, prompt_ids, 2)
    state, text, _ = follow_running(ctx, {})
    assert text == "Nothing is running."
    claim = store.claim_next_job(ctx.db, "w", lease_seconds=60)
    assert claim is not None
    with ctx.db.write() as session:
        record_event(session, "job.progress", job_id=claim.job_id, step=3, total=9)
        record_event(session, "job.log", job_id=claim.job_id, lines=["denoising"])
    with counted(ctx) as seen:
        state, text, log_text = follow_running(ctx, state)
    assert f"Running job `{claim.job_id}`" in text and "step 3 of 9" in text
    assert log_text == "denoising"
    assert seen.count("row") == 2  # the running job and its one run: nothing queued is read
