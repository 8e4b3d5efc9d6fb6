"""The two-step stop that SIGTERM and SIGINT drive: the first request stops claiming and starts
the grace, whose end ends the job; a second request ends it at once."""

from __future__ import annotations

import time

from cosmos_workflow.worker.stopping import StopRequests


def test_the_grace_ends_the_job_when_it_runs_out() -> None:
    requests = StopRequests(grace_s=0.3)
    started = time.monotonic()
    assert requests.request() is True
    assert requests.stop.is_set() and not requests.kill.is_set()
    assert requests.kill.wait(5), "the grace never ended the job"
    assert time.monotonic() - started >= 0.3
    requests.close()


def test_a_second_request_ends_the_job_at_once() -> None:
    requests = StopRequests(grace_s=60)
    assert requests.request() is True
    assert requests.request() is False
    assert requests.kill.is_set()
    requests.close()


def test_a_worker_that_ended_within_the_grace_is_not_killed_later() -> None:
    requests = StopRequests(grace_s=0.2)
    requests.request()
    requests.close()  # the job finished and the worker ended
    time.sleep(0.4)
    assert not requests.kill.is_set()
