"""The API against a real SQLite database in a temporary COSMOS_HOME, in process or through a
real server on a local port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cosmos_workflow.api.app import create_app
from cosmos_workflow.services.context import Context
from tests.videos import make_input_folder


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """The API is a thin layer over services already tested on both databases: SQLite here."""
    return sqlite_url


# What a script calling the API sends: a loopback Host and the header that marks a request as
# no web page's (docs/api.md); the browser-safety tests send neither on purpose.
LOCAL = "http://127.0.0.1"
SCRIPT_HEADERS = {"X-Cosmos-Request": "1"}


def api_client(app: FastAPI) -> TestClient:
    return TestClient(app, base_url=LOCAL, headers=SCRIPT_HEADERS)


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    with api_client(create_app(ctx, token=None, with_ui=False)) as test_client:
        yield test_client


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    return make_input_folder(tmp_path / "scene", controls=("depth", "edge"))


@pytest.fixture
def input_id(client: TestClient, scene: Path) -> str:
    response = client.post("/api/inputs", json={"path": str(scene), "name": "scene"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.fixture
def prompt_ids(client: TestClient, input_id: str) -> list[str]:
    ids = []
    for text in ("a red car at dusk", "a snowy street", "a harbour at dawn"):
        response = client.post("/api/prompts", json={"input": "scene", "text": text})
        assert response.status_code == 201, response.text
        ids.append(str(response.json()["id"]))
    return ids


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live_server(ctx: Context) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(ctx, token=None, with_ui=False),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
