"""The notifier over real events, on SQLite and PostgreSQL: a sweep run by the real worker loop
(simulator processes, one run of each job blocked by the guardrail) tells each end once, even
when two notifiers read the same events, and the claims go with history."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest

from cosmos_workflow.config import NotifyConfig
from cosmos_workflow.domain.sweeps import parse_axis
from cosmos_workflow.notify.send import Sender
from cosmos_workflow.notify.watch import Notifier
from cosmos_workflow.services import sweeps
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.retention import prune
from cosmos_workflow.store.notifications import claimed
from cosmos_workflow.worker.loop import run_worker
from tests.e2e.conftest import BOTH_DATABASES
from tests.notify.receiver import Receiver, receiving
from tests.services.helpers import seed_prompts

pytestmark = pytest.mark.parametrize("database_url", BOTH_DATABASES, indirect=True)

EVERYTHING = ["run_failed", "job_finished", "sweep_finished", "queue_drained"]


def _notifier(ctx: Context, receiver: Receiver) -> Notifier:
    target = NotifyConfig(url=f"{receiver.url}/all", on=EVERYTHING)  # type: ignore[arg-type]
    notifier = Notifier(ctx, [Sender(target, first_backoff_s=0.01).start()])
    notifier.after = 0  # from the first event, not the newest
    return notifier


def _sweep_run_to_its_end(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> str:
    """A sweep of two jobs of two runs each; the second run of each job is blocked."""
    prompts = seed_prompts(ctx, 2)
    request = sweeps.build_sweep(prompts, [parse_axis("depth=0.2,0.4")], name="look")
    sweep = sweeps.queue_sweep(ctx, request).sweep
    assert sweep is not None
    monkeypatch.setenv("COSMOS_SIM_TIME_SCALE", "0")
    monkeypatch.setenv("COSMOS_SIM_FAULTS", json.dumps({"guardrail_block": [2]}))
    assert run_worker(ctx, simulate=True, exit_when_idle=True) == 2
    return sweep.id


def test_two_notifiers_on_the_same_events_tell_each_end_once(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep_id = _sweep_run_to_its_end(ctx, monkeypatch)
    with receiving() as receiver:
        first, second = _notifier(ctx, receiver), _notifier(ctx, receiver)
        first.poll_safely()
        second.poll_safely()
        for notifier in (first, second):
            notifier.stop(flush_s=10)
        bodies = [json.loads(r.body) for r in receiver.wait_for(6)]
        time.sleep(0.3)
        assert len(receiver.received) == 6, "the second notifier sent nothing"
    events = sorted(b["event"] for b in bodies)
    assert events == sorted(["run_failed"] * 2 + ["job_finished"] * 2 + EVERYTHING[2:])
    failed = [b for b in bodies if b["event"] == "run_failed"]
    assert all(b["sweep_name"] == "look" and b["error"] for b in failed)
    assert len({b["run_id"] for b in failed}) == 2
    (swept,) = [b for b in bodies if b["event"] == "sweep_finished"]
    assert swept["sweep_id"] == sweep_id and swept["status"] == "failed"
    assert swept["counts"] == {"succeeded": 2, "failed": 2}
    assert swept["message"] == "Sweep look finished (failed): 4 runs: 2 succeeded, 2 failed."
    jobs = [b for b in bodies if b["event"] == "job_finished"]
    assert all(b["counts"] == {"succeeded": 1, "failed": 1} for b in jobs)
    assert bodies[-1]["event"] == "queue_drained", "the queue's end is told last"
    with ctx.db.read() as session:
        assert len(claimed(session)) == 6


def test_nothing_is_told_twice_across_polls_and_claims_go_with_history(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sweep_run_to_its_end(ctx, monkeypatch)
    with receiving() as receiver:
        notifier = _notifier(ctx, receiver)
        notifier.poll_safely()
        notifier.after = 0  # the same events again: already claimed
        notifier.poll_safely()
        notifier.stop(flush_s=10)
        receiver.wait_for(6)
        time.sleep(0.3)
        assert len(receiver.received) == 6
    prune(ctx, timedelta(days=30), now=time.time() + 31 * 86_400)
    with ctx.db.read() as session:
        assert claimed(session) == []


def test_a_notifier_starts_at_the_newest_event(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ends from before a worker started are not told again by it."""
    _sweep_run_to_its_end(ctx, monkeypatch)
    with receiving() as receiver:
        target = NotifyConfig(url=receiver.url, on=EVERYTHING)  # type: ignore[arg-type]
        notifier = Notifier(ctx, [Sender(target)], poll_s=0.05).start()
        time.sleep(0.3)
        notifier.stop(flush_s=5)
        assert receiver.received == []
