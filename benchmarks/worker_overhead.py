"""Per-job overhead of the real worker: everything a job costs except the GPU time.

N one-run jobs go through `run_worker(ctx, simulate=True, exit_when_idle=True)` with
COSMOS_SIM_TIME_SCALE=0, so the simulator sleeps for none of its simulated GPU time and what is
left is process start, the simulator writing its output video, and the worker's own work
(claim, render, stage, log streaming, fetch, decode check, thumbnail, database writes).

The wall time per job is split with the rows the worker writes: attempt start..end is the
simulator process's life; job start..finish minus that is the worker's work around the process;
the rest is between jobs (claim, heartbeat, loop). Baselines measured in the same run: a bare
`python -c pass` and a bare simulator start (`python -m cosmos_workflow.simulator --help`, which
imports the simulator and refuses at once).

    python -m benchmarks.worker_overhead [--quick] [--jobs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from benchmarks.common import make_context, quiet_logging, ratio_line, seed_prompts, sqlite_version
from cosmos_workflow.domain.states import JobStatus
from cosmos_workflow.services import queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.models import AttemptRow, JobRow
from cosmos_workflow.worker.loop import run_worker

FULL_JOBS = 40
QUICK_JOBS = 4
BASELINE_STARTS = 10  # bare process starts timed per baseline (the mean is printed)
PROMPTS = 4
# What a simulated Transfer1 run imports before it writes anything (the entry point, PyAV, numpy).
SIMULATOR_MODULES = (
    "cosmos_workflow.simulator.transfer1, cosmos_workflow.simulator.video, av, numpy"
)


@dataclass(frozen=True)
class Breakdown:
    jobs: int
    wall: float  # the whole run_worker call
    process: float  # summed attempt start..end: the simulator process
    in_job: float  # summed job start..finish

    def per_job(self, seconds: float) -> float:
        return seconds / self.jobs


def mean_start(argv: list[str], count: int) -> float:
    """Mean wall seconds to start and finish `argv` (its exit code is not the point)."""
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=False)
        samples.append(time.perf_counter() - started)
    return statistics.mean(samples)


def run_jobs(ctx: Context, jobs: int) -> Breakdown:
    prompt_ids = seed_prompts(ctx, PROMPTS)
    for index in range(jobs):
        request = queue.build_request([prompt_ids[index % PROMPTS]], {"edge": 0.5})
        queue.enqueue(ctx, request)
    started = time.perf_counter()
    done = run_worker(ctx, simulate=True, exit_when_idle=True)
    wall = time.perf_counter() - started
    with ctx.db.read() as session:
        succeeded = session.scalar(
            select(func.count()).select_from(JobRow).where(JobRow.status == JobStatus.SUCCEEDED)
        )
        in_job = session.scalar(select(func.sum(JobRow.finished_at - JobRow.started_at)))
        process = session.scalar(select(func.sum(AttemptRow.ended_at - AttemptRow.started_at)))
    if done != jobs or succeeded != jobs:
        raise SystemExit(f"expected {jobs} succeeded jobs, the worker ran {done}, {succeeded} ok")
    return Breakdown(jobs=jobs, wall=wall, process=float(process or 0), in_job=float(in_job or 0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few jobs, for a smoke run")
    parser.add_argument("--jobs", type=int, default=None, help=f"jobs to run (default {FULL_JOBS})")
    args = parser.parse_args(argv)
    quiet_logging()
    jobs = args.jobs or (QUICK_JOBS if args.quick else FULL_JOBS)
    starts = 2 if args.quick else BASELINE_STARTS
    os.environ["COSMOS_SIM_TIME_SCALE"] = "0"
    print(f"worker overhead: {os.cpu_count()} CPUs, SQLite {sqlite_version()}, {jobs} jobs")
    python = mean_start([sys.executable, "-c", "pass"], starts)
    simulator = mean_start([sys.executable, "-m", "cosmos_workflow.simulator", "--help"], starts)
    imports = mean_start([sys.executable, "-c", f"import {SIMULATOR_MODULES}"], starts)
    with tempfile.TemporaryDirectory(prefix="cosmos-bench-") as tmp:
        ctx = make_context(Path(tmp) / "home")
        result = run_jobs(ctx, jobs)
        ctx.db.dispose()
    per_job = result.per_job(result.wall)
    process = result.per_job(result.process)
    around = result.per_job(result.in_job - result.process)
    between = per_job - result.per_job(result.in_job)
    rows = (
        ("baseline: python -c pass", python),
        ("baseline: simulator start (--help)", simulator),
        ("baseline: simulator's imports (av, numpy, ...)", imports),
        ("worker wall per job", per_job),
        ("  simulator process (attempt start..end)", process),
        ("  worker work around the process", around),
        ("  between jobs (claim, heartbeat, loop)", between),
    )
    for label, seconds in rows:
        print(f"{label:<48}{1000 * seconds:>9.1f} ms")
    print(ratio_line("worker wall per job vs bare simulator start", per_job, simulator))
    print(ratio_line("simulator process vs bare simulator start", process, simulator))
    print(ratio_line("simulator process vs simulator's imports", process, imports))
    print(
        ratio_line(
            "worker's own work (around + between) vs bare simulator start",
            around + between,
            simulator,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
