"""The token rule: with a token every API route needs the bearer header; `serve` refuses to
listen beyond loopback without one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cosmos_workflow.api.app import create_app
from cosmos_workflow.api.auth import is_loopback
from cosmos_workflow.services.context import Context
from tests.api.conftest import api_client

TOKEN = "s3cret-token-for-tests"


@pytest.fixture
def guarded(ctx: Context) -> TestClient:
    return api_client(create_app(ctx, token=TOKEN, with_ui=False))


@pytest.mark.parametrize(
    "path", ["/api/health", "/api/queue", "/api/inputs", "/api/workers", "/api/events?follow=false"]
)
def test_every_route_needs_the_token(guarded: TestClient, path: str) -> None:
    missing = guarded.get(path)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in missing.json()["error"]["message"]
    wrong = guarded.get(path, headers={"Authorization": "Bearer not-it"})
    assert wrong.status_code == 401
    right = guarded.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 200


def test_a_refused_write_changes_nothing(guarded: TestClient) -> None:
    assert guarded.post("/api/queue/pause").status_code == 401
    status = guarded.get("/api/queue/status", headers={"Authorization": f"Bearer {TOKEN}"})
    assert status.json()["paused"] is False


def test_loopback_addresses() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.5", "example.org"))


def _cosmos() -> list[str]:
    script = Path(sys.executable).parent / "cosmos"
    return [str(script)] if script.exists() else [shutil.which("cosmos") or "cosmos"]


def test_serve_refuses_public_bind_without_token(env: dict[str, str]) -> None:
    environ = {k: v for k, v in os.environ.items() if k != "COSMOS_API_TOKEN"} | env
    result = subprocess.run(
        [*_cosmos(), "serve", "--host", "0.0.0.0", "--port", "1", "--no-worker"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "without a token" in result.stderr and "COSMOS_API_TOKEN" in result.stderr
