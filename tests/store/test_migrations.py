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
