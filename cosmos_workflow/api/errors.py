"""Every error the API answers has one shape: `{"error": {"message": ..., "field": ...}}`.

Domain errors carry their own HTTP status; request validation errors become 422 naming the
field; anything else is a 500 whose details stay in the server log."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cosmos_workflow.domain.errors import CosmosError

log = logging.getLogger(__name__)

LOCATION_PREFIXES = ("body", "query", "path", "header", "cookie")


def error_response(
    status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "field": field}}, status_code=status, headers=headers
    )


def field_of(loc: Sequence[Any]) -> str | None:
    """`("body", "jobs", 0, "weights")` -> `"jobs.0.weights"`; `("body",)` -> `None`."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in LOCATION_PREFIXES:
        parts = parts[1:]
    return ".".join(parts) or None


async def _cosmos_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CosmosError)
    if exc.http_status >= 500:
        log.error("request failed: %s", exc.message)
    return error_response(exc.http_status, exc.message, exc.field)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = exc.errors()
    if not problems:
        return error_response(422, "the request is not valid")
    first = problems[0]
    field = field_of(first.get("loc", ()))
    message = f"{field}: {first.get('msg', 'invalid')}" if field else first.get("msg", "invalid")
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more problem(s))"
    return error_response(422, message, field)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return error_response(exc.status_code, str(exc.detail), headers=exc.headers)


async def _unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error while answering a request", exc_info=exc)
    return error_response(500, "internal error; the server log has the details")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CosmosError, _cosmos_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
