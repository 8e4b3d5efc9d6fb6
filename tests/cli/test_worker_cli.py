"""`cosmos worker` as a real process on an empty queue: its start says each simulated host's time
scale and the setting that changes it; a bad scale is one line, exit 2, and changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cosmos_workflow.services.context import Context
from tests.conftest import make_database_url
from tests.services.snapshot import database_snapshot

ROOT = Path(__file__).resolve().parents[2]
HOW = "set sim_time_scale in cosmos.toml or COSMOS_SIM_TIME_SCALE; 1 = real time)"
TWO_HOSTS = "[[hosts]]\nname = 'sim'\nsimulate = true\n[[hosts]]\nname = 'gpu1'\n"


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """What a worker's start says does not depend on the database: SQLite only."""
    return make_database_url("sqlite", request, tmp_path)


def _worker(env: dict[str, str], *args: str, scale: str | None = None) -> tuple[int, str]:
    full = {**os.environ, **env}
    full.pop("COSMOS_SIM_TIME_SCALE", None)
    if scale is not None:
        full["COSMOS_SIM_TIME_SCALE"] = scale
    done = subprocess.run(
        [sys.executable, "-m", "cosmos_workflow.cli.main", "worker", *args, "--exit-when-idle"],
        env=full,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stderr


def _scale_lines(stderr: str) -> list[str]:
    return [line.split(": ", 1)[1] for line in stderr.splitlines() if "time x" in line]


@pytest.mark.parametrize(
    ("config", "scale", "args", "lines"),
    [
        (
            "",
            None,
            ["--simulate"],
            [f"simulated host local-simulated: time x0.01 (1 simulated GPU minute = 0.6 s; {HOW}"],
        ),
        (
            "sim_time_scale = 1\n" + TWO_HOSTS,
            None,
            [],
            [f"simulated host sim: time x1 (1 simulated GPU minute = 60 s; {HOW}"],
        ),
        (
            "sim_time_scale = 1\n" + TWO_HOSTS,
            "0.5",
            ["--simulate"],
            [
                f"simulated host sim: time x0.5 (1 simulated GPU minute = 30 s; {HOW}",
                f"simulated host gpu1: time x0.5 (1 simulated GPU minute = 30 s; {HOW}",
            ],
        ),
    ],
)
def test_the_start_says_each_simulated_hosts_time_scale(
    env: dict[str, str], config: str, scale: str | None, args: list[str], lines: list[str]
) -> None:
    Path(env["COSMOS_CONFIG"]).write_text(config)
    code, stderr = _worker(env, *args, scale=scale)
    assert code == 0, stderr
    assert _scale_lines(stderr) == lines
    assert "worker ran 0 job(s)" in stderr


@pytest.mark.parametrize(
    ("config", "scale", "message"),
    [
        ("sim_time_scale = -1\n", None, "sim_time_scale: expected a number >= 0, got -1"),
        ("", "fast", "COSMOS_SIM_TIME_SCALE: expected a number, got 'fast'"),
        ("", "nan", "COSMOS_SIM_TIME_SCALE: expected a finite number, got 'nan'"),
    ],
)
def test_a_bad_time_scale_is_one_line_exit_2_and_changes_nothing(
    ctx: Context, env: dict[str, str], config: str, scale: str | None, message: str
) -> None:
    Path(env["COSMOS_CONFIG"]).write_text(config)
    before = database_snapshot(ctx)
    code, stderr = _worker(env, "--simulate", scale=scale)
    assert code == 2
    (line,) = stderr.strip().splitlines()
    assert line.startswith("error: ") and line.endswith(message)
    assert database_snapshot(ctx) == before
