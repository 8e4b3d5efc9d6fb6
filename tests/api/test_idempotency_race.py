"""Submissions racing with one idempotency key, through a real server on both databases: one
job is created (201) and every other request gets that job back (200)."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from tests.conftest import make_database_url

SUBMITTERS = 8


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return make_database_url(request.param, request, tmp_path)


def test_racing_submissions_with_one_key_create_one_job(
    live_server: str, prompt_ids: list[str]
) -> None:
    body = {"prompt_ids": prompt_ids[:2], "weights": {"edge": 0.5}, "idempotency_key": "race-1"}
    start = threading.Barrier(SUBMITTERS)
    answers: list[httpx.Response] = []

    def submit() -> None:
        with httpx.Client(base_url=live_server, timeout=60) as http:
            start.wait()
            answers.append(http.post("/api/queue", json=body))

    threads = [threading.Thread(target=submit) for _ in range(SUBMITTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * (SUBMITTERS - 1) + [201], [a.text for a in answers]
    assert len({a.json()["job_id"] for a in answers}) == 1
    assert httpx.get(f"{live_server}/api/queue", timeout=60).json()["total"] == 1
