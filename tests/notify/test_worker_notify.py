"""Notifications from real `cosmos worker` processes, configured by `[[notify]]` in cosmos.toml:
two workers draining a queue together tell each end exactly once (counted at a real local HTTP
server), and an endpoint that hangs never holds a job back."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest

from cosmos_workflow.domain.sweeps import parse_axis
from cosmos_workflow.services import queue, sweeps
from cosmos_workflow.services.context import Context
from tests.e2e.conftest import BOTH_DATABASES, Cosmos
from tests.notify.receiver import receiving
from tests.services.helpers import seed_prompts

pytestmark = pytest.mark.slow


def _config(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "notify.toml"
    path.write_text(text)
    return {"COSMOS_CONFIG": str(path)}


def _sweep(ctx: Context, prompts: list[str], name: str, axis: str) -> str:
    request = sweeps.build_sweep(prompts, [parse_axis(axis)], name=name)
    sweep = sweeps.queue_sweep(ctx, request).sweep
    assert sweep is not None
    return sweep.id


@pytest.mark.timeout(240)
@pytest.mark.parametrize("database_url", BOTH_DATABASES, indirect=True)
def test_two_workers_draining_a_queue_tell_each_end_exactly_once(
    ctx: Context, cosmos: Cosmos, tmp_path: Path
) -> None:
    prompts = seed_prompts(ctx, 2)
    first = _sweep(ctx, prompts, "first", "depth=0.2,0.4,0.6")
    second = _sweep(ctx, prompts, "second", "edge=0.3,0.5")
    with receiving() as receiver:
        env = _config(
            tmp_path,
            f"[[notify]]\nurl = '{receiver.url}/all'\n"
            "on = ['run_failed', 'job_finished', 'sweep_finished', 'queue_drained']\n"
            f"[[notify]]\nurl = '{receiver.url}/topic'\nformat = 'ntfy'\n",
        )
        env["COSMOS_SIM_FAULTS"] = json.dumps({"guardrail_block": [2]})
        workers = [
            cosmos.start("worker", "--simulate", "--exit-when-idle", extra_env=env)
            for _ in range(2)
        ]
        outputs = [w.communicate(timeout=180)[0] for w in workers]
        assert [w.returncode for w in workers] == [0, 0], "\n".join(outputs)
        time.sleep(1.0)  # anything sent twice would have arrived by now
        received = list(receiver.received)
    assert sum(o.count("claimed job=") for o in outputs) == 5
    everything = [json.loads(r.body) for r in received if r.path == "/all"]
    told = Counter((b["event"], b["run_id"] or b["job_id"] or b["sweep_id"]) for b in everything)
    assert all(n == 1 for n in told.values()), told
    kinds = Counter(b["event"] for b in everything)
    assert kinds == {"run_failed": 5, "job_finished": 5, "sweep_finished": 2, "queue_drained": 1}
    assert {b["sweep_id"] for b in everything if b["event"] == "sweep_finished"} == {
        first,
        second,
    }
    ntfy = sorted(r.headers["Title"] for r in received if r.path == "/topic")
    assert ntfy == ["Queue drained", "Sweep first finished", "Sweep second finished"]
    assert everything[-1]["event"] == "queue_drained"


@pytest.mark.timeout(240)
def test_an_endpoint_that_hangs_does_not_hold_jobs_back(
    ctx: Context, cosmos: Cosmos, tmp_path: Path
) -> None:
    prompts = seed_prompts(ctx, 3)
    job_ids = [queue.enqueue(ctx, queue.build_request([p], {"edge": 0.5})).job_id for p in prompts]
    with receiving() as receiver:
        receiver.default = 0  # every request hangs until released
        env = _config(
            tmp_path,
            f"[[notify]]\nurl = '{receiver.url}/hook'\non = ['job_finished']\n"
            "timeout_seconds = 120\n",
        )
        # Jobs of about two seconds each, so the later ones run while the first end is told.
        env["COSMOS_SIM_TIME_SCALE"] = "0.01"
        worker = cosmos.start("worker", "--simulate", "--exit-when-idle", extra_env=env)
        receiver.wait_for(1, timeout_s=120)
        hung_at = time.monotonic()
        finished_then = _finished(ctx, job_ids)
        deadline = hung_at + 60
        while _finished(ctx, job_ids) < len(job_ids) and time.monotonic() < deadline:
            time.sleep(0.05)
        all_done = time.monotonic()
        assert _finished(ctx, job_ids) == len(job_ids)
        assert receiver.hanging == 1 and len(receiver.received) == 1, "still hanging"
        assert finished_then < len(job_ids), "some jobs ran while the endpoint hung"
        assert all_done - hung_at < 30
        receiver.release.set()
        output = worker.communicate(timeout=60)[0]
        assert worker.returncode == 0, output
        assert len(receiver.wait_for(3)) == 3


def _finished(ctx: Context, job_ids: list[str]) -> int:
    return sum(queue.get_job(ctx, job_id).status == "succeeded" for job_id in job_ids)
