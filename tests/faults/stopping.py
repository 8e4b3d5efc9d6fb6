"""What the stop and lapse tests share: a slow job, its attempts, and its live processes."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from sqlalchemy import select

from benchmarks.soak import live_simulators
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.models import AttemptRow, JobRow
from tests.e2e.conftest import Cosmos

# The simulator's real seconds per simulated second: a job then runs for about a minute, so it
# is surely mid-run when a test signals its worker (the tests end it long before).
SLOW = {"COSMOS_SIM_TIME_SCALE": "0.2"}


def add_job(cosmos: Cosmos, scene: str) -> str:
    prompt_id = cosmos.json("prompt", "create", "a scene", "--input", scene)["id"]
    job_id: str = cosmos.json("queue", "add", prompt_id, "--weights", "edge=0.5")["job_id"]
    return job_id


def attempts(ctx: Context) -> list[AttemptRow]:
    with ctx.db.read() as session:
        return list(session.scalars(select(AttemptRow).order_by(AttemptRow.id)).all())


def job(ctx: Context, job_id: str) -> JobRow:
    with ctx.db.read() as session:
        row = session.get(JobRow, job_id)
        assert row is not None
        return row


def wait_for_process(ctx: Context, count: int, timeout_s: float = 60) -> AttemptRow:
    """The `count`-th attempt, once its model process runs (its process group is recorded)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = attempts(ctx)
        if len(rows) >= count and rows[count - 1].process_group is not None:
            return rows[count - 1]
        time.sleep(0.1)
    raise AssertionError(f"attempt {count} never started its process")


def processes_of(home: Path, markers: list[str]) -> list[str]:
    """The simulator processes still alive for these attempts, described."""
    return [f"pid {p.pid} ({p.marker})" for p in live_simulators(home, markers)]


def wait_exit(process: subprocess.Popen[str], timeout_s: float) -> tuple[int, str, float]:
    """The exit code, the output and how long it took."""
    started = time.monotonic()
    output, _ = process.communicate(timeout=timeout_s)
    return process.returncode, output, time.monotonic() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_server(port: int, timeout_s: float = 60) -> None:
    """Until the server accepts connections: the signal must meet a running server."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port}")
