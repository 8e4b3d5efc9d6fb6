"""Every error the API answers has one shape: `{"error": {"message": ..., "field": ...}}`.

Domain errors carry their own HTTP status; request validation errors become 422 naming the
field; anything else is a 500 whose details stay in the server log."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cosmos_workflow.api.models import NO_NUL, ErrorBody, ErrorDetail
from cosmos_workflow.domain.errors import CosmosError

log = logging.getLogger(__name__)

LOCATION_PREFIXES = ("body", "query", "path", "header", "cookie")

# What each error status means, as the OpenAPI schema describes it.
ERROR_MEANINGS = {
    400: "The body could not be read (not JSON, or not UTF-8). Nothing was changed.",
    401: "Missing or wrong bearer token (only when the server has a token).",
    403: "The stored file lies outside COSMOS_HOME; it is not served.",
    404: "An unknown id or name.",
    409: "Valid, but the current state forbids it (e.g. a stale plan, a finished job).",
    422: "Invalid input: `field` names the part to fix. Nothing was changed.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route that can answer these statuses, each with the error body.
    Every /api route can answer 401 (the token guard); a route with any parameter or body must
    list 422, or FastAPI documents its own validation body, which this API never sends."""
    wanted = sorted({401, *statuses})
    return {
        status: {"model": ErrorBody, "description": ERROR_MEANINGS[status]} for status in wanted
    }


def error_response(
    status: int, message: str, field: str | None = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(message=message, field=field))
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=status,
        headers=dict(headers) if headers else None,
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
    said = _plain(first)
    message = f"{field}: {said}" if field else said
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more problem(s))"
    return error_response(422, message, field)


def _plain(problem: Mapping[str, Any]) -> str:
    """Pydantic's words for a problem; the NUL rule's regular expression in plain words."""
    pattern = (problem.get("ctx") or {}).get("pattern")
    if problem.get("type") == "string_pattern_mismatch" and pattern == NO_NUL:
        return "must not contain NUL characters"
    return str(problem.get("msg", "invalid"))


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
