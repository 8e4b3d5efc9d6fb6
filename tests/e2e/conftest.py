"""End-to-end fixtures: real `cosmos` processes on a real database with the simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosmos_workflow.services.context import Context
from tests.conftest import make_database_url
from tests.services.helpers import seed_input

ROOT = Path(__file__).resolve().parents[2]


class Cosmos:
    """Runs `cosmos ...` as a child process with the test's environment."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = {
            **os.environ,
            **env,
            "COSMOS_SIM_TIME_SCALE": env.get("COSMOS_SIM_TIME_SCALE", "0.0005"),
        }
        self.processes: list[subprocess.Popen[str]] = []

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "cosmos_workflow.cli.main", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"cosmos {' '.join(args)} -> {result.returncode}\n{result.stderr}")
        return result

    def json(self, *args: str) -> dict:  # type: ignore[type-arg]
        return json.loads(self(*args, "--json").stdout)

    def start(self, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "cosmos_workflow.cli.main", *args],
            env={**self.env, **(extra_env or {})},
            cwd=ROOT,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """End-to-end tests run on SQLite; those about concurrency and recovery also run on
    PostgreSQL, by `@pytest.mark.parametrize("database_url", BOTH_DATABASES, indirect=True)`."""
    return make_database_url(getattr(request, "param", "sqlite"), request, tmp_path)


BOTH_DATABASES = ["sqlite", "postgres"]


@pytest.fixture
def cosmos(env: dict[str, str]) -> Iterator[Cosmos]:
    runner = Cosmos(env)
    yield runner
    runner.stop_all()


@pytest.fixture
def scene(ctx: Context) -> str:
    seed_input(ctx, "scene", controls=("depth", "seg", "edge"))
    return "scene"
