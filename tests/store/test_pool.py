"""PostgreSQL's pool: a connection that sat idle is checked before use and replaced when its
server side is gone; one used a moment ago is not pinged (the claim loop's round trip saved),
and its loss is a transient error after which the next call reconnects."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from cosmos_workflow import defaults
from cosmos_workflow.store.db import TRANSIENT_ERRORS, Database


@pytest.fixture
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    database = Database(request.getfixturevalue("postgres_database"))
    database.migrate()
    yield database
    database.dispose()


def _backend_pid(db: Database) -> int:
    with db.read() as session:
        return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(db: Database, pid: int) -> None:
    admin = create_engine(db.url.replace("postgresql://", "postgresql+psycopg://"))
    with admin.begin() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()


def test_an_idle_connection_whose_server_went_away_is_replaced(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(defaults, "POSTGRES_PING_IDLE_SECONDS", 0.0)
    first = _backend_pid(db)
    _terminate(db, first)  # a server restart, as the pooled connection sees it
    # The checkout pings, finds it gone, and the pool connects again: no error reaches us.
    second = _backend_pid(db)
    assert second != first


def test_a_connection_used_a_moment_ago_is_not_pinged(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(defaults, "POSTGRES_PING_IDLE_SECONDS", 3600.0)
    pid = _backend_pid(db)
    assert _backend_pid(db) == pid  # back-to-back calls share the pooled connection
    _terminate(db, pid)
    # Unpinged, the dead connection is used, and its loss is an error the worker retries.
    with pytest.raises(TRANSIENT_ERRORS):
        _backend_pid(db)
    assert _backend_pid(db) != pid  # the next call reconnects
