"""Shared fixtures: real SQLite files and a real PostgreSQL database, real video files."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cosmos_workflow.config import load_settings
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.models import Base
from tests.videos import make_input_folder, make_video

POSTGRES_URL = os.environ.get(
    "COSMOS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
STRICT = os.environ.get("COSMOS_TEST_STRICT") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip when a service is missing on a user's machine; fail under COSMOS_TEST_STRICT=1 (CI)."""
    if STRICT:
        pytest.fail(f"{reason} (COSMOS_TEST_STRICT=1 turns this skip into a failure)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, dropped at the end."""
    admin_url = make_url(POSTGRES_URL)
    try:
        admin = create_engine(
            admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
        )
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means: no server here
        skip_or_fail(f"no PostgreSQL reachable at {admin_url.render_as_string()}: {exc}")
    name = f"cosmos_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield admin_url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _clear(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    engine.dispose()


def make_database_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh SQLite file, or the session's PostgreSQL database emptied for this test."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'cosmos.db'}"
    url = request.getfixturevalue("postgres_database")
    from cosmos_workflow.store.db import Database

    database = Database(url)
    database.migrate()
    database.dispose()
    _clear(url)
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every test that takes this runs on a real SQLite file and on the real PostgreSQL."""
    return make_database_url(request.param, request, tmp_path)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cosmos.db'}"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def env(
    home: Path, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Environment for CLI commands and child processes, also applied to this process."""
    values = {
        "COSMOS_HOME": str(home),
        "COSMOS_DATABASE_URL": database_url,
        "COSMOS_INPUT_ROOTS": json.dumps([str(tmp_path)]),
        "COSMOS_CONFIG": str(tmp_path / "no-config.toml"),
    }
    (tmp_path / "no-config.toml").write_text("")
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture
def ctx(env: dict[str, str]) -> Iterator[Context]:
    context = Context(load_settings())
    yield context
    context.db.dispose()


@pytest.fixture
def input_folder(tmp_path: Path) -> Path:
    return make_input_folder(tmp_path / "scene", controls=("depth", "seg", "edge"))


__all__ = ["make_video"]
