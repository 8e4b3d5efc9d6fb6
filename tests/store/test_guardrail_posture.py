"""The guardrail posture of runs on both databases: migration 0008 adds it as NULL to runs made
before it, an attempt's start writes it onto the runs it runs while the lease holds, and the
run's view says it in words. Cosmos 3 is recorded here without running it (its simulator and
backend are not runnable end to end yet); Transfer1 and Transfer2.5 run through the worker in
tests/e2e/test_guardrail_posture_e2e.py."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, inspect, select, text

from cosmos_workflow.domain.guardrails import Guardrails, guardrail_posture
from cosmos_workflow.domain.params import Backend
from cosmos_workflow.domain.states import RunStatus
from cosmos_workflow.services import runs
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.views import guardrails_text
from cosmos_workflow.store import attempts
from cosmos_workflow.store import jobs as store
from cosmos_workflow.store.db import MIGRATIONS_DIR, Database
from cosmos_workflow.store.models import AttemptRow, RunRow
from cosmos_workflow.store.runs import RunResult, record_results
from tests.store.rows import queue_in_store

COSMOS3_UNGUARDED = "asked off, got not applied by the model (Cosmos 3 transfer never runs them)"


def _start(ctx: Context, claim: store.Claim, backend: Backend, disable: bool) -> int:
    """An attempt's start, as the worker writes it before its process starts."""
    process = attempts.AttemptProcess("gpu1", "here", "/nowhere", f"{claim.job_id}_a1")
    return attempts.start_attempt(
        ctx.db,
        job_id=claim.job_id,
        worker_id="w",
        lease_token=claim.lease_token,
        argv=["model"],
        process=process,
        guardrails=guardrail_posture(backend, disable),
    )


def _postures(ctx: Context, job_id: str) -> list[tuple[str | None, str | None]]:
    with ctx.db.read() as session:
        rows = session.scalars(select(RunRow).where(RunRow.job_id == job_id).order_by(RunRow.id))
        return [(r.guardrails_asked, r.guardrails_got) for r in rows]


def _claim(ctx: Context) -> store.Claim:
    claim = store.claim_next_job(ctx.db, "w", lease_seconds=60)
    assert claim is not None
    return claim


@pytest.mark.parametrize(
    ("backend", "disable", "asked", "got"),
    [
        (Backend.COSMOS3, False, "on", "not applied by the model"),
        (Backend.COSMOS3, True, "off", "not applied by the model"),
        (Backend.TRANSFER1, True, "off", "on"),
        (Backend.TRANSFER2_5, True, "off", "off"),
    ],
)
def test_an_attempt_start_records_the_posture_of_its_runs(
    ctx: Context, backend: Backend, disable: bool, asked: str, got: str
) -> None:
    job_id = queue_in_store(ctx, backend)
    assert _postures(ctx, job_id) == [(None, None)] * 2, "a queued run has no posture"
    assert runs.get_run(ctx, runs.list_runs(ctx, job_id=job_id).runs[0].id).guardrails_got is None
    _start(ctx, _claim(ctx), backend, disable)
    assert _postures(ctx, job_id) == [(asked, got)] * 2
    for run in runs.list_runs(ctx, job_id=job_id).runs:
        view = runs.get_run(ctx, run.id)
        assert (view.guardrails_asked, view.guardrails_got) == (asked, got)


def test_cosmos3_says_why_its_runs_got_no_guardrails(ctx: Context) -> None:
    job_id = queue_in_store(ctx, Backend.COSMOS3, count=1)
    _start(ctx, _claim(ctx), Backend.COSMOS3, True)
    (run,) = runs.list_runs(ctx, job_id=job_id).runs
    assert run.guardrails_text() == COSMOS3_UNGUARDED


def test_a_lost_lease_records_no_posture(ctx: Context) -> None:
    job_id = queue_in_store(ctx, Backend.TRANSFER2_5)
    claim = _claim(ctx)
    stale = store.Claim(job_id=claim.job_id, lease_token="not-the-lease", attempt=claim.attempt)
    _start(ctx, stale, Backend.TRANSFER2_5, True)
    assert _postures(ctx, job_id) == [(None, None)] * 2
    with ctx.db.read() as session:
        assert session.scalar(select(AttemptRow.job_id)) == job_id, "the attempt is still kept"


def test_a_run_that_ended_keeps_the_posture_it_ran_with(ctx: Context) -> None:
    job_id = queue_in_store(ctx, Backend.TRANSFER2_5)
    claim = _claim(ctx)
    _start(ctx, claim, Backend.TRANSFER2_5, False)
    first, _ = sorted(r.id for r in runs.list_runs(ctx, job_id=job_id).runs)
    with store.lease_held(ctx.db, job_id, claim.lease_token) as held:
        record_results(held, {first: RunResult(RunStatus.SUCCEEDED)})
    _start(ctx, claim, Backend.TRANSFER2_5, True)  # a later attempt, on an unguarded host
    assert _postures(ctx, job_id) == [("on", "on"), ("off", "off")]


@pytest.mark.parametrize(
    ("asked", "got", "started", "words"),
    [
        ("on", "on", True, "on"),
        ("off", "off", True, "off"),
        ("off", "on", True, "asked off, got on (Transfer1 cannot turn them off)"),
        ("on", "not applied by the model", True, COSMOS3_UNGUARDED.replace("off", "on", 1)),
        (None, None, False, "not recorded (the run has not started)"),
        (None, None, True, "not recorded (it ran before postures were recorded)"),
    ],
)
def test_the_posture_in_words(
    asked: str | None, got: str | None, started: bool, words: str
) -> None:
    assert guardrails_text(asked, got, started=started) == words
    assert Guardrails.NOT_APPLIED.value == "not applied by the model"


def test_runs_made_before_0008_have_no_posture(database_url: str) -> None:
    db = Database(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with db.write_engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0007")
        command.downgrade(config, "0007")  # the PostgreSQL test database is already at head
        assert "guardrails_got" not in {c["name"] for c in inspect(conn).get_columns("runs")}
        _insert_run(conn)
    db.migrate()
    with db.read() as session:
        row = session.execute(text("SELECT id, guardrails_asked, guardrails_got FROM runs")).one()
    db.dispose()
    assert tuple(row) == ("run_1", None, None)


def _insert_run(conn: Connection) -> None:
    statements = [
        "INSERT INTO inputs (id, name, folder, video_path, frames, fps, width, height, controls,"
        " created_at) VALUES ('in', 'in', '/f', '/f/v.mp4', 1, 1, 1, 1, '{}', 0)",
        "INSERT INTO prompts (id, input_id, text, negative, created_at)"
        " VALUES ('pr', 'in', 't', '', 0)",
        "INSERT INTO jobs (id, kind, status, priority, position, backend, gpu_batch_size,"
        " created_at, updated_at, attempts, max_attempts, cancel_requested)"
        " VALUES ('job_a', 'inference', 'succeeded', 0, 1, 'transfer1', 1, 0, 0, 1, 3, false)",
        "INSERT INTO runs (id, job_id, origin_job_id, prompt_id, kind, weights, params, status,"
        " batch_index, attempts, created_at, started_at) VALUES ('run_1', 'job_a', 'job_a', 'pr',"
        " 'inference', '{}', '{}', 'succeeded', 0, 1, 0, 0)",
    ]
    for statement in statements:
        conn.execute(text(statement))


def test_a_run_the_process_never_reached_has_no_posture_again(ctx: Context) -> None:
    job_id = queue_in_store(ctx, Backend.TRANSFER2_5)
    claim = _claim(ctx)
    _start(ctx, claim, Backend.TRANSFER2_5, True)
    first, second = sorted(r.id for r in runs.list_runs(ctx, job_id=job_id).runs)
    with store.lease_held(ctx.db, job_id, claim.lease_token) as held:
        store.release(held, "the process died in its first sample", requeue=[second])
    reran, given_back = runs.get_run(ctx, first), runs.get_run(ctx, second)
    assert (reran.guardrails_asked, reran.guardrails_got) == ("off", "off")
    assert given_back.job_id != job_id and given_back.started_at is None
    assert (given_back.guardrails_asked, given_back.guardrails_got) == (None, None)
