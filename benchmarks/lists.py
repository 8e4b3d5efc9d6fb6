"""List cost against history size: a page of 50 jobs, a page of 50 runs and the Jobs tab's live
view, with a small and a large history of finished jobs (10 runs each) behind the same active
queue, on a fresh SQLite file and a fresh PostgreSQL database.

History is written with bulk INSERT ... SELECT statements over a recursive counter (one statement
per table, so a million runs take seconds, not an hour of service calls); the active queue (200
queued jobs, 2 running) goes through the services. Each list is called REPEATS times and the
median is kept. Ratios printed: each list with the large history vs the same list with the small
one (the target is under 2x).

    python -m benchmarks.lists [--quick] [--databases sqlite,postgres]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Integer, String, cast, insert, literal, select, text
from sqlalchemy.sql.expression import CTE

from benchmarks.common import (
    DATABASES,
    database,
    make_context,
    postgres_version,
    print_per_database,
    quiet_logging,
    ratio_line,
    seed_prompts,
    sqlite_version,
)
from cosmos_workflow.services import queue, runs
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.jobs import claim_next_job
from cosmos_workflow.store.models import JobRow, RunRow

RUNS_PER_JOB = 10
QUEUED = 200
RUNNING = 2
REPEATS = 21
PAGE = 50


@dataclass(frozen=True)
class Sizes:
    small: int  # finished jobs in history, first measurement
    large: int  # finished jobs in history, second measurement


FULL = Sizes(small=1_000, large=100_000)
QUICK = Sizes(small=100, large=1_000)

LISTS: dict[str, Callable[[Context], Any]] = {
    "queue page of 50 jobs": lambda ctx: queue.list_queue(ctx, limit=PAGE),
    "queue page of 50 with history": lambda ctx: queue.list_queue(
        ctx, include_history=True, limit=PAGE, offset=PAGE
    ),
    "runs page of 50": lambda ctx: runs.list_runs(ctx, limit=PAGE),
    "runs page of 50, one control set": lambda ctx: runs.list_runs(
        ctx, controls="depth", limit=PAGE
    ),
    "live view": queue.live_jobs,
}


def counter(count: int) -> CTE:
    """1..count as a recursive CTE: the same SQL on SQLite and PostgreSQL."""
    numbers = select(literal(1, Integer).label("i")).cte("numbers", recursive=True)
    return numbers.union_all(select(numbers.c.i + 1).where(numbers.c.i < count))


def fill_history(ctx: Context, prompt_id: str, first: int, last: int) -> None:
    """Finished jobs number first..last (each with RUNS_PER_JOB succeeded runs), inserted by
    two INSERT ... SELECT statements."""
    count = last - first + 1
    numbers = counter(count)
    n = numbers.c.i + (first - 1)
    base = time.time() - 10 * 86_400 - last  # older than the active queue, one second apart
    job_id = literal("hjob_") + cast(n, String)
    jobs = select(
        job_id,
        literal("inference"),
        literal("succeeded"),
        literal(0),
        n * 1024,
        literal("transfer1"),
        literal(1),
        base + n,
        base + n + 60,
        base + n,
        base + n + 60,
        literal(1),
        literal(3),
        literal(False),
    ).select_from(numbers)
    job_columns = [
        "id",
        "kind",
        "status",
        "priority",
        "position",
        "backend",
        "gpu_batch_size",
        "created_at",
        "updated_at",
        "started_at",
        "finished_at",
        "attempts",
        "max_attempts",
        "cancel_requested",
    ]
    run_numbers = counter(count * RUNS_PER_JOB)
    r = run_numbers.c.i + (first - 1) * RUNS_PER_JOB
    job_of_run = (r - 1) // RUNS_PER_JOB + 1
    index = (r - 1) % RUNS_PER_JOB
    run_job = literal("hjob_") + cast(job_of_run, String)
    weights = literal({"edge": 0.5}, JSON)
    run_rows = select(
        literal("hrun_") + cast(r, String),
        run_job,
        run_job,
        literal(prompt_id),
        literal("inference"),
        weights,
        literal("edge"),
        literal({"backend": "transfer1"}, JSON),
        literal("succeeded"),
        index,
        index,
        literal(1),
        base + job_of_run,
        base + job_of_run + 60,
    ).select_from(run_numbers)
    run_columns = [
        "id",
        "job_id",
        "origin_job_id",
        "prompt_id",
        "kind",
        "weights",
        "control_set",
        "params",
        "status",
        "batch_index",
        "origin_index",
        "attempts",
        "created_at",
        "finished_at",
    ]
    with ctx.db.write() as session:
        session.execute(insert(JobRow).from_select(job_columns, jobs))
        session.execute(insert(RunRow).from_select(run_columns, run_rows))


def analyze(ctx: Context) -> None:
    """Fresh planner statistics, as a database in use has (autovacuum, or SQLite's ANALYZE)."""
    with ctx.db.write_engine.connect() as conn:
        if ctx.db.is_sqlite:
            conn.execute(text("ANALYZE"))
            conn.commit()
        else:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))


def seed_queue(ctx: Context) -> str:
    """The active queue both measurements share; returns the prompt history runs use."""
    prompt_ids = seed_prompts(ctx, 4)
    weights = ({"edge": 0.5}, {"depth": 0.7})
    requests = [
        queue.build_request(prompt_ids[:2], weights[i % 2]) for i in range(QUEUED + RUNNING)
    ]
    queue.enqueue_many(ctx, requests)
    for n in range(RUNNING):
        if claim_next_job(ctx.db, f"bench-{n}", lease_seconds=3600) is None:
            raise SystemExit("could not claim a job to run")
    return prompt_ids[0]


def median_ms(ctx: Context, read: Callable[[Context], Any]) -> float:
    read(ctx)  # warm: connection, statement cache
    seconds = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        read(ctx)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds) * 1000


def measure(ctx: Context) -> dict[str, float]:
    return {name: median_ms(ctx, read) for name, read in LISTS.items()}


def bench_database(kind: str, folder: Path, sizes: Sizes) -> list[str]:
    lines = []
    with database(kind, folder) as url:
        ctx = make_context(folder / f"home-{kind}", url)
        prompt_id = seed_queue(ctx)
        figures = {}
        filled = 0
        for size in (sizes.small, sizes.large):
            started = time.perf_counter()
            fill_history(ctx, prompt_id, filled + 1, size)
            analyze(ctx)
            filled = size
            lines.append(
                f"{kind:<9}history filled to {size:,} jobs / {size * RUNS_PER_JOB:,} runs "
                f"in {time.perf_counter() - started:.1f} s"
            )
            figures[size] = measure(ctx)
            for name, ms in figures[size].items():
                lines.append(f"{kind:<9}{name:<34} {size:>8,} jobs {ms:>9.2f} ms (median)")
        check = queue.list_queue(ctx, include_history=True, limit=1)
        expected = QUEUED + RUNNING + sizes.large
        if check.total != expected:
            raise SystemExit(f"{kind}: the queue lists {check.total} jobs, expected {expected}")
        ctx.db.dispose()
    for name in LISTS:
        lines.append(
            ratio_line(
                f"{kind} {name}, {sizes.large:,} vs {sizes.small:,} jobs of history",
                figures[sizes.large][name],
                figures[sizes.small][name],
            )
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small histories, for a smoke run")
    parser.add_argument("--databases", default=",".join(DATABASES), help="sqlite,postgres")
    args = parser.parse_args(argv)
    quiet_logging()
    sizes = QUICK if args.quick else FULL
    kinds = [k.strip() for k in args.databases.split(",") if k.strip()]
    print(
        f"list cost: {os.cpu_count()} CPUs, SQLite {sqlite_version()}, "
        f"PostgreSQL {postgres_version() or 'not reachable'}; sizes {sizes}, "
        f"{QUEUED} queued and {RUNNING} running jobs, median of {REPEATS} calls"
    )
    print_per_database(kinds, lambda kind, folder: bench_database(kind, folder, sizes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
