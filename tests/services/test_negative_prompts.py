"""Transfer1 runs one negative prompt per process, so one job of prompts whose negative prompts
differ is refused at enqueue (naming the prompts, changing nothing) instead of failing in the
worker; Transfer2.5 takes a negative prompt per sample and accepts it."""

from __future__ import annotations

import pytest

from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.services import prompts, queue
from cosmos_workflow.services.context import Context
from tests.services.helpers import seed_input
from tests.services.snapshot import database_snapshot


def _prompts(ctx: Context, negatives: list[str | None]) -> list[str]:
    seed_input(ctx)
    return [
        prompts.create_prompt(ctx, "scene", f"a street, take {i}", negative=negative).id
        for i, negative in enumerate(negatives)
    ]


def test_a_transfer1_job_with_two_negative_prompts_is_refused(ctx: Context) -> None:
    blurry, plain, blurry_too = _prompts(ctx, ["blurry", None, "blurry"])
    before = database_snapshot(ctx)
    request = queue.build_request([blurry, plain, blurry_too], {"edge": 0.5})

    with pytest.raises(InvalidInput, match="different negative prompts") as refused:
        queue.enqueue(ctx, request)

    assert f"{blurry}, {blurry_too}; {plain}" in refused.value.message
    assert refused.value.field == "prompt_ids"
    assert database_snapshot(ctx) == before


def test_one_bad_job_refuses_the_whole_submission(ctx: Context) -> None:
    blurry, plain = _prompts(ctx, ["blurry", None])
    good = queue.build_request([blurry], {"edge": 0.5})
    bad = queue.build_request([blurry, plain], {"depth": 0.5})
    before = database_snapshot(ctx)
    with pytest.raises(InvalidInput, match=f"{blurry}; {plain}"):
        queue.enqueue_many(ctx, [good, bad])
    assert database_snapshot(ctx) == before


def test_equal_negative_prompts_share_a_job_and_transfer2_5_takes_any(ctx: Context) -> None:
    first, second, other = _prompts(ctx, ["blurry", "blurry", "grainy"])
    same = queue.enqueue(ctx, queue.build_request([first, second], {"edge": 0.5}))
    assert len(same.run_ids) == 2
    mixed = queue.build_request([first, other], {"edge": 0.5}, {"backend": "transfer2.5"})
    assert len(queue.enqueue(ctx, mixed).run_ids) == 2
