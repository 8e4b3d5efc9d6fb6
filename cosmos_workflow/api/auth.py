"""Bearer-token checks for the API and the rule for which bind addresses need a token."""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import HTTPException, Request

from cosmos_workflow.config import MIN_TOKEN_CHARS
from cosmos_workflow.domain.errors import ConfigError

LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost", "ip6-loopback"})


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
    """A FastAPI dependency: every API route answers 401 unless the bearer token matches."""

    def __init__(self, token: str | None) -> None:
        require_strong_token(token)
        self.token = token

    def __call__(self, request: Request) -> None:
        if self.token is None:
            return
        given = bearer_of(request)
        if given is None or not token_matches(self.token, given):
            raise HTTPException(
                status_code=401,
                detail="missing or wrong token: send the header 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
