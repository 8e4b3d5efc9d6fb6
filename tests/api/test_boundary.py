"""Values one database stores and the other refuses (NUL characters, integers past 32 bits) are
refused by the API itself, the same on both: 422 naming the field, nothing changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cosmos_workflow.services.context import Context
from tests.conftest import make_database_url
from tests.services.snapshot import database_snapshot


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return make_database_url(request.param, request, tmp_path)


def _refusals(prompt_id: str) -> list[tuple[str, str, dict[str, Any], str]]:
    return [
        ("POST", "/api/prompts", {"json": {"input": "scene", "text": "a\x00b"}}, "text"),
        ("POST", "/api/prompts", {"json": {"input": "sc\x00ene", "text": "ab"}}, "input"),
        ("POST", "/api/inputs", {"json": {"path": "\x00"}}, "path"),
        ("GET", "/api/prompts/search", {"params": {"q": "\x00"}}, "q"),
        ("GET", "/api/jobs/job%00x", {}, "job_id"),
        ("GET", "/api/runs", {"params": {"job_id": "\x00"}}, "job_id"),
        ("GET", "/api/batch/plan", {"params": {"plan_id": "\x00"}}, "plan_id"),
        (
            "POST",
            "/api/queue",
            {"json": {"prompt_ids": [prompt_id], "idempotency_key": "\x00"}},
            "idempotency_key",
        ),
        ("GET", "/api/prompts", {"params": {"offset": 2**40}}, "offset"),
        ("POST", f"/api/prompts/{prompt_id}/enhance", {"json": {"priority": 5000}}, "priority"),
        ("POST", f"/api/prompts/{prompt_id}/enhance", {"json": {"priority": 2**40}}, "priority"),
    ]


def test_nul_characters_and_huge_integers_are_refused_on_both_databases(
    client: TestClient, ctx: Context, prompt_ids: list[str]
) -> None:
    before = database_snapshot(ctx)
    for method, url, kwargs, field in _refusals(prompt_ids[0]):
        response = client.request(method, url, **kwargs)
        assert response.status_code == 422, (method, url, response.text)
        assert response.json()["error"]["field"] == field, (method, url, response.text)
    assert database_snapshot(ctx) == before
    nul = client.post("/api/prompts", json={"input": "scene", "text": "a\x00b"})
    assert nul.json()["error"]["message"] == "text: must not contain NUL characters"
