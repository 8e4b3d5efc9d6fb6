"""Run rendered jobs through the simulator as a real process in a temporary work directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from cosmos_workflow.backends import get_backend
from cosmos_workflow.backends.base import RenderedJob, RunOutcome
from cosmos_workflow.domain.work import HostTarget, JobWork
from tests.videos import make_video

REPO = Path(__file__).resolve().parents[2]


@dataclass
class SimRun:
    workdir: Path
    rendered: RenderedJob
    exit_code: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines() + self.stderr.splitlines()

    @property
    def produced(self) -> set[str]:
        return {
            p.relative_to(self.workdir).as_posix() for p in self.workdir.rglob("*") if p.is_file()
        }

    def collect(self, job: JobWork) -> dict[str, RunOutcome]:
        """As the worker does: with the text of the files the backend asks to read back."""
        backend = get_backend(job.backend)
        texts = {
            rel: (self.workdir / rel).read_text(encoding="utf-8")
            for rel in self.rendered.read_back
            if (self.workdir / rel).is_file()
        }
        return backend.collect(job, self.rendered, self.produced, self.lines, self.exit_code, texts)


def simulate(
    argv: Sequence[str],
    cwd: Path,
    faults: dict | None = None,
    env: dict[str, str] | None = None,
    unset: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Run the simulator; `unset` names variables the launch environment must not have."""
    full_env = {
        **os.environ,
        "COSMOS_SIM_TIME_SCALE": "0",
        "COSMOS_SIM_SEED": "1",
        "PYTHONPATH": str(REPO),
    }
    for name in ("COSMOS_SIM_FAULTS", *unset):
        full_env.pop(name, None)
    if faults is not None:
        full_env["COSMOS_SIM_FAULTS"] = json.dumps(faults)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "cosmos_workflow.simulator", *argv],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="session")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("videos")
    return {
        "a": make_video(folder / "a.mp4", frames=24),
        "b": make_video(folder / "b.mp4", frames=24),
        "depth": make_video(folder / "b_depth.mp4", frames=24),
    }


@pytest.fixture
def run_job(tmp_path: Path) -> Callable[..., SimRun]:
    def run(
        job: JobWork,
        target: HostTarget | None = None,
        faults: dict | None = None,
        env: dict[str, str] | None = None,
    ) -> SimRun:
        workdir = tmp_path / f"work_{job.job_id}_{len(list(tmp_path.iterdir()))}"
        workdir.mkdir()
        rendered = get_backend(job.backend).render(job, target or HostTarget(), str(workdir))
        for relpath, text in rendered.files.items():
            (workdir / relpath).parent.mkdir(parents=True, exist_ok=True)
            (workdir / relpath).write_text(text, encoding="utf-8")
        for relpath, source in rendered.stage.items():
            (workdir / relpath).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, workdir / relpath)
        done = simulate(rendered.argv, workdir, faults, {**rendered.env, **(env or {})})
        return SimRun(workdir, rendered, done.returncode, done.stdout, done.stderr)

    return run
