"""What every benchmark shares: throwaway databases and homes, seeded inputs, printed ratios.

Each benchmark creates its own SQLite file or PostgreSQL database and drops it at the end, so a
run never touches a user's data and two runs never see each other's rows."""

from __future__ import annotations

import logging
import os
import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cosmos_workflow.config import load_settings
from cosmos_workflow.demo.samples import Scene, make_scene
from cosmos_workflow.services import inputs, prompts
from cosmos_workflow.services.context import Context

POSTGRES_ADMIN_URL = os.environ.get(
    "COSMOS_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
DATABASES = ("sqlite", "postgres")


class Unavailable(Exception):
    """The database server this benchmark wants is not reachable here."""


def sqlite_version() -> str:
    return sqlite3.sqlite_version


def postgres_version() -> str | None:
    """The server's version, or None when no PostgreSQL answers at the admin URL."""
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            version = str(conn.execute(text("SHOW server_version")).scalar())
        engine.dispose()
    except Exception:  # any driver error means: no server here
        return None
    return version


@contextmanager
def database(kind: str, folder: Path) -> Iterator[str]:
    """A fresh, empty database URL: a new SQLite file in `folder`, or a new PostgreSQL database
    (named cosmos_bench_<random>) that is dropped on exit."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        return
    if kind != "postgres":
        raise ValueError(f"unknown database kind {kind!r}; use sqlite or postgres")
    admin_url = make_url(POSTGRES_ADMIN_URL)
    try:
        admin = create_engine(
            admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
        )
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means: no server here
        raise Unavailable(f"no PostgreSQL at {admin_url.render_as_string()}: {exc}") from None
    name = f"cosmos_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def make_context(home: Path, database_url: str | None = None) -> Context:
    """A context on its own home folder (SQLite inside it unless a URL is given), no hosts
    configured (so workers run the simulator), inputs allowed only under the home folder."""
    home.mkdir(parents=True, exist_ok=True)
    settings = load_settings(
        home=home,
        database_url=database_url or f"sqlite:///{home / 'cosmos.db'}",
        input_roots=[home],
        hosts=[],
    )
    return Context(settings)


SCENE = Scene("bench", 48, (120, 120, 200), ("depth", "seg", "edge"))


def seed_prompts(ctx: Context, count: int, scene: Scene = SCENE) -> list[str]:
    """One generated input (RGB plus depth, seg and edge videos) and `count` prompts on it."""
    folder = make_scene(ctx.settings.home / "inputs" / scene.name, scene)
    inputs.add_input(ctx, folder, name=scene.name)
    return [
        prompts.create_prompt(ctx, scene.name, f"{scene.name} variation {index}").id
        for index in range(count)
    ]


def ratio_line(name: str, value: float, baseline: float) -> str:
    """The line every benchmark prints for a ratio; the smoke test looks for `ratio `."""
    shown = value / baseline if baseline > 0 else float("inf")
    return f"ratio {name}: {shown:.2f}x"


def quiet_logging() -> None:
    """Warnings and errors on stderr, except the worker's notice that it runs the simulator
    because no host is configured: benchmarks mean to, so it would only be noise."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("cosmos_workflow.worker.loop").setLevel(logging.ERROR)


def print_per_database(kinds: list[str], bench: Callable[[str, Path], list[str]]) -> None:
    """Run `bench(kind, folder)` for each database kind in one throwaway folder and print its
    lines; a database that cannot be reached prints `skipped` and the others still run."""
    with tempfile.TemporaryDirectory(prefix="cosmos-bench-") as tmp:
        for kind in kinds:
            try:
                lines = bench(kind, Path(tmp))
            except Unavailable as exc:
                print(f"{kind:<9}skipped: {exc}")
                continue
            for line in lines:
                print(line, flush=True)
