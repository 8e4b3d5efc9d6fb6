"""The running job's progress, ETA and weights as the Jobs tab words them, from what the worker
records in `job.progress` events (worker/execute.py: `step`, `total`, `clip`)."""

from __future__ import annotations

from typing import Any

from cosmos_workflow.backends import transfer1, transfer2_5
from cosmos_workflow.backends.base import Progress
from cosmos_workflow.services.views import JobView
from cosmos_workflow.ui.common import ranges_text, remaining_text, short_text
from cosmos_workflow.ui.jobs_tab import progress_text, running_text

NOW = 1_800_000_000.0
BAR = "{label}{percent:3d}%|##########| {step}/{total} [00:01<00:02,  1.00it/s]"


def _recorded(event: Any) -> dict[str, Any]:
    """The event data the worker records from a parsed progress line (worker/timings.py)."""
    assert isinstance(event, Progress)
    return {"step": event.step, "total": event.total, "clip": event.clip}


def test_transfer1_says_which_clip_is_generated() -> None:
    # Transfer1's only bar counts finished clips: 1/5 means clip 2 is being generated.
    line = BAR.format(label="", percent=20, step=1, total=5)
    assert progress_text(_recorded(transfer1.parse_line(line))) == "clip 2 of 5"
    assert progress_text({"step": 0, "total": 5, "clip": 0}) == "clip 1 of 5"
    assert progress_text({"step": 5, "total": 5, "clip": 5}) == "5 of 5 clips done"


def test_transfer2_5_says_denoising_steps() -> None:
    line = BAR.format(label="Generating samples: ", percent=80, step=28, total=35)
    assert progress_text(_recorded(transfer2_5.parse_line(line))) == "step 28 of 35"
    assert progress_text({"step": 14, "total": 35, "clip": None}) == "step 14 of 35"


def test_before_the_first_bar_it_is_starting_or_loading_the_model() -> None:
    for nothing in ({}, None, {"step": None, "total": None, "clip": None}):
        assert progress_text(nothing) == "starting"
        assert progress_text(nothing, logged=True) == "loading model"
    # Nothing recorded ever reads as "None" or a bare count without a total.
    for odd in ({"step": 3, "total": 0, "clip": None}, {"step": "3", "total": 5}):
        assert "None" not in progress_text(odd) and progress_text(odd) == "starting"


def test_remaining_time_is_never_zero_seconds() -> None:
    assert remaining_text(NOW + 150, NOW) == "in 2.5 min"
    assert remaining_text(NOW + 0.4, NOW) == "finishing"
    assert remaining_text(NOW - 5, NOW) == "finishing"
    assert remaining_text(NOW - 120, NOW) == "overdue by 2.0 min"
    assert remaining_text(None, NOW) == "no estimate"


def test_weight_ranges_and_short_prompts() -> None:
    assert ranges_text({"depth": [0.4, 0.8], "seg": [0.3, 0.3]}) == "depth 0.4-0.8, seg 0.3"
    assert ranges_text({}) == "-"
    assert short_text("a  red\ncar", 60) == "a red car"
    assert short_text("x" * 100, 10) == "x" * 9 + "…" and short_text(None) == ""


def _job(**changes: Any) -> JobView:
    fields: dict[str, Any] = {
        "id": "job_a",
        "kind": "transfer",
        "status": "running",
        "position": None,
        "priority": 0,
        "backend": "transfer2_5",
        "gpu_batch_size": 1,
        "attempts": 1,
        "max_attempts": 3,
        "error": None,
        "failure_class": None,
        "merged_into_job_id": None,
        "retry_of_job_id": None,
        "plan_id": None,
        "idempotency_key": None,
        "predicted_seconds": 600.0,
        "worker_id": "w",
        "host_name": "node",
        "cancel_requested": False,
        "created_at": NOW - 700,
        "started_at": NOW - 600,
        "finished_at": None,
        "runs": [],
        "eta_slot": "node/0",
        "eta_start_at": NOW - 600,
        "eta_finish_at": NOW + 90,
        "weight_ranges": {"depth": [0.4, 0.8], "seg": [0.3, 0.3]},
    }
    return JobView(**{**fields, **changes})


def test_the_running_panel_shows_the_jobs_weight_ranges_progress_and_eta() -> None:
    progress = {"step": 28, "total": 35, "clip": None}
    assert running_text(_job(), progress, True, NOW) == (
        "Running job `job_a` (0 run(s), depth 0.4-0.8, seg 0.3) on node: step 28 of 35; "
        "done in 1.5 min."
    )
    late = running_text(_job(eta_finish_at=NOW - 180), {}, True, NOW, others=1)
    assert late.endswith("loading model; overdue by 3.0 min. 1 more job(s) running (Fleet tab).")
