"""What NVIDIA's entry points fail on after loading a model is refused when it is queued."""

from __future__ import annotations

import pytest

from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.services import prompts, queue
from cosmos_workflow.services.context import Context
from tests.services.helpers import seed_input, seed_prompts
from tests.services.snapshot import database_snapshot


def test_a_prompt_without_negative_text_uses_the_models_default(ctx: Context) -> None:
    seed_input(ctx)
    view = prompts.create_prompt(ctx, "scene", "a street at dusk")
    assert view.negative is None
    given = prompts.create_prompt(ctx, "scene", "a street at dusk", negative="  blurry ")
    assert given.negative == "blurry"


@pytest.mark.parametrize("empty", ["", "   ", "\n"])
def test_an_explicitly_empty_negative_prompt_is_refused_and_changes_nothing(
    ctx: Context, empty: str
) -> None:
    seed_input(ctx)
    before = database_snapshot(ctx)
    with pytest.raises(InvalidInput, match=r"negative prompt is empty.*default") as refused:
        prompts.create_prompt(ctx, "scene", "a street at dusk", negative=empty)
    assert refused.value.field == "negative"
    assert database_snapshot(ctx) == before


@pytest.mark.parametrize(
    ("backend", "weights"),
    [
        ("transfer2.5", {"depth": 0.5}),
        ("transfer2.5", {"edge": 0.5, "depth": 0.5}),
        ("transfer1", {"seg": 0.5}),
        ("transfer1", {"edge": 0.5, "vis": 0.2}),
    ],
)
def test_distilled_with_anything_but_edge_is_refused_at_enqueue(
    ctx: Context, backend: str, weights: dict[str, float]
) -> None:
    [prompt_id] = seed_prompts(ctx, 1)
    before = database_snapshot(ctx)
    with pytest.raises(InvalidInput, match=r"distilled .* exactly the edge control") as refused:
        queue.enqueue(
            ctx,
            queue.build_request([prompt_id], weights, {"backend": backend, "distilled": True}),
        )
    assert refused.value.field == "distilled"
    assert database_snapshot(ctx) == before


def test_transfer2_5_distilled_defaults_to_its_trained_four_steps(ctx: Context) -> None:
    [prompt_id] = seed_prompts(ctx, 1)
    distilled = queue.build_request(
        [prompt_id], {"edge": 1.0}, {"backend": "transfer2.5", "distilled": True}
    )
    assert distilled.params["steps"] == 4
    explicit = queue.build_request(
        [prompt_id], {"edge": 1.0}, {"backend": "transfer2.5", "distilled": True, "steps": 8}
    )
    assert explicit.params["steps"] == 8
    base = queue.build_request([prompt_id], {"edge": 1.0}, {"backend": "transfer2.5"})
    assert base.params["steps"] == 35
    t1 = queue.build_request([prompt_id], {"edge": 1.0}, {"backend": "transfer1", "distilled": 1})
    assert t1.params["steps"] == 35  # Transfer1 distilled samples in one step whatever is given


@pytest.mark.parametrize(
    ("weights", "params", "message"),
    [
        ({"seg": 0.5}, {}, "has no seg control video"),
        ({"wsm": 0.5}, {}, "has no wsm control video"),
        ({"edge": 0.5}, {"fps": 25}, "fps 25 differs from the input video's 24 fps"),
    ],
)
def test_cosmos3_inputs_it_would_crash_on_are_refused_at_enqueue(
    ctx: Context, weights: dict[str, float], params: dict[str, object], message: str
) -> None:
    seed_input(ctx, controls=("depth",))
    prompt_id = prompts.create_prompt(ctx, "scene", "a street at dusk").id
    request = queue.build_request([prompt_id], weights, {"backend": "cosmos3", **params})
    before = database_snapshot(ctx)
    with pytest.raises(InvalidInput, match=message) as refused:
        queue.enqueue(ctx, request)
    assert f"prompt {prompt_id} (input 'scene')" in refused.value.message
    assert database_snapshot(ctx) == before
