"""A claiming process for the exactly-once test: claims until the queue is empty, finishes each
job, and writes the ids it claimed, one per line."""

from __future__ import annotations

import sys
from pathlib import Path

from cosmos_workflow.domain.states import JobStatus
from cosmos_workflow.store.db import Database
from cosmos_workflow.store.queue import claim_next_job, finish_job


def main(url: str, out: Path, worker: str) -> None:
    db = Database(url)
    claimed = []
    while (claim := claim_next_job(db, worker, lease_seconds=300)) is not None:
        claimed.append(claim.job_id)
        assert finish_job(db, claim.job_id, claim.lease_token, JobStatus.SUCCEEDED)
    out.write_text("\n".join(claimed))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), sys.argv[3])
