"""The sweep builder's words: the live count, durations, what a cancel did; and the live count
from a real database, which says what is wrong instead of raising and never queues anything."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cosmos_workflow.domain.params import PARAM_NAMES
from cosmos_workflow.services import sweeps
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.sweeps import SweepCancel, SweepPreview, SweepView
from cosmos_workflow.ui.sweep_builder import (
    AXIS_CONTROLS,
    SweepForm,
    cancel_text,
    count_text,
    counts_text,
    duration_text,
    live_count,
    review_link,
)
from tests.services.helpers import seed_prompts

MORNING = datetime(2026, 1, 5, 9, 0).timestamp()


def _preview(**changes: Any) -> SweepPreview:
    values: dict[str, Any] = {
        "name": "dock_sweep",
        "prompts": 3,
        "combinations": 16,
        "runs": 48,
        "jobs": 16,
        "skipped": 0,
        "axes": {"depth": [0.2, 0.4, 0.6, 0.8], "seg": [0.3, 0.6]},
        "seeds": [1, 2],
        "predicted_gpu_seconds": 4800.0,
        "predicted_finish_at": datetime(2026, 1, 5, 14, 32).timestamp(),
        "predicted_for": "h100",
        "limit": 500,
        "over_limit": False,
    }
    return SweepPreview(**{**values, **changes})


def test_durations_read_as_people_say_them() -> None:
    assert [duration_text(s) for s in (45, 720, 4800, 7200, 3599.9)] == [
        "45 s",
        "12 min",
        "1 h 20 min",
        "2 h",
        "1 h",
    ]


def test_the_count_multiplies_out_the_sweep_and_says_time_and_finish() -> None:
    assert count_text(_preview(), MORNING) == (
        r"Sweep **dock\_sweep**: 3 prompts x 4 depth x 2 seg x 2 seeds = **48 runs** in 16 jobs; "
        "predicted GPU time 1 h 20 min (for h100), finish around 14:32"
    )


def test_the_count_names_another_day_unknown_figures_skips_and_the_limit() -> None:
    text = count_text(
        _preview(
            prompts=1,
            seeds=[],
            skipped=1,
            runs=7,
            jobs=7,
            predicted_gpu_seconds=None,
            predicted_finish_at=datetime(2026, 1, 6, 8, 5).timestamp(),
            limit=4,
            over_limit=True,
        ),
        MORNING,
    )
    assert "1 prompt x 4 depth x 2 seg = **7 runs** in 7 jobs (1 combination with every" in text
    assert "predicted GPU time unknown (for h100), finish around 2026-01-06 08:05" in text
    assert text.endswith(
        'Above the limit of 4 runs (max_sweep_runs): tick "queue 7 runs anyway" to queue it.'
    )


def _cancel(cancelled: int, stopping: list[str], shared: list[str]) -> SweepCancel:
    view = SweepView(
        id="sw_1",
        name="dock",
        created_at=MORNING,
        runs=8,
        status="running",
        counts={},
        prompt_ids=[],
        axes={},
        seeds=[],
        params={},
        priority=0,
    )
    return SweepCancel(
        sweep=view, cancelled_runs=cancelled, stopping_jobs=stopping, shared_running_jobs=shared
    )


def test_a_cancel_says_what_stopped_and_what_is_left_to_finish() -> None:
    assert cancel_text(_cancel(6, ["job_a"], ["job_b", "job_c"])) == (
        "Sweep **dock**: 6 queued runs cancelled; 1 running job stopping (`job_a`); "
        "2 running jobs shared with other work left to finish, with this sweep's runs in them "
        "(`job_b`, `job_c`)."
    )
    assert cancel_text(_cancel(1, [], [])) == "Sweep **dock**: 1 queued run cancelled."
    assert cancel_text(_cancel(0, [], [])).endswith(
        "nothing left to cancel (its runs had all finished)."
    )


def test_counts_and_review_links() -> None:
    assert counts_text({"queued": 2, "cancelled": 6, "failed": 0}) == "6 cancelled, 2 queued"
    assert counts_text({}) == "-"
    assert review_link("sw_0abc") == "/review?sweep=sw_0abc"


def _form(prompt_ids: list[str], weights: dict[str, str], **fields: Any) -> SweepForm:
    """The form as Gradio hands it over: every field, in the order the inputs are wired."""
    controls = list(AXIS_CONTROLS)
    texts = [weights.get(c, "") for c in controls]
    params = [fields.get(p) for p in PARAM_NAMES]
    rest = [fields.get("seeds"), fields.get("name"), fields.get("priority")]
    return SweepForm.of([prompt_ids, *controls, *texts, *rest, *params])


def test_the_live_count_is_a_dry_run_of_the_real_queue(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 2)
    form = _form(prompt_ids, {"depth": "0.3,0.6", "seg": "0.2:0.4:0.2"}, name="grid", steps=10)
    text, over, runs = live_count(ctx, form, MORNING)
    assert (over, runs) == (False, 8)
    assert "Sweep **grid**: 2 prompts x 2 depth x 2 seg = **8 runs** in 4 jobs" in text
    assert sweeps.list_sweeps(ctx).total == 0


def test_the_live_count_says_what_is_wrong_instead_of_raising(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 1)
    cases = {
        "pick at least one prompt": _form([], {"depth": "0.5"}),
        "type the weights of at least one control": _form(prompt_ids, {}),
        "stops (0.2) before it starts (0.4)": _form(prompt_ids, {"seg": "0.4:0.2:0.1"}),
        "a seed must be a whole number": _form(prompt_ids, {"edge": "0.5"}, seeds="1,x"),
        "not both": _form(prompt_ids, {"edge": "0.5"}, seeds="1:2", seed=7),
        "unknown prompt id(s)": _form(["pr_missing"], {"edge": "0.5"}),
    }
    for expected, form in cases.items():
        text, over, runs = live_count(ctx, form, MORNING)
        assert text.startswith("**Cannot queue this yet**") and expected in text, text
        assert (over, runs) == (False, 0)
    assert sweeps.list_sweeps(ctx).total == 0
