"""Bearer-token checks for the API, the browser's session cookie, and the rule for which bind
addresses need a token.

A browser's EventSource cannot send an `Authorization` header, so a browser holds a cookie
instead: `cosmos_session`, HttpOnly, SameSite=Strict, Path=/. Its value is an HMAC keyed by the
token over a random nonce drawn when the app is built, never the token itself: a cookie read off
a disk or a proxy log reveals nothing of the token, and no cookie outlives the server process
(Gradio's own login ends with it too) or a change of token. It is set by `POST /api/session`
(bearer token required) and when Gradio's login page accepts the token (`LoginSession`)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, HTTPException, Request, Response
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cosmos_workflow.api.errors import error_responses
from cosmos_workflow.config import MIN_TOKEN_CHARS
from cosmos_workflow.domain.errors import ConfigError

LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost", "ip6-loopback"})
SESSION_COOKIE = "cosmos_session"
# Gradio's login and logout routes, the UI being mounted at / (gradio.routes, 6.x).
LOGIN_PATHS = frozenset({"/login", "/login/"})
LOGOUT_PATHS = frozenset({"/logout", "/logout/"})
MAX_LOGIN_BYTES = 64 * 1024  # a user name and a token: a larger form is no login of ours


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def require_strong_token(token: str | None) -> None:
    """A short token can be guessed by anyone who can reach the server: refuse to start with one
    (the configuration checks COSMOS_API_TOKEN the same way; `--token` comes here)."""
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"the API token is {len(token)} characters; it must be at least {MIN_TOKEN_CHARS} "
            "(a random string, e.g. from "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )


def token_matches(expected: str, given: str) -> bool:
    """Constant-time comparison, so response timing does not reveal the token's prefix."""
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def bearer_of(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


class TokenGuard:
    """A FastAPI dependency: every API route answers 401 unless the bearer token matches or
    the request carries this server's session cookie."""

    def __init__(self, token: str | None) -> None:
        require_strong_token(token)
        self.token = token
        # Drawn per app: the cookie's value cannot be computed from the token alone.
        self._nonce = secrets.token_bytes(32)

    def session_value(self) -> str | None:
        """The `cosmos_session` cookie's value (None without a token: nothing to sign in to)."""
        if self.token is None:
            return None
        key = self.token.encode("utf-8")
        return hmac.new(key, b"cosmos_session:" + self._nonce, hashlib.sha256).hexdigest()

    def has_session(self, cookie: str | None) -> bool:
        expected = self.session_value()
        if expected is None or not cookie:
            return False
        return hmac.compare_digest(expected.encode("ascii"), cookie.encode("utf-8"))

    def __call__(self, request: Request) -> None:
        if self.token is None:
            return
        given = bearer_of(request)
        if given is not None and token_matches(self.token, given):
            return
        if given is None and self.has_session(request.cookies.get(SESSION_COOKIE)):
            return
        raise HTTPException(
            status_code=401,
            detail="missing or wrong token: send the header 'Authorization: Bearer <token>' "
            "(a browser: sign in to the UI)",
            headers={"WWW-Authenticate": "Bearer"},
        )

    def set_cookie(self, response: Response, secure: bool) -> None:
        value = self.session_value()
        if value is not None:
            response.headers.append("set-cookie", session_cookie(value, secure))


def session_cookie(value: str, secure: bool) -> str:
    """The Set-Cookie header: HttpOnly (no script reads it), SameSite=Strict (no other site's
    page sends it), no expiry (it ends with the browser session)."""
    flags = "; Secure" if secure else ""
    return f"{SESSION_COOKIE}={value}; HttpOnly; Path=/; SameSite=Strict{flags}"


def cleared_cookie() -> str:
    return f"{SESSION_COOKIE}=; HttpOnly; Path=/; SameSite=Strict; Max-Age=0"


def add_session_route(router: APIRouter, guard: TokenGuard) -> None:
    """`POST /api/session`: the session cookie for the bearer token the request carries, for
    browser code (EventSource) a script or a page of this server opens later."""

    @router.post(
        "/session",
        tags=["system"],
        operation_id="create_session",
        status_code=204,
        response_class=Response,
        responses={
            204: {
                "description": "Signed in: `Set-Cookie: cosmos_session=...` (HttpOnly, "
                "SameSite=Strict, Path=/), which every /api route accepts in place of the "
                "bearer token. Without a server token nothing is needed and no cookie is set.",
            },
            **error_responses(),
        },
    )
    def create_session(request: Request) -> Response:
        """Sign a browser in: needs `Authorization: Bearer <token>` (a cookie alone does not
        renew itself)."""
        if guard.token is not None and bearer_of(request) is None:
            raise HTTPException(
                status_code=401,
                detail="missing token: send the header 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        response = Response(status_code=204)
        guard.set_cookie(response, secure=request.url.scheme == "https")
        return response


class LoginSession:
    """ASGI middleware around the UI: when Gradio's login accepts the server's token (a POST to
    /login answered 200, whose password is the token), the answer also sets the session
    cookie, so the page's own EventSource on /api/events is let in; Gradio's logout clears
    it."""

    def __init__(self, app: ASGIApp, guard: TokenGuard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or self.guard.token is None:
            await self.app(scope, receive, send)
        elif scope.get("method") == "POST" and path in LOGIN_PATHS:
            await self._login(scope, receive, send)
        elif path in LOGOUT_PATHS:
            await self.app(scope, receive, _with_cookie(send, cleared_cookie(), None))
        else:
            await self.app(scope, receive, send)

    async def _login(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, replay = await _read_body(receive)
        password = await _form_password(scope, body)
        value = self.guard.session_value()
        if password is None or value is None or not token_matches(self.guard.token or "", password):
            await self.app(scope, replay, send)
            return
        cookie = session_cookie(value, secure=scope.get("scheme") == "https")
        await self.app(scope, replay, _with_cookie(send, cookie, 200))


async def _read_body(receive: Receive) -> tuple[bytes, Receive]:
    """The whole request body (a login form: small; BodyLimit stands before this), and a
    `receive` that hands it to the app again."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if not message.get("more_body", False) or size > MAX_LOGIN_BYTES:
            break
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


async def _form_password(scope: Scope, body: bytes) -> str | None:
    """The `password` field of the login form (multipart, as Gradio's page sends it, or
    urlencoded), read with Starlette's own parser."""
    if len(body) > MAX_LOGIN_BYTES:
        return None

    async def once() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(scope, once).form()
    except Exception:  # a malformed form: Gradio answers it; no cookie
        return None
    password = form.get("password")
    return password if isinstance(password, str) else None


def _with_cookie(
    send: Send, cookie: str, status: int | None
) -> Callable[[Message], Awaitable[None]]:
    """`send` with `cookie` added to the response's headers (when its status is `status`, or
    any status for None)."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start" and (
            status is None or message.get("status") == status
        ):
            headers = MutableHeaders(scope=message)
            headers.append("set-cookie", cookie)
        await send(message)

    return sending
