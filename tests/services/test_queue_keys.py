"""Idempotency keys under concurrency, and the upscale weight as a typed parameter, on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from cosmos_workflow.backends import get_backend
from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.domain.params import params_from_dict, validate_params
from cosmos_workflow.domain.states import RunStatus
from cosmos_workflow.domain.work import HostTarget
from cosmos_workflow.services import queue, runs
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.jobwork import load_job_work
from cosmos_workflow.store import jobs as store
from cosmos_workflow.store.models import RunRow
from tests.services.helpers import seed_prompts
from tests.services.snapshot import database_snapshot

CALLERS = 8


def test_concurrent_enqueues_with_one_key_make_one_job(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 2)
    request = queue.build_request(prompt_ids, {"edge": 0.5}, idempotency_key="same-key")
    start = threading.Barrier(CALLERS)
    results: list[queue.EnqueueResult] = []
    errors: list[BaseException] = []

    def call() -> None:
        start.wait()
        try:
            results.append(queue.enqueue(ctx, request))
        except BaseException as exc:  # the assertion below names it
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert len(results) == CALLERS
    assert sum(r.created for r in results) == 1
    assert len({(r.job_id, tuple(r.run_ids)) for r in results}) == 1
    assert queue.queue_status(ctx).queued == 1
    assert runs.list_runs(ctx).total == 2


def test_a_key_taken_inside_the_transaction_inserts_nothing(ctx: Context) -> None:
    """The store's side of the race: the insert of a job whose key another transaction has
    committed meanwhile undoes only itself, and the transaction goes on."""
    prompt_ids = seed_prompts(ctx, 1)
    first = queue.enqueue(ctx, queue.build_request(prompt_ids, {"edge": 1}, idempotency_key="k"))
    row = store.new_job_row(
        kind="inference",
        backend="transfer1",
        priority=0,
        position=1,
        max_attempts=3,
        predicted_seconds=None,
        idempotency_key="k",
    )
    other = store.new_job_row(
        kind="inference",
        backend="transfer1",
        priority=0,
        position=2,
        max_attempts=3,
        predicted_seconds=None,
    )
    with ctx.db.write() as session:
        assert store.add_jobs(session, [row], []) is False
        assert store.add_jobs(session, [other], []) is True
    with ctx.db.read() as session:
        assert store.find_job(session, row["id"]) is None
        assert store.find_job(session, other["id"]) is not None
        assert store.job_by_key(session, "k") == (first.job_id, first.run_ids)


def test_concurrent_imports_sharing_keys_queue_each_key_once(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 1)
    batches = [
        [
            queue.build_request(prompt_ids, {"edge": 0.5}, idempotency_key=f"key-{n}")
            for n in range(offset, offset + 6)
        ]
        for offset in (0, 3, 0, 3)
    ]
    start = threading.Barrier(len(batches))
    errors: list[BaseException] = []

    def call(requests: list[queue.JobRequest]) -> None:
        start.wait()
        try:
            queue.enqueue_many(ctx, requests)
        except BaseException as exc:  # the assertion below names it
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    with ctx.db.read() as session:
        taken = store.taken_keys(session, [f"key-{n}" for n in range(12)])
    assert taken == {f"key-{n}" for n in range(9)}
    assert queue.queue_status(ctx).queued == 9


def _finished_run(ctx: Context) -> str:
    prompt_ids = seed_prompts(ctx, 1)
    run_id = queue.enqueue(ctx, queue.build_request(prompt_ids, {"edge": 0.5})).run_ids[0]
    with ctx.db.write() as session:
        run = session.get(RunRow, run_id)
        assert run is not None
        run.status = RunStatus.SUCCEEDED.value
        run.output_path = "/outputs/finished.mp4"
    return run_id


def test_the_upscale_weight_is_a_typed_parameter_of_the_upscale_run(ctx: Context) -> None:
    source = _finished_run(ctx)
    upscale = queue.enqueue_upscale(ctx, source, weight=0.8)
    (run,) = queue.get_job(ctx, upscale.job_id).runs
    assert params_from_dict(run.params).upscale_weight == 0.8
    with ctx.db.read() as session:
        job = load_job_work(session, upscale.job_id, statuses=(RunStatus.QUEUED,))
    assert job.runs[0].params.upscale_weight == 0.8
    rendered = get_backend(job.backend).render(job, HostTarget(), "/w")
    (spec,) = (json.loads(text) for name, text in rendered.files.items() if name.endswith(".json"))
    assert spec["upscale"] == {"control_weight": 0.8}
    # Inference runs store no upscale weight, and users cannot give one.
    assert "upscale_weight" not in runs.get_run(ctx, source).params
    with pytest.raises(InvalidInput, match="unknown parameter"):
        validate_params({"upscale_weight": 0.5})


@pytest.mark.parametrize("weight", [0.0, 1.5, -1.0])
def test_a_bad_upscale_weight_is_refused_and_changes_nothing(
    ctx: Context, weight: float, tmp_path: Path
) -> None:
    source = _finished_run(ctx)
    before = database_snapshot(ctx)
    with pytest.raises(InvalidInput, match="upscale weight"):
        queue.enqueue_upscale(ctx, source, weight=weight)
    assert database_snapshot(ctx) == before
