"""What keeps a web page elsewhere from using this server through a visitor's browser.

- DNS rebinding: a page on another site can point its own name at 127.0.0.1 and then read and
  write here as if same-origin. Its requests still carry its own name in `Host`, so the server
  answers only Host values that name it: the address it listens on (localhost's names too on
  loopback; any IP address when it listens on all of them, since an address cannot be rebound)
  plus the configured `allowed_hosts`. Anything else is a 400.
- Cross-site requests: a page elsewhere can POST a form or a `text/plain` body, or one with no
  body at all, without the browser asking first (no CORS preflight). So a request that changes
  something, on any path (the UI's Gradio calls too), is refused when a browser sent an `Origin`
  that is neither this server's own nor a configured one; and one under /api also needs
  `Content-Type: application/json` or the header `X-Cosmos-Request`, which no page can send
  cross-site without a preflight this server never grants. Anything else is a 403.

Both are ASGI middleware, so every route (the UI's included, for the Host check) is covered by
one rule written once."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from cosmos_workflow.api.auth import is_loopback
from cosmos_workflow.api.errors import error_response

CUSTOM_HEADER = "X-Cosmos-Request"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
ANY_ADDRESS = frozenset({"", "0.0.0.0", "::"})
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def split_host(value: str) -> tuple[str, int | None] | None:
    """`"[::1]:7860"` -> `("::1", 7860)`; `"Example.org"` -> `("example.org", None)`; None when
    it is not a host (a path, a user name, a bad port)."""
    if not value or any(c in value for c in "/@?#\\ "):
        return None
    try:
        parts = urlsplit("//" + value)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    return (host, port) if host else None


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class HostRule:
    """Which Host values name this server: `local` names at the bound `port` (None: any port,
    as in-process), `configured` names at any port (a proxy's public name), and with
    `any_address` every IP address at the bound port."""

    local: frozenset[str]
    configured: frozenset[str]
    port: int | None
    any_address: bool = False

    @classmethod
    def of(cls, host: str, port: int | None, configured: Iterable[str]) -> HostRule:
        name = host.strip().strip("[]").lower()
        wildcard = name in ANY_ADDRESS
        local = {name} if not wildcard else set()
        if wildcard or is_loopback(name):
            local |= LOOPBACK_HOSTS
        return cls(frozenset(local), frozenset(n.lower() for n in configured), port, wildcard)

    def allows(self, header: str, scheme: str) -> bool:
        parsed = split_host(header)
        if parsed is None:
            return False
        name, port = parsed
        if name in self.configured:
            return True
        if name not in self.local and not (self.any_address and _is_address(name)):
            return False
        given = port if port is not None else DEFAULT_PORTS.get(scheme, 80)
        return self.port is None or given == self.port


class HostGuard:
    """Refuses (400, the API's error shape) a request whose Host header does not name this
    server; a WebSocket is closed instead."""

    def __init__(self, app: ASGIApp, rule: HostRule) -> None:
        self.app = app
        self.rule = rule

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host", "")
        if self.rule.allows(host, scope.get("scheme", "http")):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        message = (
            f"this server does not answer to the host {host!r}; add the name to allowed_hosts "
            "(COSMOS_ALLOWED_HOSTS) if it is this server's"
            if host
            else "a Host header is required"
        )
        await error_response(400, message, "Host")(scope, receive, send)


def _origin_of(value: str) -> str | None:
    """`"HTTP://LocalHost:80/"` -> `"http://localhost"`: scheme, host and a non-default port."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    shown = "" if port is None or port == DEFAULT_PORTS[parts.scheme] else f":{port}"
    return f"{parts.scheme}://{host}{shown}"


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class CrossSiteGuard:
    """Refuses (403) a request that changes something and that a page elsewhere could have
    sent: on any path (the UI's included) one from another `Origin`; under /api also one with
    neither a JSON content type nor the `X-Cosmos-Request` header."""

    def __init__(self, app: ASGIApp, allowed_origins: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(o for o in map(_origin_of, allowed_origins) if o)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self._refusal(scope) if scope["type"] == "http" else None
        if refusal is None:
            await self.app(scope, receive, send)
            return
        await error_response(403, *refusal)(scope, receive, send)

    def _refusal(self, scope: Scope) -> tuple[str, str] | None:
        if scope.get("method") not in WRITE_METHODS:
            return None
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is not None:
            own = _origin_of(f"{scope.get('scheme', 'http')}://{headers.get('host', '')}")
            given = _origin_of(origin)
            if given is None or (given != own and given not in self.allowed):
                return (
                    f"refused a request from the origin {origin!r}: only this server's own pages "
                    "may change anything (allowed_origins lists others to trust)",
                    "Origin",
                )
        path = str(scope.get("path", ""))
        if not (path == "/api" or path.startswith("/api/")):
            return None  # the UI's own requests (Gradio's) carry its origin, checked above
        if not _is_json(headers.get("content-type", "")) and CUSTOM_HEADER not in headers:
            return (
                "a request that changes something needs 'Content-Type: application/json' (with a "
                f"JSON body) or the header '{CUSTOM_HEADER}: 1', so that no other web page can "
                "send it",
                "Content-Type",
            )
        return None
