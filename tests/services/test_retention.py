"""Retention through the service layer, on SQLite and PostgreSQL: what a prune removes and what
it keeps, a dry run that changes nothing, bulk deletes, and the worker's prune on start.

Jobs are finished by the real worker and simulator; "later" is the service's `now`, so nothing
in the database is faked."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Connection

from cosmos_workflow.config import load_settings
from cosmos_workflow.domain.errors import ConfigError, InvalidInput
from cosmos_workflow.services import batching, queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.retention import parse_age, prune
from cosmos_workflow.store import attempts
from cosmos_workflow.store import retention as retention_store
from cosmos_workflow.store.models import (
    AttemptRow,
    EventRow,
    InputRow,
    JobRow,
    PlanRow,
    PromptRow,
    RunRow,
)
from cosmos_workflow.worker.loop import RetentionTimer, run_worker
from tests.services.helpers import seed_prompts
from tests.services.history import age_history, files_under
from tests.services.snapshot import database_snapshot

MONTH = timedelta(days=30)


def later(days: float) -> float:
    return time.time() + days * 86_400


@pytest.fixture(autouse=True)
def _fast_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSMOS_SIM_TIME_SCALE", "0")


def _enqueue(ctx: Context, prompt_ids: list[str], edge: float) -> str:
    return queue.enqueue(ctx, queue.build_request(prompt_ids, {"edge": edge})).job_id


def _work(ctx: Context) -> int:
    return run_worker(ctx, simulate=True, exit_when_idle=True)


def _ids(ctx: Context, column: object) -> set[str]:
    with ctx.db.read() as session:
        return set(session.scalars(select(column)))  # type: ignore[call-overload]


def _count(ctx: Context, table: type) -> int:
    with ctx.db.read() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def _workdirs(ctx: Context, job_id: str) -> list[Path]:
    with ctx.db.read() as session:
        found = session.scalars(select(AttemptRow.workdir).where(AttemptRow.job_id == job_id))
        return [Path(w) for w in found if w]


@pytest.fixture
def history(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A succeeded job, a failed one (its work directory kept), a cancelled one, a queued one."""
    p0, p1, p2, p3 = seed_prompts(ctx, 4)
    succeeded = _enqueue(ctx, [p0], 0.5)
    assert _work(ctx) == 1
    failed = _enqueue(ctx, [p1], 0.6)
    with monkeypatch.context() as patch:
        patch.setenv("COSMOS_SIM_FAULTS", json.dumps({"guardrail_block": [1]}))
        assert _work(ctx) == 1
    cancelled = _enqueue(ctx, [p2], 0.7)
    queue.cancel_job(ctx, cancelled)
    queued = _enqueue(ctx, [p3], 0.8)
    statuses = {job_id: queue.get_job(ctx, job_id).status for job_id in (succeeded, failed)}
    assert statuses == {succeeded: "succeeded", failed: "failed"}
    return {"succeeded": succeeded, "failed": failed, "cancelled": cancelled, "queued": queued}


def test_prune_removes_old_finished_jobs_and_keeps_live_work(
    ctx: Context, history: dict[str, str]
) -> None:
    (failed_dir,) = _workdirs(ctx, history["failed"])
    assert failed_dir.is_dir(), "a failed attempt keeps its work directory"
    (succeeded_run,) = queue.get_job(ctx, history["succeeded"]).runs
    output = ctx.settings.outputs_dir / succeeded_run.id
    assert (output / "output.mp4").is_file()
    prompts, inputs = _ids(ctx, PromptRow.id), _ids(ctx, InputRow.id)

    assert prune(ctx, MONTH, now=later(29)).jobs == 0, "nothing is a month old yet"
    result = prune(ctx, MONTH, now=later(31))

    assert (result.jobs, result.runs, result.attempts, result.timings) == (3, 3, 2, 1)
    assert result.events > 0 and result.plans == 0
    assert result.work_directories.count == 1 and result.work_directories.bytes > 0
    assert result.logs.count == 2, "the logs of the two jobs that ran"
    assert result.outputs.count == 0 and not result.outputs_removed and result.errors == []
    assert _ids(ctx, JobRow.id) == {history["queued"]}
    (queued_run,) = queue.get_job(ctx, history["queued"]).runs
    assert _ids(ctx, RunRow.id) == {queued_run.id}
    assert _ids(ctx, PromptRow.id) == prompts and _ids(ctx, InputRow.id) == inputs
    assert _count(ctx, AttemptRow) == 0 and _count(ctx, EventRow) == 1, "the newest stays"
    assert not failed_dir.exists()
    assert not (ctx.settings.logs_dir / f"{history['succeeded']}.log").exists()
    assert (output / "output.mp4").is_file(), "outputs stay without outputs=True"
    assert prune(ctx, MONTH, now=later(31)).jobs == 0, "a second prune finds nothing"


def test_event_ids_go_on_rising_after_a_prune(ctx: Context, history: dict[str, str]) -> None:
    """A live-stream client resumes after the last event id it saw: a prune must never let a
    new event get an id that was handed out before."""
    with ctx.db.read() as session:
        newest = session.scalar(select(func.max(EventRow.id)))
    assert newest is not None
    assert prune(ctx, MONTH, now=later(31)).events > 0
    _enqueue(ctx, seed_prompts(ctx, 1, input_name="other"), 0.5)
    with ctx.db.read() as session:
        ids = list(session.scalars(select(EventRow.id)))
    assert min(ids) == newest and max(ids) > newest


def test_a_dry_run_counts_what_a_prune_removes_and_changes_nothing(
    ctx: Context, history: dict[str, str]
) -> None:
    (run,) = queue.get_job(ctx, history["succeeded"]).runs
    before = database_snapshot(ctx)
    tree = files_under(ctx.settings.home)
    then = later(31)
    dry = prune(ctx, MONTH, dry_run=True, outputs=True, now=then)
    assert database_snapshot(ctx) == before
    assert files_under(ctx.settings.home) == tree
    assert dry.dry_run and dry.jobs == 3 and dry.outputs.count == 1 and dry.outputs.bytes > 0
    done = prune(ctx, MONTH, outputs=True, now=then)
    assert done.model_dump(exclude={"dry_run"}) == dry.model_dump(exclude={"dry_run"})
    assert not (ctx.settings.outputs_dir / run.id).exists(), "outputs=True removes run folders"


def test_jobs_stay_while_kept_runs_refer_to_them(ctx: Context) -> None:
    """A merged job stays while its batch is queued (its runs came from it); a plan stays while
    a job made from it stays; the source run of a queued upscale stays."""
    prompt_ids = seed_prompts(ctx, 3)
    merged = {_enqueue(ctx, [p], 0.2 + i / 10) for i, p in enumerate(prompt_ids)}
    plan = batching.analyze(ctx, mode="strict")
    (batch,) = batching.apply_plan(ctx, plan.plan_id).created_job_ids
    assert {queue.get_job(ctx, j).status for j in merged} == {"merged"}
    waiting = prune(ctx, MONTH, now=later(31))
    assert (waiting.jobs, waiting.runs, waiting.plans) == (0, 0, 0)
    assert _ids(ctx, JobRow.id) == merged | {batch}

    assert _work(ctx) == 1
    source = queue.get_job(ctx, batch).runs[0].id
    upscale = queue.enqueue_upscale(ctx, source).job_id
    batching.analyze(ctx, mode="strict")  # a plan no job is made from
    kept = prune(ctx, MONTH, now=later(31))
    assert (kept.jobs, kept.plans) == (0, 1), "the batch holds the upscale's source run"
    assert _ids(ctx, PlanRow.id) == {plan.plan_id}

    queue.cancel_job(ctx, upscale)
    done = prune(ctx, MONTH, now=later(31))
    assert (done.jobs, done.runs, done.plans) == (5, 4, 1)
    assert _count(ctx, JobRow) == 0 and _count(ctx, RunRow) == 0 and _count(ctx, PlanRow) == 0


def test_a_job_with_an_open_attempt_stays(ctx: Context) -> None:
    """An attempt still open (its process could not be ended) is how the reaper finds an orphan:
    its job is not pruned until the attempt is closed."""
    job_id = _enqueue(ctx, seed_prompts(ctx, 1), 0.5)
    queue.cancel_job(ctx, job_id)
    process = attempts.AttemptProcess("local", "elsewhere", "/nowhere/x", "job_x_a1")
    attempt_id = attempts.start_attempt(
        ctx.db, job_id=job_id, worker_id="w", lease_token="t", argv=["x"], process=process
    )
    assert prune(ctx, MONTH, now=later(31)).jobs == 0
    attempts.end_attempt(ctx.db, attempt_id, "orphan ended")
    assert prune(ctx, MONTH, now=later(31)).jobs == 1


def _deletes_during(ctx: Context, step: Callable[[], object]) -> list[str]:
    """The tables of the DELETE statements sent while `step` runs."""
    deletes: list[str] = []

    def count(conn: Connection, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("DELETE"):
            deletes.append(statement.split()[2])

    engine = ctx.db.write_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        step()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return deletes


def test_deletes_are_bulk(ctx: Context) -> None:
    """Twelve jobs go in one DELETE per table, not one per row."""
    prompt_ids = seed_prompts(ctx, 12)
    for index, prompt_id in enumerate(prompt_ids):
        queue.cancel_job(ctx, _enqueue(ctx, [prompt_id], (index + 1) / 20))
    results = []
    deletes = _deletes_during(ctx, lambda: results.append(prune(ctx, MONTH, now=later(31))))
    assert (results[0].jobs, results[0].runs) == (12, 12)
    tables = ["events", "notifications", "events", "timings", "attempts", "runs", "jobs"]
    assert sorted(deletes) == sorted(tables)


def test_long_id_lists_are_deleted_in_chunks(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    """With chunks of 5 ids, twelve jobs take three DELETEs per table, and all go."""
    monkeypatch.setattr(retention_store, "CHUNK", 5)
    prompt_ids = seed_prompts(ctx, 12)
    for index, prompt_id in enumerate(prompt_ids):
        queue.cancel_job(ctx, _enqueue(ctx, [prompt_id], (index + 1) / 20))
    deletes = _deletes_during(ctx, lambda: prune(ctx, MONTH, now=later(31)))
    assert _count(ctx, JobRow) == 0 and _count(ctx, RunRow) == 0
    assert deletes.count("jobs") == 3 and deletes.count("runs") == 3
    assert deletes.count("events") == 1 + 3


def test_the_worker_prunes_again_after_its_interval(ctx: Context) -> None:
    """The retention timer prunes at start and then every interval (a day; here half a second):
    history that becomes old while it runs is pruned by its next turn."""
    with_retention = Context(load_settings(retention_days=1))
    timer = RetentionTimer(with_retention, interval_s=0.5)
    try:
        timer.start()
        job_id = _enqueue(ctx, seed_prompts(ctx, 1), 0.5)
        queue.cancel_job(ctx, job_id)
        age_history(ctx, days=2)
        deadline = time.monotonic() + 30
        while _count(ctx, JobRow) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _count(ctx, JobRow) == 0
    finally:
        timer.stop()
        with_retention.db.dispose()


@pytest.mark.parametrize(
    ("text", "age"),
    [("12h", timedelta(hours=12)), ("30d", timedelta(days=30)), ("2w", timedelta(days=14))],
)
def test_ages(text: str, age: timedelta) -> None:
    assert parse_age(text) == age


@pytest.mark.parametrize("text", ["", "30", "0d", "-1d", "1.5d", "30x", "d", "99999999w"])
def test_bad_ages_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="age"):
        parse_age(text)


def test_a_worker_with_retention_days_prunes_on_start(
    ctx: Context, history: dict[str, str]
) -> None:
    """The worker prunes with the real clock, so the history is made a day and a half old by
    moving its recorded times back; `retention_days` is 1."""
    age_history(ctx, days=1.5)
    (failed_dir,) = _workdirs(ctx, history["failed"])
    with_retention = Context(load_settings(retention_days=1))
    try:
        assert _work(with_retention) == 1, "it prunes, then runs the queued job"
    finally:
        with_retention.db.dispose()
    assert _ids(ctx, JobRow.id) == {history["queued"]}
    assert not failed_dir.exists()


def test_retention_days_comes_from_cosmos_toml_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "cosmos.toml"
    config.write_text("retention_days = 30\n")
    monkeypatch.setenv("COSMOS_CONFIG", str(config))
    monkeypatch.delenv("COSMOS_RETENTION_DAYS", raising=False)
    assert load_settings().retention_days == 30
    monkeypatch.setenv("COSMOS_RETENTION_DAYS", "7")
    assert load_settings().retention_days == 7
    for bad in ("0", "-1", "often"):
        monkeypatch.setenv("COSMOS_RETENTION_DAYS", bad)
        with pytest.raises(ConfigError, match=r"(?i)retention_days"):
            load_settings()


def test_a_failed_prune_is_logged_and_does_not_end_the_worker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The database is unreachable (nothing listens on port 1): the prune fails, and the
    worker's retention timer logs it and returns."""
    settings = load_settings(
        retention_days=1, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none"
    )
    unreachable = Context(settings)
    try:
        RetentionTimer(unreachable).prune()
    finally:
        unreachable.db.dispose()
    assert "retention: the prune of what is older than 1 day(s) failed" in caplog.text
