"""Cosmos 3 through the service layer: what is queued, and what NVIDIA would refuse or crash on
after loading its model refused at enqueue, by import and by sweep, changing nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.domain.states import RunStatus
from cosmos_workflow.domain.sweeps import parse_axis
from cosmos_workflow.services import inputs, prompts, queue, runs, sweeps
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.jobwork import load_job_work
from tests.services.helpers import seed_input
from tests.services.snapshot import database_snapshot
from tests.videos import make_video

C3 = {"backend": "cosmos3"}


def seed_prompt(
    ctx: Context, name: str = "c3", controls: tuple[str, ...] = ("depth", "wsm")
) -> str:
    seed_input(ctx, name, controls=controls)
    return prompts.create_prompt(ctx, name, "a forklift in a warehouse").id


def seed_mov_prompt(ctx: Context) -> str:
    folder = Path(ctx.settings.home).parent / "in-mov"
    make_video(folder / "color.mov")
    inputs.add_input(ctx, folder, name="mov")
    return prompts.create_prompt(ctx, "mov", "a harbour at dawn").id


def test_a_cosmos3_job_holds_its_parameters_and_one_run_per_output(ctx: Context) -> None:
    prompt = seed_prompt(ctx)
    given = {
        **C3,
        "checkpoint": "Cosmos3-Super",
        "sampler": "edm",
        "sigma_max": 80,
        "diffusion_cache": False,
        "control_guidance": 2.5,
        "shift": 5,
        "resolution": "480",
        "chunk_frames": 121,
        "conditional_frames": 2,
        "max_frames": 200,
        "guidance": 4,
        "steps": 20,
        "seed": 7,
        "fps": 24,
        "num_outputs": 3,
    }
    result = queue.enqueue(ctx, queue.build_request([prompt], {"depth": 0.4, "wsm": 0.6}, given))
    assert len(result.run_ids) == 3
    listed = runs.list_runs(ctx, job_id=result.job_id).runs
    assert sorted(r.seed for r in listed) == [7, 8, 9]
    params = listed[0].params
    expected = {k: v for k, v in given.items() if k not in ("seed", "num_outputs")}
    assert {k: params[k] for k in expected} == expected


def test_unset_cosmos3_parameters_are_what_nvidia_uses_for_the_hints(ctx: Context) -> None:
    prompt = seed_prompt(ctx)
    result = queue.enqueue(ctx, queue.build_request([prompt], {"wsm": 1.0}, C3))
    [run] = runs.list_runs(ctx, job_id=result.job_id).runs
    assert run.params["guidance"] == 1.0 and run.params["control_guidance"] == 3.0
    assert run.params["chunk_frames"] == 101 and run.params["fps"] is None


Enqueue = Callable[[Context, queue.JobRequest], object]


def _alone(ctx: Context, request: queue.JobRequest) -> object:
    return queue.enqueue(ctx, request)


def _many(ctx: Context, request: queue.JobRequest) -> object:
    return queue.enqueue_many(ctx, [request])


def _swept(ctx: Context, request: queue.JobRequest) -> object:
    weights = {c.value: w for c, w in request.weights.items()}
    axes = [parse_axis(f"{c}={w:g}") for c, w in weights.items()]
    params = {k: v for k, v in request.params.items() if k in ("backend", "fps")}
    built = sweeps.build_sweep(request.prompt_ids, axes, seeds="1,2", params=params)
    return sweeps.queue_sweep(ctx, built, dry_run=False)


def _previewed(ctx: Context, request: queue.JobRequest) -> object:
    weights = {c.value: w for c, w in request.weights.items()}
    axes = [parse_axis(f"{c}={w:g}") for c, w in weights.items()]
    params = {k: v for k, v in request.params.items() if k in ("backend", "fps")}
    built = sweeps.build_sweep(request.prompt_ids, axes, params=params)
    return sweeps.queue_sweep(ctx, built, dry_run=True)


WAYS = [
    pytest.param(_alone, id="enqueue"),
    pytest.param(_many, id="import"),
    pytest.param(_swept, id="sweep"),
    pytest.param(_previewed, id="sweep-preview"),
]


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize(
    ("weights", "params", "message", "field"),
    [
        ({"seg": 0.5}, {}, "has no seg control video, and Cosmos 3 computes only edge", "weights"),
        ({"edge": 0.5, "seg": 0.5}, {}, "has no seg control video", "weights"),
        ({"edge": 0.5}, {"fps": 30}, "fps 30 differs from the input video's 24 fps", "fps"),
    ],
)
def test_what_cosmos3_cannot_render_from_the_input_is_refused(
    ctx: Context,
    way: Enqueue,
    weights: dict[str, float],
    params: dict[str, Any],
    message: str,
    field: str,
) -> None:
    prompt = seed_prompt(ctx)
    request = queue.build_request([prompt], weights, {**C3, **params})
    before = database_snapshot(ctx)
    with pytest.raises(InvalidInput, match=message) as refused:
        way(ctx, request)
    assert prompt in refused.value.message and "'c3'" in refused.value.message
    assert refused.value.field == field
    assert database_snapshot(ctx) == before


@pytest.mark.parametrize("control", ["depth", "wsm"])
def test_depth_and_wsm_need_the_inputs_control_video(ctx: Context, control: str) -> None:
    bare = seed_prompt(ctx, "bare", controls=())
    before = database_snapshot(ctx)
    with pytest.raises(InvalidInput, match=f"no {control} control video"):
        queue.enqueue(ctx, queue.build_request([bare], {control: 0.5}, C3))
    assert database_snapshot(ctx) == before
    ready = seed_prompt(ctx)
    queue.enqueue(ctx, queue.build_request([ready], {control: 0.5}, C3))


@pytest.mark.parametrize("way", WAYS)
def test_an_input_video_that_is_not_mp4_is_refused_for_cosmos3(ctx: Context, way: Enqueue) -> None:
    prompt = seed_mov_prompt(ctx)
    before = database_snapshot(ctx)
    with pytest.raises(InvalidInput, match=r"reads only \.mp4 input videos.*color\.mov is \.mov"):
        way(ctx, queue.build_request([prompt], {"edge": 0.5}, C3))
    assert database_snapshot(ctx) == before
    queue.enqueue(ctx, queue.build_request([prompt], {"edge": 0.5}, {"backend": "transfer2.5"}))


def test_one_refused_prompt_refuses_the_whole_import(ctx: Context) -> None:
    good = seed_prompt(ctx)
    bare = seed_prompt(ctx, "bare", controls=())
    requests = [
        queue.build_request([good], {"depth": 0.5}, C3),
        queue.build_request([good, bare], {"depth": 0.5}, C3),
    ]
    before = database_snapshot(ctx)
    with pytest.raises(InvalidInput, match=f"prompt {bare} \\(input 'bare'\\)"):
        queue.enqueue_many(ctx, requests)
    assert database_snapshot(ctx) == before


def test_edge_and_vis_are_computed_and_a_matching_fps_is_accepted(ctx: Context) -> None:
    bare = seed_prompt(ctx, "bare", controls=())
    params = {**C3, "fps": 24}
    result = queue.enqueue(ctx, queue.build_request([bare], {"edge": 0.5, "vis": 0.5}, params))
    assert len(result.run_ids) == 1


def test_the_other_backends_are_not_held_to_cosmos3s_inputs(ctx: Context) -> None:
    bare = seed_prompt(ctx, "bare", controls=())
    request = queue.build_request([bare], {"edge": 0.5}, {"fps": 30})
    assert queue.enqueue(ctx, request).created


def test_an_inputs_vis_video_is_given_to_cosmos3_as_its_blur_control(ctx: Context) -> None:
    prompt = seed_prompt(ctx, controls=("vis",))
    result = queue.enqueue(ctx, queue.build_request([prompt], {"vis": 0.7}, C3))
    with ctx.db.read() as session:
        work = load_job_work(session, result.job_id, (RunStatus.QUEUED,))
    [run] = work.runs
    assert run.weights == {Control.VIS: 0.7}
    assert run.control_paths[Control.VIS].name == "vis.mp4"


# -- sweeps -----------------------------------------------------------------------------------


def test_a_cosmos3_sweep_over_one_controls_weight_is_refused(ctx: Context) -> None:
    prompt = seed_prompt(ctx)
    with pytest.raises(InvalidInput, match=r"renders one video per seed.*normalises") as refused:
        sweeps.build_sweep([prompt], [parse_axis("depth=0.2:0.8:0.2")], seeds="1,2", params=C3)
    assert refused.value.field == "weights"
    # A zero weight leaves the other control out: still one control per combination.
    with pytest.raises(InvalidInput, match="renders one video per seed"):
        sweeps.build_sweep([prompt], [parse_axis("depth=0.2,0.4"), parse_axis("seg=0")], params=C3)
    # Other backends weigh a single control as given.
    assert sweeps.build_sweep([prompt], [parse_axis("depth=0.2,0.4")]).runs == 2


def test_a_cosmos3_sweep_counts_combinations_that_render_alike(ctx: Context) -> None:
    prompt = seed_prompt(ctx)
    axes = [parse_axis("depth=0.2,0.4"), parse_axis("wsm=0.2,0.4")]
    request = sweeps.build_sweep([prompt], axes, params=C3)
    assert request.duplicates == 1  # 0.4/0.4 renders what 0.2/0.2 renders
    result = sweeps.queue_sweep(ctx, request, dry_run=True)
    assert result.preview.duplicates == 1 and result.preview.runs == 4
    one_seed = sweeps.build_sweep([prompt], [parse_axis("depth=0.5")], seeds="1,2", params=C3)
    assert one_seed.duplicates == 0 and one_seed.runs == 2


def test_a_cosmos3_sweep_with_num_outputs_queues_every_output(ctx: Context) -> None:
    prompt = seed_prompt(ctx)
    axes = [parse_axis("depth=0.2,0.8"), parse_axis("wsm=0.5")]
    request = sweeps.build_sweep([prompt], axes, params={**C3, "num_outputs": 3, "seed": 5})
    assert request.runs == 6
    result = sweeps.queue_sweep(ctx, request)
    assert result.preview.runs == 6 and result.sweep is not None
    assert result.sweep.runs == 6 and result.sweep.params["num_outputs"] == 3
    listed = runs.list_runs(ctx, sweep=result.sweep.id, limit=100).runs
    assert sorted(r.seed for r in listed) == [5, 5, 6, 6, 7, 7]
