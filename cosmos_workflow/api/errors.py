"""Every error the API answers has one shape: `{"error": {"message": ..., "field": ...}}`.

Domain errors carry their own HTTP status; request validation errors become 422 naming the
field, malformed JSON a 400 naming its line and column; anything else is a 500 whose details
stay in the server log."""

from __future__ import annotations

import json
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
    400: "The request could not be read: a body that is not JSON (the message names the line "
    "and column) or not UTF-8, or a Host header that does not name this server (add the name "
    "to allowed_hosts). Nothing was changed.",
    401: "Missing or wrong bearer token (only when the server has a token).",
    403: "Refused: a stored file outside COSMOS_HOME (file routes); a request that changes "
    "something sent from another Origin, or with neither Content-Type: application/json nor "
    "the header X-Cosmos-Request (cross-site protection). Nothing was changed.",
    404: "An unknown id or name.",
    409: "Valid, but the current state forbids it (e.g. a stale plan, a finished job).",
    413: "The request body is larger than the server's max_request_bytes. Nothing was changed.",
    422: "Invalid input: `field` names the part to fix. Nothing was changed.",
}
# Every /api route can answer these: the Host check (400), the token guard (401) and the body
# limit (413) stand before every route.
EVERY_ROUTE = (400, 401, 413)
WRITE_METHODS = ("post", "put", "patch", "delete")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route that can answer these statuses, each with the error body.
    A route with any parameter or body must list 422, or FastAPI documents its own validation
    body, which this API never sends. `document_write_refusals` adds 403 to every write."""
    wanted = sorted({*EVERY_ROUTE, *statuses})
    return {
        status: {"model": ErrorBody, "description": ERROR_MEANINGS[status]} for status in wanted
    }


def document_write_refusals(app: FastAPI) -> None:
    """The cross-site guard (api/browser.py) can refuse every write under /api with 403: the
    schema says so for each, without every route having to repeat it."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        error_body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                if path.startswith("/api") and method in WRITE_METHODS:
                    operation["responses"]["403"] = {
                        "description": ERROR_MEANINGS[403],
                        "content": error_body,
                    }
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


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
    if first.get("type") == "json_invalid":
        return error_response(400, _json_problem(first, exc.body))
    if first.get("type") == "missing" and tuple(first.get("loc", ())) == ("body",):
        return error_response(422, "this request needs a JSON body")
    field = field_of(first.get("loc", ()))
    said = _plain(first)
    message = f"{field}: {said}" if field else said
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more problem(s))"
    return error_response(422, message, field)


def _json_problem(problem: Mapping[str, Any], document: Any) -> str:
    """FastAPI reports malformed JSON by character offset (`loc` is `("body", 37)`); a person
    needs the line and column, which json.JSONDecodeError computes from the document."""
    reason = str((problem.get("ctx") or {}).get("error", "invalid JSON"))
    loc = problem.get("loc", ())
    offset = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
    if offset is None or not isinstance(document, str):
        return f"the body is not valid JSON: {reason}"
    located = json.JSONDecodeError(reason, document, offset)
    return f"the body is not valid JSON: {reason} (line {located.lineno}, column {located.colno})"


def _plain(problem: Mapping[str, Any]) -> str:
    """Pydantic's words for a problem; the NUL rule's regular expression in plain words."""
    pattern = (problem.get("ctx") or {}).get("pattern")
    if problem.get("type") == "string_pattern_mismatch" and pattern == NO_NUL:
        return "must not contain NUL characters"
    if problem.get("type") == "string_unicode":
        return "must not contain an unpaired surrogate (not valid UTF-8)"
    return str(problem.get("msg", "invalid"))


# FastAPI answers a body it cannot decode with this 400; the cause says what is wrong with it.
UNREADABLE_BODY = "There was an error parsing the body"


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = str(exc.detail)
    if exc.status_code == 400 and detail == UNREADABLE_BODY:
        detail = _unreadable(exc.__cause__)
    return error_response(exc.status_code, detail, headers=exc.headers)


def _unreadable(cause: BaseException | None) -> str:
    if isinstance(cause, UnicodeDecodeError):
        return f"the body is not UTF-8 text (byte {cause.start} cannot be decoded)"
    if isinstance(cause, RecursionError):
        return "the body is not valid JSON this server reads: it nests too deeply"
    if isinstance(cause, ValueError):  # e.g. an integer of more digits than Python converts
        return f"the body is not valid JSON this server reads: {cause}"
    return "the body could not be read as JSON"


async def _unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error while answering a request", exc_info=exc)
    return error_response(500, "internal error; the server log has the details")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CosmosError, _cosmos_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
