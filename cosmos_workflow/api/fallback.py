"""What /api answers for a path or method it does not have: 404 or 405 (with `Allow`) in the
API's error shape. Without it the UI, mounted at /, would answer every such request with its
own 404 page, and a client could not tell a wrong method from a wrong path."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from cosmos_workflow.api.errors import error_response

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def allowed_methods(routes: Sequence[BaseRoute], path: str) -> list[str]:
    """The methods some API route answers at `path` (none: the path is unknown)."""
    found: set[str] = set()
    for route in routes:
        if isinstance(route, APIRoute) and route.path_regex.match(path):
            found |= route.methods or set()
    return sorted(found)


def install_api_fallback(app: FastAPI, api: APIRouter) -> None:
    """Registered after the API's routes (`api`, whose paths carry the /api prefix) and before
    the UI's mount, so it sees exactly what no API route matched in full."""

    async def fallback(request: Request) -> JSONResponse:
        path = request.url.path
        allowed = allowed_methods(api.routes, path)
        if not allowed:
            return error_response(404, f"no API route {path}; /docs lists them")
        allow = ", ".join(allowed)
        return error_response(
            405,
            f"{request.method} is not allowed on {path}; it answers {allow}",
            headers={"Allow": allow},
        )

    for path in ("/api", "/api/{rest:path}"):
        app.add_api_route(path, fallback, methods=METHODS, include_in_schema=False)
