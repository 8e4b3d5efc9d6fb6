"""`cosmos prune` in-process: a bad age is a usage error that changes nothing, a dry run leaves
the database file and every file under COSMOS_HOME byte for byte as they were, and the table
and `--json` say the same as what a prune then removes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from cosmos_workflow.services import queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.models import JobRow
from cosmos_workflow.worker.loop import run_worker
from tests.cli.runner import cosmos, cosmos_json
from tests.services.helpers import seed_prompts
from tests.services.history import age_history, files_under
from tests.services.snapshot import database_snapshot


@pytest.fixture
def old_history(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A succeeded and a cancelled job, 40 days old, and a queued one."""
    monkeypatch.setenv("COSMOS_SIM_TIME_SCALE", "0")
    first, second, third = seed_prompts(ctx, 3)
    succeeded = queue.enqueue(ctx, queue.build_request([first], {"edge": 0.5})).job_id
    assert run_worker(ctx, simulate=True, exit_when_idle=True) == 1
    cancelled = queue.enqueue(ctx, queue.build_request([second], {"edge": 0.6})).job_id
    queue.cancel_job(ctx, cancelled)
    age_history(ctx, days=40)
    queued = queue.enqueue(ctx, queue.build_request([third], {"edge": 0.7})).job_id
    ctx.db.dispose()  # nothing of this process stays open on the database file
    return {"succeeded": succeeded, "cancelled": cancelled, "queued": queued}


def _database_file(ctx: Context) -> Path | None:
    url = ctx.settings.resolved_database_url
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


@pytest.mark.parametrize("age", ["30x", "0d", "30", "-2w", "1.5d", ""])
def test_a_bad_age_is_a_usage_error_and_changes_nothing(ctx: Context, age: str) -> None:
    seed_prompts(ctx, 1)
    before = database_snapshot(ctx)
    code, out, err = cosmos("prune", "--older-than", age)
    assert code == 2, out + err
    assert "age" in err and out == ""
    assert database_snapshot(ctx) == before


def test_without_an_age_or_retention_days_it_says_what_to_give(ctx: Context) -> None:
    code, _, err = cosmos("prune")
    assert code == 2 and "--older-than" in err and "retention_days" in err


def test_a_dry_run_changes_no_byte_and_shows_what_a_prune_removes(
    ctx: Context, old_history: dict[str, str]
) -> None:
    database = _database_file(ctx)
    file_before = database.read_bytes() if database else None
    rows_before = database_snapshot(ctx)
    ctx.db.dispose()
    home_before = files_under(ctx.settings.home)
    assert any(name.startswith("outputs/") for name in home_before)

    dry = cosmos_json("prune", "--older-than", "30d", "--dry-run", "--outputs")
    code, table, err = cosmos("prune", "--older-than", "30d", "--dry-run")

    assert code == 0, err
    assert "Would remove (dry run)" in table and "work directories" in table
    assert "outputs of pruned runs are kept" in table
    assert database_snapshot(ctx) == rows_before
    ctx.db.dispose()
    if database is not None:
        assert database.read_bytes() == file_before
    assert files_under(ctx.settings.home) == home_before
    assert dry["dry_run"] and (dry["jobs"], dry["runs"], dry["attempts"]) == (2, 2, 1)
    assert dry["logs"]["count"] == 1 and dry["outputs"]["count"] == 1

    done = cosmos_json("prune", "--older-than", "30d", "--outputs")
    assert {k: v for k, v in done.items() if k not in ("dry_run", "cutoff")} == {
        k: v for k, v in dry.items() if k not in ("dry_run", "cutoff")
    }
    with ctx.db.read() as session:
        assert set(session.scalars(select(JobRow.id))) == {old_history["queued"]}
    assert not any(name.startswith("outputs/run") for name in files_under(ctx.settings.home))


def test_the_table_of_a_prune(ctx: Context, old_history: dict[str, str]) -> None:
    code, out, err = cosmos("prune", "--older-than", "4w")
    assert code == 0, err
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if "│" in line}
    assert "Removed: what is older than" in out
    assert lines["jobs"].split("│")[2].strip() == "2"
    assert lines["outputs"].split("│")[2].strip() == "0"
    assert json.loads(cosmos("prune", "--older-than", "4w", "--json")[1])["jobs"] == 0


def test_without_an_age_it_prunes_what_is_older_than_retention_days(
    ctx: Context, old_history: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSMOS_RETENTION_DAYS", "60")
    assert cosmos_json("prune", "--dry-run")["jobs"] == 0, "40 days old is not 60"
    monkeypatch.setenv("COSMOS_RETENTION_DAYS", "30")
    assert cosmos_json("prune")["jobs"] == 2
