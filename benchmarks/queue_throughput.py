"""Queue throughput: enqueue (one call per job, and in bulk) and claim+finish by 1 and 4 worker
processes, on a fresh SQLite file and a fresh PostgreSQL database.

Ratios printed: bulk vs single enqueue, JSONL import vs single enqueue, 4 workers vs 1 worker,
each against its baseline measured in the same run. Every claim run also checks that each job
was claimed exactly once (no duplicate among the ids the workers report, and every job ended
succeeded after one attempt); a violation exits non-zero.

    python -m benchmarks.queue_throughput [--quick] [--databases sqlite,postgres]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from benchmarks.common import (
    DATABASES,
    database,
    make_context,
    postgres_version,
    print_per_database,
    ratio_line,
    seed_prompts,
    sqlite_version,
)
from cosmos_workflow.domain.states import JobStatus
from cosmos_workflow.services import queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.db import Database
from cosmos_workflow.store.jobs import claim_next_job, finish_job
from cosmos_workflow.store.models import JobRow

LEASE_SECONDS = 600.0  # far longer than any claim run, so no lease expires mid-benchmark
PROMPTS = 20  # jobs cycle over these; the queue cost does not depend on how many prompts exist


@dataclass(frozen=True)
class Sizes:
    single: int  # jobs enqueued one `queue.enqueue` call each
    bulk: int  # jobs in one `queue.enqueue_many` call, and in one imported JSONL file
    claims: int  # jobs drained by each claim run


FULL = Sizes(single=10_000, bulk=10_000, claims=2_000)
QUICK = Sizes(single=50, bulk=500, claims=100)


@dataclass(frozen=True)
class Rate:
    label: str
    jobs: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.jobs / self.seconds if self.seconds > 0 else float("inf")

    def line(self, kind: str) -> str:
        return (
            f"{kind:<9}{self.label:<26}{self.jobs:>7} jobs {self.seconds:>8.2f} s "
            f"{self.per_second:>10.0f} jobs/s"
        )


@dataclass(frozen=True)
class ClaimRate(Rate):
    false_empty: int = 0  # claim_next_job returned None although queued jobs were left


def requests_for(prompt_ids: list[str], count: int) -> list[queue.JobRequest]:
    """`count` one-run jobs cycling over the prompts and a few weights (all validated here)."""
    weights = ({"edge": 0.5}, {"depth": 0.7}, {"edge": 0.4, "seg": 0.6})
    return [
        queue.build_request([prompt_ids[i % len(prompt_ids)]], weights[i % len(weights)])
        for i in range(count)
    ]


def measure_enqueue(ctx: Context, prompt_ids: list[str], sizes: Sizes) -> list[Rate]:
    singles = requests_for(prompt_ids, sizes.single)
    started = time.perf_counter()
    for request in singles:
        queue.enqueue(ctx, request)
    single = Rate("enqueue (one call each)", sizes.single, time.perf_counter() - started)

    bulk_requests = requests_for(prompt_ids, sizes.bulk)
    started = time.perf_counter()
    queue.enqueue_many(ctx, bulk_requests)
    bulk = Rate("enqueue_many (one call)", sizes.bulk, time.perf_counter() - started)

    jsonl = ctx.settings.home / "import.jsonl"
    with jsonl.open("w", encoding="utf-8") as handle:
        for request in bulk_requests:
            line = {"prompt_ids": list(request.prompt_ids), "weights": dict(request.weights)}
            handle.write(json.dumps(line) + "\n")
    started = time.perf_counter()
    queue.import_jobs(ctx, jsonl)
    imported = Rate("import_jobs (JSONL file)", sizes.bulk, time.perf_counter() - started)
    return [single, bulk, imported]


def claimer(url: str, worker_id: str, ready: Any, results: Any) -> None:
    """One worker process: connect, wait for the others, then claim and finish until empty."""
    db = Database(url)
    db.migrate()
    ready.wait()
    claimed: list[str] = []
    false_empty = 0
    started = time.time()
    while True:
        claim = claim_next_job(db, worker_id, lease_seconds=LEASE_SECONDS)
        if claim is None:
            if not queued_left(db):
                break
            false_empty += 1  # every retry lost a race: not empty, but no claim either
            continue
        if not finish_job(db, claim.job_id, claim.lease_token, JobStatus.SUCCEEDED):
            raise SystemExit(f"{worker_id}: lost the lease of {claim.job_id}")
        claimed.append(claim.job_id)
    results.put((worker_id, claimed, false_empty, started, time.time()))
    db.dispose()


def queued_left(db: Database) -> int:
    with db.read() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(JobRow)
                .where(JobRow.status == JobStatus.QUEUED.value)
            )
            or 0
        )


def measure_claims(url: str, workers: int, expected: set[str]) -> ClaimRate:
    """Drain the queue with `workers` processes started together; check exactly-once."""
    spawn = multiprocessing.get_context("spawn")
    ready = spawn.Barrier(workers)
    results = spawn.Queue()
    processes = [
        spawn.Process(target=claimer, args=(url, f"bench-{n}", ready, results))
        for n in range(workers)
    ]
    for process in processes:
        process.start()
    reports = [results.get(timeout=600) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        if process.exitcode != 0:
            raise SystemExit(f"a claiming process exited with {process.exitcode}")
    claimed = [job_id for _, ids, _, _, _ in reports for job_id in ids]
    check_exactly_once(url, claimed, expected)
    seconds = max(end for *_, end in reports) - min(start for *_, start, _ in reports)
    label = f"claim+finish, {workers} worker{'s' if workers > 1 else ''}"
    return ClaimRate(label, len(claimed), seconds, sum(r[2] for r in reports))


def check_exactly_once(url: str, claimed: list[str], expected: set[str]) -> None:
    twice = [job_id for job_id, seen in Counter(claimed).items() if seen > 1]
    if twice:
        raise SystemExit(f"EXACTLY-ONCE VIOLATED: {len(twice)} job(s) claimed twice: {twice[:5]}")
    if set(claimed) != expected:
        missing = len(expected - set(claimed))
        raise SystemExit(f"EXACTLY-ONCE VIOLATED: {missing} queued job(s) never claimed")
    db = Database(url)
    with db.read() as session:
        once = session.scalar(
            select(func.count())
            .select_from(JobRow)
            .where(JobRow.status == JobStatus.SUCCEEDED.value, JobRow.attempts == 1)
        )
    db.dispose()
    if once != len(expected):
        raise SystemExit(f"EXACTLY-ONCE VIOLATED: {once} of {len(expected)} jobs ended once")


def claim_run(kind: str, folder: Path, workers: int, sizes: Sizes) -> ClaimRate:
    """A fresh database holding `sizes.claims` queued jobs, drained by `workers` processes."""
    with database(kind, folder) as url:
        ctx = make_context(folder / f"home-{kind}-{workers}w", url)
        prompt_ids = seed_prompts(ctx, PROMPTS)
        expected = set(queue.enqueue_many(ctx, requests_for(prompt_ids, sizes.claims)).job_ids)
        ctx.db.dispose()
        return measure_claims(url, workers, expected)


def bench_database(kind: str, folder: Path, sizes: Sizes) -> list[str]:
    """All measurements on one kind of database; returns the lines to print."""
    with database(kind, folder) as url:
        ctx = make_context(folder / f"home-{kind}", url)
        prompt_ids = seed_prompts(ctx, PROMPTS)
        single, bulk, imported = measure_enqueue(ctx, prompt_ids, sizes)
        ctx.db.dispose()
    one = claim_run(kind, folder, 1, sizes)
    four = claim_run(kind, folder, 4, sizes)
    lines = [rate.line(kind) for rate in (single, bulk, imported, one, four)]
    lines.append(
        f"{kind:<9}exactly-once checked: {one.jobs} jobs (1 worker) and {four.jobs} jobs "
        "(4 workers), each claimed once, all succeeded after one attempt; claim_next_job "
        f"returned None with jobs still queued {one.false_empty} / {four.false_empty} time(s)"
    )
    lines.append(
        ratio_line(f"{kind} enqueue_many vs single enqueue", bulk.per_second, single.per_second)
    )
    lines.append(
        ratio_line(f"{kind} import_jobs vs single enqueue", imported.per_second, single.per_second)
    )
    lines.append(
        ratio_line(f"{kind} claim+finish 4 workers vs 1 worker", four.per_second, one.per_second)
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--databases", default=",".join(DATABASES), help="sqlite,postgres")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    kinds = [k.strip() for k in args.databases.split(",") if k.strip()]
    print(
        f"queue throughput: {os.cpu_count()} CPUs, SQLite {sqlite_version()}, "
        f"PostgreSQL {postgres_version() or 'not reachable'}; sizes {sizes}"
    )
    print_per_database(kinds, lambda kind, folder: bench_database(kind, folder, sizes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
