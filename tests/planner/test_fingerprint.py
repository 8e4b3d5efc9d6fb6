from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.params import JobKind
from cosmos_workflow.domain.work import QueuedRun, VideoInfo
from cosmos_workflow.planner.fingerprint import queue_fingerprint
from tests.planner.builders import queued_run, queues


@settings(max_examples=60, deadline=None)
@given(queues(), st.randoms(use_true_random=False))
def test_order_of_the_input_list_does_not_matter(runs: list[QueuedRun], rng) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(runs)
    rng.shuffle(shuffled)
    assert queue_fingerprint(shuffled) == queue_fingerprint(runs)


def edits(run: QueuedRun) -> list[QueuedRun]:
    params = run.params
    return [
        dataclasses.replace(run, priority=run.priority + 1),
        dataclasses.replace(run, queue_index=run.queue_index + 1),
        dataclasses.replace(run, job_id=run.job_id + "x"),
        dataclasses.replace(run, weights={**run.weights, Control.SEG: 0.123}),
        dataclasses.replace(run, params=dataclasses.replace(params, seed=params.seed + 1)),
        dataclasses.replace(run, params=dataclasses.replace(params, guidance=params.guidance + 1)),
        dataclasses.replace(run, negative_prompt=run.negative_prompt + "!"),
        dataclasses.replace(run, video=VideoInfo(run.video.frames + 1, 24.0, 1280, 704)),
        dataclasses.replace(run, kind=JobKind.UPSCALE),
        dataclasses.replace(run, job_gpu_batch_size=run.job_gpu_batch_size + 1),
    ]


@settings(max_examples=40, deadline=None)
@given(queues(), st.data())
def test_any_add_remove_move_or_edit_changes_it(runs: list[QueuedRun], data: st.DataObject) -> None:
    original = queue_fingerprint(runs)
    index = data.draw(st.integers(0, len(runs) - 1))
    assert queue_fingerprint(runs[:index] + runs[index + 1 :]) != original
    assert queue_fingerprint([*runs, queued_run("new", "newjob")]) != original
    for edited in edits(runs[index]):
        changed = [*runs[:index], edited, *runs[index + 1 :]]
        assert queue_fingerprint(changed) != original


def test_swapping_two_jobs_queue_places_changes_it() -> None:
    a = queued_run("a", "j1", queue_index=0)
    b = queued_run("b", "j2", queue_index=1)
    swapped = [dataclasses.replace(a, queue_index=1), dataclasses.replace(b, queue_index=0)]
    assert queue_fingerprint([a, b]) != queue_fingerprint(swapped)
    assert len(queue_fingerprint([a, b])) == 64
