"""A claiming process for the exactly-once test: waits at a start line, claims until the queue is
empty, finishes each job, and writes the ids it claimed, one per line.

The start line matters on a slow machine: without it the first process to finish importing can
drain the whole queue before the others are running, and the test would not race anything."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from cosmos_workflow.domain.states import JobStatus
from cosmos_workflow.store.db import Database
from cosmos_workflow.store.jobs import claim_next_job, finish_job


def wait_for(path: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"no start signal at {path}")
        time.sleep(0.01)


def main(url: str, out: Path, worker: str, start: Path) -> None:
    db = Database(url)
    db.write_engine.connect().close()  # connect before the start line, not after it
    out.with_suffix(".ready").touch()
    wait_for(start)
    claimed = []
    while (claim := claim_next_job(db, worker, lease_seconds=300)) is not None:
        claimed.append(claim.job_id)
        assert finish_job(db, claim.job_id, claim.lease_token, JobStatus.SUCCEEDED)
    out.write_text("\n".join(claimed))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4]))
