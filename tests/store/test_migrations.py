"""Schema migrations: applied on first use, skipped cheaply once current."""

from __future__ import annotations

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from cosmos_workflow.store.db import HEAD_REVISION, MIGRATIONS_DIR, Database


def test_the_known_head_is_the_newest_migration() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


def test_first_use_builds_the_schema_and_later_uses_find_it(database_url: str) -> None:
    first = Database(database_url)
    first.migrate()
    tables = set(inspect(first.write_engine).get_table_names())
    assert {"inputs", "prompts", "jobs", "runs", "plans", "events", "alembic_version"} <= tables
    assert first._stored_revision() == HEAD_REVISION
    first.dispose()
    second = Database(database_url)
    second.migrate()
    with second.read() as session:
        assert session.connection().exec_driver_sql("SELECT 1").scalar() == 1
    second.dispose()


def test_run_keys_are_filled_for_runs_made_before_them(database_url: str) -> None:
    """0004 adds the control-set key and the origin index; existing runs get them filled."""
    from alembic import command
    from sqlalchemy import text

    db = Database(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with db.write_engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0003")
        command.downgrade(config, "0003")  # the PostgreSQL test database is already at head
        conn.execute(
            text(
                "INSERT INTO inputs (id, name, folder, video_path, frames, fps, width, height,"
                " controls, created_at) VALUES ('in', 'in', '/f', '/f/v.mp4', 1, 1, 1, 1, '{}', 0)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO prompts (id, input_id, text, negative, created_at)"
                " VALUES ('pr', 'in', 't', '', 0)"
            )
        )
        for job in ("job_a", "job_b"):
            conn.execute(
                text(
                    "INSERT INTO jobs (id, kind, status, priority, position, backend,"
                    " gpu_batch_size, created_at, updated_at, attempts, max_attempts,"
                    " cancel_requested) VALUES (:id, 'inference', 'queued', 0, 1, 'transfer1',"
                    " 1, 0, 0, 0, 3, false)"
                ),
                {"id": job},
            )
        runs = [
            ("run_1", "job_a", "job_a", '{"seg": 0.5, "depth": 0.2}', 1),
            ("run_2", "job_b", "job_a", '{"edge": 1.0}', 0),  # moved into job_b
            ("run_3", "job_b", "job_b", "{}", 0),
        ]
        for run_id, job_id, origin, weights, index in runs:
            conn.execute(
                text(
                    "INSERT INTO runs (id, job_id, origin_job_id, prompt_id, kind, weights,"
                    " params, status, batch_index, attempts, created_at) VALUES (:id, :job,"
                    " :origin, 'pr', 'inference', :weights, '{}', 'queued', :index, 0, 0)"
                ),
                {"id": run_id, "job": job_id, "origin": origin, "weights": weights, "index": index},
            )
    db.migrate()
    with db.read() as session:
        rows = session.execute(
            text("SELECT id, control_set, origin_index FROM runs ORDER BY id")
        ).all()
    db.dispose()
    assert [tuple(r) for r in rows] == [
        ("run_1", "depth+seg", 1),
        ("run_2", "edge", None),
        ("run_3", "", 0),
    ]
