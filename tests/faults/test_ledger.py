"""The ledger the fault tests trust sees each kind of violation: a run recorded twice, a job
finished twice, a stray second result, a lost run, an output replaced after its run finished,
and a simulator process left behind (a checker that can never fail would prove nothing)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import update

from cosmos_workflow.services import prompts, queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.events import record_event
from cosmos_workflow.store.models import JobRow, RunRow
from tests.faults.ledger import read_ledger
from tests.services.helpers import seed_prompts
from tests.videos import make_video


def _finish(ctx: Context, job_id: str, run_id: str, output: Path, twice: bool = False) -> None:
    with ctx.db.write() as session:
        session.execute(
            update(RunRow)
            .where(RunRow.id == run_id)
            .values(status="succeeded", output_path=str(output), finished_at=time.time())
        )
        session.execute(update(JobRow).where(JobRow.id == job_id).values(status="succeeded"))
        for _ in range(2 if twice else 1):
            record_event(session, "run.status", job_id=job_id, run_id=run_id, status="succeeded")
            record_event(session, "job.status", job_id=job_id, status="succeeded")


def test_a_clean_ledger_has_no_problems(ctx: Context, tmp_path: Path) -> None:
    (prompt_id,) = seed_prompts(ctx, 1)
    job = queue.enqueue(ctx, queue.build_request([prompt_id], {"edge": 0.5}))
    _finish(ctx, job.job_id, job.run_ids[0], make_video(tmp_path / "out.mp4"))
    ledger = read_ledger(ctx.db, Path(ctx.settings.home), settle_s=0)
    assert ledger.problems(fault_free=True) == [], ledger.report()


def test_the_ledger_sees_every_violation(ctx: Context, tmp_path: Path) -> None:
    ids = seed_prompts(ctx, 4)
    twice = queue.enqueue(ctx, queue.build_request([ids[0]], {"edge": 0.5}))
    _finish(ctx, twice.job_id, twice.run_ids[0], make_video(tmp_path / "a.mp4"), twice=True)
    replaced = queue.enqueue(ctx, queue.build_request([ids[1]], {"edge": 0.5}))
    output = make_video(tmp_path / "b.mp4")
    _finish(ctx, replaced.job_id, replaced.run_ids[0], output)
    time.sleep(0.05)
    os.replace(make_video(tmp_path / "later.mp4"), output)  # a later attempt's output
    lost = queue.enqueue(ctx, queue.build_request([ids[2]], {"edge": 0.5}))
    prompts.create_prompt(ctx, "scene", "a stray result", parent_prompt_id=ids[3])
    home = Path(ctx.settings.home)
    left = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "-m", "cosmos_workflow.simulator"],
        env={**os.environ, "COSMOS_HOME": str(home)},
    )
    try:
        ledger = read_ledger(ctx.db, home, settle_s=0)
    finally:
        left.kill()
        left.wait()
    assert ledger.runs_twice == [twice.run_ids[0]]
    assert ledger.jobs_twice == [twice.job_id]
    assert len(ledger.stray_results) == 1
    assert ledger.overwritten == [replaced.run_ids[0]]
    assert f"run {lost.run_ids[0]} queued" in ledger.lost
    assert f"job {lost.job_id} queued" in ledger.lost
    assert [p.pid for p in ledger.processes_left] == [left.pid]
    assert len(ledger.problems()) == 6
