"""The banner's line about the server's own worker, for each state it can be in."""

from __future__ import annotations

from cosmos_workflow.api.models import EmbeddedWorkerStatus
from cosmos_workflow.ui.app import embedded_worker_text

NOW = 1_767_225_600.0


def test_the_banner_words_each_state_of_the_embedded_worker() -> None:
    def text(**fields: object) -> str:
        return embedded_worker_text(EmbeddedWorkerStatus.model_validate(fields), NOW)

    assert text(state="none") == "No worker in this server (run `cosmos worker`)."
    assert text(state="starting", since=NOW) == "Worker: starting."
    assert text(state="running", since=NOW) == "Worker: running."
    assert text(state="running", since=NOW, restarts=1) == "Worker: running (1 restart)."
    assert (
        text(
            state="restarting",
            since=NOW - 1,
            restarts=3,
            last_error="database unreachable for 300 s",
            next_start_at=NOW + 7.2,
        )
        == "**Worker restarting in 8 s** after: database unreachable for 300 s (3 restarts)."
    )
    assert text(state="restarting", restarts=0, last_error="x", next_start_at=NOW - 1).startswith(
        "**Worker restarting in 0 s** after: x (0 restarts)"
    )
    assert text(state="stopped", since=NOW) == "**Worker stopped**."
    assert text(state="stopped", last_error="KeyError: *a*") == (
        r"**Worker stopped** after: KeyError: \*a\*."
    )
