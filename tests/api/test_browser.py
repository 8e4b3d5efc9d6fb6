"""Browser safety: a page on another site can neither rebind its name to this server (Host
check), nor make a visitor's browser change anything here (cross-site guard), nor exhaust its
memory with a huge body (the body limit); and a refusal changes nothing."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from cosmos_workflow.api.app import create_app
from cosmos_workflow.api.browser import HostRule, split_host
from cosmos_workflow.config import load_settings
from cosmos_workflow.domain.errors import ConfigError
from cosmos_workflow.services.context import Context
from tests.services.snapshot import database_snapshot

LOCAL = "http://127.0.0.1"


@pytest.fixture
def bare(ctx: Context) -> Iterator[TestClient]:
    """A client that sends what a browser's cross-site request would: no custom header."""
    with TestClient(create_app(ctx, token=None, with_ui=False), base_url=LOCAL) as client:
        yield client


def _refused(response: object, status: int, fragment: str, field: str | None) -> None:
    assert hasattr(response, "status_code") and hasattr(response, "json")
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    error = response.json()["error"]  # type: ignore[attr-defined]
    assert fragment in error["message"] and error["field"] == field, error


def test_host_rule_names_only_this_server() -> None:
    loopback = HostRule.of("127.0.0.1", 7860, ["cosmos.example.org"])
    for host in ("127.0.0.1:7860", "localhost:7860", "[::1]:7860", "LOCALHOST:7860"):
        assert loopback.allows(host, "http"), host
    assert loopback.allows("cosmos.example.org", "https")  # a proxy's name, at any port
    for host in ("evil.example:7860", "127.0.0.1:8000", "localhost", "", "a b", "x@127.0.0.1"):
        assert not loopback.allows(host, "http"), host
    public = HostRule.of("0.0.0.0", 80, [])
    assert public.allows("192.168.1.5", "http") and public.allows("localhost:80", "http")
    assert not public.allows("rebound.example", "http")
    bound = HostRule.of("192.168.1.5", 443, [])
    assert bound.allows("192.168.1.5", "https") and not bound.allows("localhost:443", "https")
    assert split_host("[::1]:80") == ("::1", 80) and split_host("h:99999") is None


def test_a_foreign_host_is_a_400_for_the_api_and_the_schema(bare: TestClient) -> None:
    for path in ("/api/health", "/openapi.json", "/docs"):
        response = bare.get(path, headers={"Host": "rebound.example"})
        _refused(response, 400, "does not answer to the host 'rebound.example'", "Host")
    assert bare.get("/api/health", headers={"Host": "localhost:12345"}).status_code == 200


def test_configured_names_are_answered(ctx: Context) -> None:
    ctx.settings.allowed_hosts = ["cosmos.example.org"]
    app = create_app(ctx, token=None, with_ui=False, bind=("127.0.0.1", 7860))
    with TestClient(app, base_url="http://cosmos.example.org") as client:
        assert client.get("/api/health").status_code == 200
    with TestClient(app, base_url="http://127.0.0.1:7860") as client:
        assert client.get("/api/health").status_code == 200
    with TestClient(app, base_url="http://127.0.0.1:7861") as client:
        assert client.get("/api/health").status_code == 400


CROSS_SITE_WRITES = [
    ("POST", "/api/queue/pause", {}),
    ("POST", "/api/queue/resume", {}),
    ("POST", "/api/batch/apply", {}),
    ("POST", "/api/batch/apply", {"content": b"{}", "headers": {"Content-Type": "text/plain"}}),
    ("POST", "/api/queue/pause", {"data": {"a": "b"}}),  # a form post
    ("DELETE", "/api/prompts/pr_x", {}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), CROSS_SITE_WRITES)
def test_a_write_a_page_elsewhere_could_send_is_a_403(
    bare: TestClient, ctx: Context, method: str, path: str, kwargs: dict[str, object]
) -> None:
    before = database_snapshot(ctx)
    response = bare.request(method, path, **kwargs)  # type: ignore[arg-type]
    _refused(response, 403, "X-Cosmos-Request: 1", "Content-Type")
    assert database_snapshot(ctx) == before


def test_a_foreign_origin_is_a_403_even_with_json(bare: TestClient, ctx: Context) -> None:
    before = database_snapshot(ctx)
    for origin in ("https://evil.example", "null", "http://127.0.0.1:1"):
        response = bare.post("/api/batch/apply", json={}, headers={"Origin": origin})
        _refused(response, 403, f"origin {origin!r}", "Origin")
    assert database_snapshot(ctx) == before
    own = bare.post("/api/queue/pause", headers={"Origin": LOCAL, "X-Cosmos-Request": "1"})
    assert own.status_code == 200 and own.json()["paused"] is True


def test_a_foreign_origin_cannot_post_to_the_ui_either(ctx: Context) -> None:
    """The UI's Gradio endpoints change things too (pause, apply): another site's page is
    refused there whatever it sends; the UI's own origin passes the guard."""
    with TestClient(create_app(ctx, token=None, with_ui=True), base_url=LOCAL) as client:
        body = {"data": [], "fn_index": 0, "session_hash": "x"}
        for path in ("/gradio_api/queue/join", "/gradio_api/run/predict"):
            foreign = client.post(path, json=body, headers={"Origin": "https://evil.example"})
            _refused(foreign, 403, "origin 'https://evil.example'", "Origin")
            own = client.post(path, json=body, headers={"Origin": LOCAL})
            assert own.status_code != 403, own.text


def test_a_configured_origin_may_write(ctx: Context) -> None:
    ctx.settings.allowed_origins = ["https://cosmos.example.org"]
    with TestClient(create_app(ctx, token=None, with_ui=False), base_url=LOCAL) as client:
        headers = {"Origin": "https://cosmos.example.org", "X-Cosmos-Request": "1"}
        assert client.post("/api/queue/pause", headers=headers).status_code == 200


def test_reads_and_json_writes_need_no_header(bare: TestClient) -> None:
    assert bare.get("/api/queue/status").status_code == 200
    assert bare.post("/api/batch/analyze", json={}).status_code == 200


def test_a_short_token_is_refused(ctx: Context) -> None:
    with pytest.raises(ConfigError, match="at least 16"):
        create_app(ctx, token="x", with_ui=False)
    with pytest.raises(ConfigError, match="api_token: the token must be at least 16"):
        load_settings(api_token="0123456789abcde")  # 15 characters
    assert load_settings(api_token="0123456789abcdef").api_token == "0123456789abcdef"


def test_a_body_past_the_limit_is_a_413(ctx: Context) -> None:
    ctx.settings.max_request_bytes = 2048
    with TestClient(create_app(ctx, token=None, with_ui=False), base_url=LOCAL) as client:
        before = database_snapshot(ctx)
        big = {"input": "scene", "text": "x" * 4096}
        response = client.post("/api/prompts", json=big)
        _refused(response, 413, "larger than 2048 bytes", None)

        def chunks() -> Iterator[bytes]:
            yield b'{"input": "scene", "text": "'
            yield b"x" * 4096
            yield b'"}'

        chunked = client.post(
            "/api/prompts", content=chunks(), headers={"Content-Type": "application/json"}
        )
        _refused(chunked, 413, "max_request_bytes", None)
        assert database_snapshot(ctx) == before


def _send_until_answered(port: int, head: bytes, chunk: bytes, most: int) -> tuple[bytes, int]:
    """Send `head`, then `chunk` repeatedly (at most `most` bytes) until the server answers;
    return the answer and how many body bytes were sent."""
    sent = 0
    pending = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        sock.setblocking(False)
        answer = b""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and b"\r\n\r\n" not in answer:
            try:
                answer += sock.recv(65536)
                continue
            except BlockingIOError:
                pass
            except ConnectionError:
                break
            if not pending and sent < most:
                pending = chunk
            try:
                done = sock.send(pending) if pending else 0
            except (BlockingIOError, ConnectionError):
                done = 0
            pending, sent = pending[done:], sent + done
            if not done:
                time.sleep(0.01)
        return answer, sent


def test_a_huge_body_is_refused_while_it_streams(live_server: str) -> None:
    """300 MB announced, or streamed chunked: the answer is a 413 after at most the limit (and
    what the sockets buffer) was sent, not after the server read it all."""
    port = int(live_server.rsplit(":", 1)[1])
    request = (
        "POST /api/queue/bulk HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    )
    declared = f"{request}Content-Length: 300000000\r\n\r\n".encode()
    answer, sent = _send_until_answered(port, declared, b"x" * 65536, 300_000_000)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 64 * 1024 * 1024, sent
    chunk = b"10000\r\n" + b"x" * 65536 + b"\r\n"
    streamed = f"{request}Transfer-Encoding: chunked\r\n\r\n".encode()
    answer, sent = _send_until_answered(port, streamed, chunk, 300_000_000)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 64 * 1024 * 1024, sent
