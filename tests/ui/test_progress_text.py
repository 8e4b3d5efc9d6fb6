"""The running job's progress as the Jobs tab words it."""

from __future__ import annotations

from cosmos_workflow.ui.jobs_tab import progress_text


def test_progress_says_clips_for_transfer1_and_steps_for_transfer2_5() -> None:
    assert progress_text({"step": 1, "total": 3, "clip": 1}) == "clip 1 of 3"
    assert progress_text({"step": 14, "total": 35, "clip": None}) == "step 14 of 35"
    assert progress_text({}) == "starting"
