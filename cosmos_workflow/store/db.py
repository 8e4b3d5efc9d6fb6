"""Engines, sessions and first-use migrations for SQLite and PostgreSQL.

SQLite: WAL journal, a busy timeout and foreign keys on every connection. Write transactions
start with `BEGIN IMMEDIATE`, so two writers never both read and then both write (the claim race
the prior system lost); reads use a plain deferred `BEGIN`. PostgreSQL needs neither trick: its
row locks and `READ COMMITTED` re-checks do the same job.

A PostgreSQL transaction that still loses a lock race (deadlock detected, serialization failure)
is rolled back whole by the server; `Database.write_retrying` runs such a transaction again,
from the start, with jittered backoff, a bounded number of times."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, Engine, Result, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from cosmos_workflow import defaults
from cosmos_workflow.domain.errors import ConfigError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The newest revision in migrations/versions (a test keeps the two equal). Knowing it lets a
# command check the schema with one SELECT instead of importing Alembic every time.
HEAD_REVISION = "0008"
# Errors that mean "the database cannot be reached right now" (SQLite busy past its timeout, a
# PostgreSQL connection reset or refused, the pool exhausted): a worker retries them.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
    PoolTimeout,
)
# SQLSTATEs of a transaction the server rolled back to break a lock cycle or a serialization
# conflict: running it again from the start is safe and usually succeeds.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure
T = TypeVar("T")
_MIGRATION_LOCK_ID = 0x636F736D  # "cosm": PostgreSQL advisory lock for first-use migrations


class Database:
    """One database: a write engine and a read engine (the same engine on PostgreSQL)."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            self._prepare_sqlite_file(parsed.database)
            self.write_engine = _sqlite_engine(url, "BEGIN IMMEDIATE")
            self.read_engine = _sqlite_engine(url, "BEGIN")
        elif parsed.get_backend_name() == "postgresql":
            if parsed.drivername == "postgresql":
                url = str(parsed.set(drivername="postgresql+psycopg"))
            self.write_engine = _postgres_engine(url)
            self.read_engine = self.write_engine
        else:
            raise ConfigError(
                f"unsupported database {parsed.get_backend_name()!r}; use sqlite or postgresql"
            )
        self._write = sessionmaker(self.write_engine, expire_on_commit=False, autoflush=False)
        self._read = sessionmaker(self.read_engine, expire_on_commit=False, autoflush=False)
        # PostgreSQL runs a lone statement in autocommit: its own transaction, without the two
        # round trips of BEGIN and COMMIT. SQLite keeps its BEGIN IMMEDIATE transaction.
        self._single = (
            self._write
            if self.is_sqlite
            else sessionmaker(
                self.write_engine.execution_options(isolation_level="AUTOCOMMIT"),
                expire_on_commit=False,
                autoflush=False,
            )
        )
        self._migrated = False

    @staticmethod
    def _prepare_sqlite_file(database: str | None) -> None:
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A short write transaction: commits on success, rolls back on any error."""
        self.migrate()
        with self._write() as session, session.begin():
            yield session

    def write_retrying(
        self,
        work: Callable[[Session], T],
        *,
        what: str,
        attempts: int = defaults.DEADLOCK_RETRY_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> T:
        """`work` in a `write` transaction, run again from the start when PostgreSQL rolled it
        back as a deadlock victim or a serialization failure (`is_retryable`), after a jittered
        backoff, up to `attempts` times in all; the last failure is raised. `work` must do
        nothing outside its session (it may run more than once)."""
        for attempt in range(1, attempts + 1):
            try:
                with self.write() as session:
                    return work(session)
            except DBAPIError as error:
                if attempt == attempts or not is_retryable(error):
                    raise
                backoff = defaults.DEADLOCK_RETRY_FIRST_SECONDS * 2 ** (attempt - 1)
                delay = backoff * (0.5 + random.random())
                log.warning(
                    "%s: %s (attempt %d of %d); retrying in %.3fs",
                    what,
                    str(error.orig).splitlines()[0][:200],
                    attempt,
                    attempts,
                    delay,
                )
                sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    @contextmanager
    def single_statement(self) -> Iterator[Session]:
        """`write` for a block that sends one write statement on PostgreSQL (it may send more
        on SQLite, where this is a `write` transaction): atomic as any statement is, and
        cheaper, for the hot claim and finish (see `jobs.change_job_status`)."""
        self.migrate()
        with self._single() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        self.migrate()
        with self._read() as session, session.begin():
            yield session

    def migrate(self) -> None:
        """Bring the schema to the newest revision once per process (cheap when it already is)."""
        if self._migrated:
            return
        if self._stored_revision() == HEAD_REVISION:
            self._migrated = True
            return
        with self.write_engine.begin() as conn:
            if not self.is_sqlite:
                conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
            if _current_revision(conn) != HEAD_REVISION:
                _upgrade(conn)
                log.info("database schema migrated to %s (%s)", HEAD_REVISION, self.safe_url)
        self._migrated = True

    def _stored_revision(self) -> str | None:
        """The schema revision recorded in the database; None when it has none yet."""
        try:
            with self.read_engine.connect() as conn:
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except DBAPIError:
            return None

    @property
    def safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()


def is_retryable(error: DBAPIError) -> bool:
    """Whether the server rolled the transaction back to break a deadlock or a serialization
    conflict (SQLite reports neither: its writers queue behind `BEGIN IMMEDIATE`)."""
    return getattr(error.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


def now() -> float:
    """The store's clock: UNIX seconds, as every time column holds them."""
    return time.time()


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE changed (every DML result is a CursorResult)."""
    return int(cast(CursorResult[Any], result).rowcount)


def _postgres_engine(url: str) -> Engine:
    """A pooled engine that pings a connection before use only when it sat idle in the pool
    for `POSTGRES_PING_IDLE_SECONDS`: a server restart or a dropped link is found on the next
    checkout, as with `pool_pre_ping`, without a round trip before every statement of a busy
    loop. A connection that dies while in use raises a transient error (`TRANSIENT_ERRORS`),
    and SQLAlchemy then drops the pool's other connections too."""
    engine = create_engine(url, pool_size=5)

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle = time.monotonic() - record.info.pop("idle_since", time.monotonic())
        if idle < defaults.POSTGRES_PING_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # the pool replaces the connection and checks out again
            raise DisconnectionError(f"pooled connection is gone: {error}") from error

    return engine


def _sqlite_engine(url: str, begin_statement: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": defaults.SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself instead of pysqlite's implicit one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={defaults.SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin_statement)

    return engine


def _alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _current_revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def _upgrade(conn: Connection) -> None:
    from alembic import command

    config = _alembic_config()
    config.attributes["connection"] = conn
    command.upgrade(config, "head")
