"""The default path through NVIDIA's contracts, end to end: real worker code and simulator
processes that fail where NVIDIA's code fails."""

from __future__ import annotations

import pytest

from cosmos_workflow.services import prompts, queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.worker.loop import run_worker

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("backend", ["transfer1", "transfer2.5"])
@pytest.mark.parametrize("negative", [None, "-blurry, - low quality"])
def test_prompts_with_default_or_dashed_negative_text_render(
    ctx: Context,
    scene: str,
    backend: str,
    negative: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A prompt created without a negative prompt renders NVIDIA's default (an empty one crashes
    both models); a negative prompt starting with '-' is not read as an option."""
    monkeypatch.setenv("COSMOS_SIM_TIME_SCALE", "0")
    first = prompts.create_prompt(ctx, scene, "a red car on a wet road", negative=negative)
    second = prompts.create_prompt(ctx, scene, "a blue car on a dry road", negative=negative)
    job = queue.enqueue(
        ctx, queue.build_request([first.id, second.id], {"edge": 0.5}, {"backend": backend})
    )
    assert run_worker(ctx, simulate=True, once=True) == 1
    view = queue.get_job(ctx, job.job_id)
    assert view.status == "succeeded", [r.error for r in view.runs]
    assert all(r.status == "succeeded" and r.output_path for r in view.runs)
