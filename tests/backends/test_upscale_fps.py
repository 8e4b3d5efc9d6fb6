"""An upscale renders `--fps` at the rate its source video plays at: transfer.py writes at it."""

from __future__ import annotations

from typing import Any

import pytest

from cosmos_workflow.backends import get_backend
from cosmos_workflow.domain.states import RunStatus
from cosmos_workflow.domain.work import HostTarget
from cosmos_workflow.services import queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.jobwork import load_job_work
from cosmos_workflow.store.models import InputRow, PromptRow, RunRow
from tests.services.helpers import seed_prompts


def finished_run(ctx: Context, params: dict[str, Any], input_fps: float) -> str:
    """A succeeded run rendered with `params`, from an input video playing at `input_fps`."""
    prompt_id = seed_prompts(ctx, 1)[0]
    request = queue.build_request([prompt_id], {"edge": 0.5}, params)
    run_id = queue.enqueue(ctx, request).run_ids[0]
    with ctx.db.write() as session:
        run = session.get(RunRow, run_id)
        assert run is not None
        run.status = RunStatus.SUCCEEDED.value
        run.output_path = "/outputs/finished.mp4"
        prompt = session.get(PromptRow, run.prompt_id)
        assert prompt is not None
        source = session.get(InputRow, prompt.input_id)
        assert source is not None
        source.fps = input_fps
    return run_id


def rendered_fps(ctx: Context, run_id: str) -> str:
    job_id = queue.enqueue_upscale(ctx, run_id).job_id
    with ctx.db.read() as session:
        job = load_job_work(session, job_id, statuses=(RunStatus.QUEUED,))
    argv = get_backend(job.backend).render(job, HostTarget(), "/w").argv
    return argv[argv.index("--fps") + 1]


@pytest.mark.parametrize(
    ("params", "input_fps", "expected"),
    [
        ({"backend": "transfer1", "fps": 30}, 24.0, "30"),  # Transfer1 wrote at its --fps
        ({"backend": "transfer2.5"}, 29.97, "30"),  # Transfer2.5 wrote at the input's rate
        ({"backend": "transfer2.5"}, 16.0, "16"),
    ],
)
def test_upscale_fps_is_the_source_videos(
    ctx: Context, params: dict[str, Any], input_fps: float, expected: str
) -> None:
    assert rendered_fps(ctx, finished_run(ctx, params, input_fps)) == expected


def test_upscale_of_an_upscale_keeps_the_original_rate(ctx: Context) -> None:
    source = finished_run(ctx, {"backend": "transfer1", "fps": 12}, 24.0)
    upscale = queue.enqueue_upscale(ctx, source).run_ids[0]
    with ctx.db.write() as session:
        run = session.get(RunRow, upscale)
        assert run is not None
        run.status = RunStatus.SUCCEEDED.value
        run.output_path = "/outputs/upscaled.mp4"
    assert rendered_fps(ctx, upscale) == "12"
