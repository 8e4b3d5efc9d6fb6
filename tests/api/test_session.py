"""The browser's session cookie: with a token, `/api/events` (which an EventSource opens without
an Authorization header) answers a browser that signed in, through `POST /api/session` or the
UI's login page, and nobody else; the cookie holds no token, and a forged one is refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from cosmos_workflow.api.app import create_app
from cosmos_workflow.api.auth import SESSION_COOKIE
from cosmos_workflow.services.context import Context
from tests.api.conftest import api_client

TOKEN = "s3cret-token-for-tests"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
EVENTS = "/api/events?follow=false"


@pytest.fixture
def with_ui(ctx: Context) -> Iterator[TestClient]:
    """The app as `cosmos serve --token` builds it, the UI's login included."""
    with api_client(create_app(ctx, token=TOKEN, with_ui=True)) as client:
        yield client


def _session_header(response: object) -> str:
    headers = response.headers.get_list("set-cookie")  # type: ignore[attr-defined]
    (cookie,) = [h for h in headers if h.startswith(f"{SESSION_COOKIE}=")]
    return str(cookie)


def test_the_stream_needs_the_token_or_the_session_cookie(with_ui: TestClient) -> None:
    assert with_ui.get(EVENTS).status_code == 401
    with_ui.cookies.set(SESSION_COOKIE, "0" * 64)  # forged: the right shape, not the HMAC
    forged = with_ui.get(EVENTS)
    assert forged.status_code == 401 and "Authorization: Bearer" in forged.text
    with_ui.cookies.set(SESSION_COOKIE, TOKEN)  # the token itself is no session either
    assert with_ui.get(EVENTS).status_code == 401
    with_ui.cookies.clear()
    assert with_ui.get(EVENTS, headers=BEARER).status_code == 200


def test_post_session_sets_an_http_only_strict_cookie_without_the_token(
    with_ui: TestClient,
) -> None:
    refused = with_ui.post("/api/session")
    assert refused.status_code == 401 and "set-cookie" not in refused.headers
    wrong = with_ui.post("/api/session", headers={"Authorization": "Bearer not-it"})
    assert wrong.status_code == 401 and not with_ui.cookies
    signed = with_ui.post("/api/session", headers=BEARER)
    assert signed.status_code == 204 and signed.content == b""
    header = _session_header(signed)
    assert "HttpOnly" in header and "SameSite=Strict" in header and "Path=/" in header
    value = with_ui.cookies[SESSION_COOKIE]
    assert len(value) == 64 and TOKEN not in header
    stream = with_ui.get(EVENTS)
    assert stream.status_code == 200 and stream.headers["content-type"].startswith(
        "text/event-stream"
    )
    assert with_ui.get("/api/queue").status_code == 200  # every /api route, not only the stream
    # A cookie alone does not renew itself.
    assert with_ui.post("/api/session").status_code == 401


def test_a_cookie_from_another_server_or_token_is_refused(ctx: Context) -> None:
    with api_client(create_app(ctx, token=TOKEN, with_ui=False)) as first:
        assert first.post("/api/session", headers=BEARER).status_code == 204
        cookie = first.cookies[SESSION_COOKIE]
    with api_client(create_app(ctx, token=TOKEN, with_ui=False)) as restarted:
        restarted.cookies.set(SESSION_COOKIE, cookie)
        assert restarted.get(EVENTS).status_code == 401


@pytest.mark.parametrize("multipart", [True, False])
def test_the_ui_login_sets_the_session_and_logout_clears_it(
    with_ui: TestClient, multipart: bool
) -> None:
    def login(password: str) -> object:
        form = {"username": "anyone", "password": password}
        if multipart:  # as Gradio's login page sends it (FormData)
            return with_ui.post("/login", files={k: (None, v) for k, v in form.items()})
        return with_ui.post("/login", data=form)

    wrong = login("not-the-token")
    assert wrong.status_code == 400 and not with_ui.cookies.get(SESSION_COOKIE)  # type: ignore[attr-defined]
    assert with_ui.get(EVENTS).status_code == 401
    accepted = login(TOKEN)
    assert accepted.status_code == 200, accepted.text  # type: ignore[attr-defined]
    assert "SameSite=Strict" in _session_header(accepted)
    assert with_ui.get(EVENTS).status_code == 200
    with_ui.get("/logout", follow_redirects=False)
    assert not with_ui.cookies.get(SESSION_COOKIE)
    assert with_ui.get(EVENTS).status_code == 401


def test_the_cookie_does_not_open_cross_site_writes(with_ui: TestClient) -> None:
    assert with_ui.post("/api/session", headers=BEARER).status_code == 204
    foreign = with_ui.post("/api/queue/pause", headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403
    bare = TestClient(with_ui.app, base_url="http://127.0.0.1", cookies=with_ui.cookies)
    assert bare.post("/api/queue/pause").status_code == 403  # no JSON, no X-Cosmos-Request
    assert with_ui.get("/api/queue/status").json()["paused"] is False
