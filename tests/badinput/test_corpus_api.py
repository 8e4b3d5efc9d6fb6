"""The bad-input corpus of the REST API: one table of refusals. Each case sends one request to
the app `cosmos serve` builds, against a seeded world, and asserts the status, the one error
shape, a message naming what is wrong, and an unchanged database. Text that only PostgreSQL
refuses on its own (NUL, lone surrogates) runs on both databases; the rest on SQLite."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from cosmos_workflow.api.app import create_app
from cosmos_workflow.config import load_settings
from cosmos_workflow.services import batching, inputs, prompts, queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.models import JobRow, RunRow
from tests.conftest import make_database_url
from tests.services.snapshot import database_snapshot
from tests.videos import make_input_folder, make_video

NUL = "a\x00b"
SURROGATE = "a\ud800b"
TOKEN = "a-token-of-the-corpus-0123456789"
SCRIPT = {"X-Cosmos-Request": "1"}
JSON = {"Content-Type": "application/json"}
NO_BODY = object()  # a request without a body (the default)


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str  # "@NAME" tokens are filled from the world
    status: int
    message: str
    body: Any = NO_BODY  # sent as JSON; bytes are sent as they are, with a JSON content type
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    client: str = "script"  # script (a program's headers), browser (none), guarded (a token)
    both: bool = False  # on PostgreSQL too


def case(
    id: str,
    method: str,
    path: str,
    status: int,
    message: str,
    body: Any = NO_BODY,
    **extra: Any,
) -> Case:
    return Case(id, method, path, status, message, body, **extra)


def post(id: str, path: str, body: Any, status: int, message: str, **extra: Any) -> Case:
    return Case(id, "POST", path, status, message, body, **extra)


def get(id: str, path: str, status: int, message: str, **extra: Any) -> Case:
    return Case(id, "GET", path, status, message, **extra)


def job(**fields: Any) -> dict[str, Any]:
    """A valid job for the seeded input, with `fields` changed."""
    return {"prompt_ids": ["@P0"], "weights": {"edge": 0.5}, **fields}


def params(**given: Any) -> dict[str, Any]:
    return job(params=given)


NUL_MSG = "must not contain NUL characters"
SUR_MSG = "unpaired surrogate"
TOO_LONG = "String should have at most"
NOT_INT = "Input should be a valid integer"
NOT_NUMBER = "Input should be a valid number"
NOT_BOOL = "Input should be a valid boolean"
NOT_STR = "Input should be a valid string"
EXTRA = "Extra inputs are not permitted"
CROSS_SITE = "X-Cosmos-Request: 1"
FOREIGN_HOST = "does not answer to the host"
TOKEN_MSG = "missing or wrong token"

BROWSER_SAFETY = [
    get("host-foreign", "/api/health", 400, FOREIGN_HOST, headers={"Host": "evil.example"}),
    get("host-suffix", "/api/queue", 400, FOREIGN_HOST, headers={"Host": "127.0.0.1.evil.example"}),
    get("host-localhost-sub", "/api/queue", 400, FOREIGN_HOST, headers={"Host": "localhost.evil"}),
    get("host-userinfo", "/api/health", 400, FOREIGN_HOST, headers={"Host": "x@127.0.0.1"}),
    get("host-path", "/api/health", 400, FOREIGN_HOST, headers={"Host": "127.0.0.1/evil"}),
    get("host-bad-port", "/api/health", 400, FOREIGN_HOST, headers={"Host": "localhost:99999"}),
    get("host-schema", "/openapi.json", 400, FOREIGN_HOST, headers={"Host": "evil.example"}),
    get("host-ui", "/", 400, FOREIGN_HOST, headers={"Host": "evil.example"}),
    post("host-write", "/api/queue/pause", {}, 400, FOREIGN_HOST, headers={"Host": "evil.example"}),
    post("csrf-pause", "/api/queue/pause", NO_BODY, 403, CROSS_SITE, client="browser"),
    post("csrf-resume", "/api/queue/resume", NO_BODY, 403, CROSS_SITE, client="browser"),
    post("csrf-apply", "/api/batch/apply", NO_BODY, 403, CROSS_SITE, client="browser"),
    post(
        "csrf-text-plain",
        "/api/batch/apply",
        NO_BODY,
        403,
        CROSS_SITE,
        client="browser",
        headers={"Content-Type": "text/plain"},
    ),
    post(
        "csrf-form",
        "/api/queue/pause",
        NO_BODY,
        403,
        CROSS_SITE,
        client="browser",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ),
    post(
        "csrf-multipart",
        "/api/queue",
        NO_BODY,
        403,
        CROSS_SITE,
        client="browser",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    ),
    case("csrf-delete", "DELETE", "/api/prompts/@P0", 403, CROSS_SITE, client="browser"),
    post("csrf-cancel", "/api/jobs/@JOB/cancel", NO_BODY, 403, CROSS_SITE, client="browser"),
    post("csrf-retry", "/api/jobs/@DONE/retry", NO_BODY, 403, CROSS_SITE, client="browser"),
    post(
        "csrf-json-as-text",
        "/api/runs/@RUN/rating",
        b'{"rating": 5}',
        403,
        CROSS_SITE,
        client="browser",
        headers={"Content-Type": "text/plain"},
    ),
    post(
        "origin-foreign",
        "/api/batch/apply",
        {},
        403,
        "origin 'https://evil.example'",
        headers={"Origin": "https://evil.example"},
    ),
    post("origin-null", "/api/queue/pause", {}, 403, "origin 'null'", headers={"Origin": "null"}),
    post(
        "origin-other-port",
        "/api/queue/pause",
        {},
        403,
        "only this server's own pages",
        headers={"Origin": "http://127.0.0.1:8080"},
    ),
    post(
        "origin-other-scheme",
        "/api/queue/resume",
        {},
        403,
        "only this server's own pages",
        headers={"Origin": "https://127.0.0.1"},
    ),
    case(
        "origin-delete",
        "DELETE",
        "/api/prompts/@P0",
        403,
        "only this server's own pages",
        headers={"Origin": "http://evil.example"},
    ),
    post(
        "body-too-large",
        "/api/queue/bulk",
        {"jobs": [], "pad": "x" * (8 * 1024 * 1024)},
        413,
        "larger than 8388608 bytes",
    ),
    post(
        "body-bad-length",
        "/api/queue",
        b"{}",
        400,
        "Content-Length is not a number",
        headers={"Content-Length": "ten"},
    ),
    get("token-missing", "/api/queue", 401, TOKEN_MSG, client="guarded"),
    get(
        "token-wrong",
        "/api/queue",
        401,
        TOKEN_MSG,
        client="guarded",
        headers={"Authorization": "Bearer not-the-token-at-all"},
    ),
    post(
        "token-basic",
        "/api/queue/pause",
        {},
        401,
        TOKEN_MSG,
        client="guarded",
        headers={"Authorization": f"Basic {TOKEN}"},
    ),
    post(
        "token-prefix",
        "/api/queue/pause",
        {},
        401,
        TOKEN_MSG,
        client="guarded",
        headers={"Authorization": f"Bearer {TOKEN[:-1]}"},
    ),
]

METHODS_AND_PATHS = [
    get("method-get-pause", "/api/queue/pause", 405, "GET is not allowed on /api/queue/pause"),
    case("method-put-queue", "PUT", "/api/queue", 405, "it answers GET, POST"),
    case("method-delete-queue", "DELETE", "/api/queue", 405, "it answers GET, POST"),
    case("method-patch-job", "PATCH", "/api/jobs/@JOB", 405, "it answers GET"),
    get("method-get-apply", "/api/batch/apply", 405, "it answers POST"),
    post("method-post-health", "/api/health", {}, 405, "it answers GET"),
    case("method-put-input", "PUT", "/api/inputs/scene", 405, "it answers DELETE, GET"),
    get("method-get-rename", "/api/inputs/scene/rename", 405, "it answers POST"),
    case("method-put-rating", "PUT", "/api/runs/@RUN/rating", 405, "it answers POST"),
    get("method-get-upscale", "/api/runs/@RUN/upscale", 405, "it answers POST"),
    post("method-post-events", "/api/events", {}, 405, "it answers GET"),
    case("method-options", "OPTIONS", "/api/prompts", 405, "it answers GET, POST"),
    get("path-unknown", "/api/nothing", 404, "no API route /api/nothing"),
    get("path-deep", "/api/queue/pause/now", 404, "no API route"),
    post("path-unknown-post", "/api/jobs", {}, 404, "no API route /api/jobs"),
    get("id-job", "/api/jobs/job_missing", 404, "job_missing"),
    get("id-prompt", "/api/prompts/pr_missing", 404, "pr_missing"),
    get("id-run", "/api/runs/run_missing", 404, "run_missing"),
    get("id-input", "/api/inputs/nowhere", 404, "nowhere"),
    get("id-input-thumbnail", "/api/inputs/nowhere/thumbnail", 404, "nowhere"),
    get("id-run-video", "/api/runs/run_missing/video", 404, "run_missing"),
    get("id-run-log", "/api/runs/run_missing/log", 404, "run_missing"),
    get("id-job-log", "/api/jobs/job_missing/log", 404, "job_missing"),
    post("id-cancel", "/api/jobs/job_missing/cancel", NO_BODY, 404, "job_missing"),
    post("id-retry", "/api/jobs/job_missing/retry", NO_BODY, 404, "job_missing"),
    post("id-move", "/api/jobs/job_missing/move", {"where": "top"}, 404, "job_missing"),
    post(
        "id-move-before",
        "/api/jobs/@JOB/move",
        {"where": "before", "before": "job_x"},
        404,
        "job_x",
    ),
    post("id-rating", "/api/runs/run_missing/rating", {"rating": 3}, 404, "run_missing"),
    post("id-upscale", "/api/runs/run_missing/upscale", {}, 404, "run_missing"),
    post("id-enhance", "/api/prompts/pr_missing/enhance", {}, 404, "pr_missing"),
    case("id-delete-prompt", "DELETE", "/api/prompts/pr_missing", 404, "pr_missing"),
    case("id-delete-input", "DELETE", "/api/inputs/nowhere", 404, "nowhere"),
    post("id-rename-input", "/api/inputs/nowhere/rename", {"name": "x"}, 404, "nowhere"),
    get("id-plan", "/api/batch/plan", 404, "plan_missing", params={"plan_id": "plan_missing"}),
    post("id-undo", "/api/batch/undo", {"batch_job_id": "job_missing"}, 404, "job_missing"),
    post("id-queue-prompt", "/api/queue", job(prompt_ids=["pr_missing"]), 404, "pr_missing"),
    post("id-prompt-input", "/api/prompts", {"input": "nowhere", "text": "a"}, 404, "nowhere"),
    get("id-prompts-input", "/api/prompts", 404, "nowhere", params={"input": "nowhere"}),
    get("id-video-missing", "/api/runs/@QUEUED_RUN/video", 404, "does not exist yet"),
]

MALFORMED = [
    post("json-syntax", "/api/prompts", b'{"input": "scene", "text": }', 400, "line 1, column 28"),
    post("json-lines", "/api/prompts", b'{\n "input": "scene",\n oops\n}', 400, "line 3, column 2"),
    post(
        "json-trailing",
        "/api/queue",
        b'{"prompt_ids": []} x',
        400,
        "Extra data (line 1, column 20)",
    ),
    post("json-truncated", "/api/queue", b'{"prompt_ids": ["', 400, "line 1, column 17"),
    post("json-single-quotes", "/api/batch/analyze", b"{'mode': 'auto'}", 400, "property name"),
    post("json-nan", "/api/runs/@RUN/rating", b'{"rating": NaN}', 422, "rating:"),
    post("json-not-utf8", "/api/prompts", b'{"text": "\xff\xfe"}', 400, "not UTF-8 text"),
    post("json-deep", "/api/batch/analyze", b"[" * 100_000, 400, "nests too deeply"),
    post(
        "json-huge-integer",
        "/api/runs/@RUN/rating",
        b'{"rating": 1' + b"0" * 5000 + b"}",
        400,
        "digits",
    ),
    post("json-array", "/api/prompts", [], 422, "valid dictionary"),
    post("json-string", "/api/queue", "a job", 422, "valid dictionary"),
    post("json-null-body", "/api/runs/@RUN/rating", None, 422, "valid dictionary"),
    post("json-empty-required", "/api/jobs/@JOB/move", b"", 422, "needs a JSON body"),
    post("json-missing-field", "/api/prompts", {"input": "scene"}, 422, "text: Field required"),
    post("json-extra-field", "/api/queue", job(colour="red"), 422, f"colour: {EXTRA}"),
    post("json-extra-nested", "/api/queue", params(colour="red"), 422, f"params.colour: {EXTRA}"),
]

STRICT_TYPES = [
    post("batch-size-true", "/api/batch/analyze", {"max_batch_size": True}, 422, NOT_INT),
    post("batch-size-string", "/api/batch/analyze", {"max_batch_size": "3"}, 422, NOT_INT),
    post("batch-size-float", "/api/batch/analyze", {"max_batch_size": 2.5}, 422, NOT_INT),
    post("batch-allow-one", "/api/batch/analyze", {"allow_output_changes": 1}, 422, NOT_BOOL),
    post("batch-allow-text", "/api/batch/analyze", {"allow_output_changes": "true"}, 422, NOT_BOOL),
    post("batch-mode-number", "/api/batch/analyze", {"mode": 1}, 422, NOT_STR),
    post("priority-string", "/api/queue", job(priority="5"), 422, f"priority: {NOT_INT}"),
    post("priority-true", "/api/queue", job(priority=True), 422, f"priority: {NOT_INT}"),
    post("priority-float", "/api/queue", job(priority=1.5), 422, f"priority: {NOT_INT}"),
    post("priority-high", "/api/queue", job(priority=1001), 422, "less than or equal to 1000"),
    post("priority-huge", "/api/queue", job(priority=2**40), 422, "less than or equal to 1000"),
    post("priority-low", "/api/queue", job(priority=-1001), 422, "greater than or equal to -1000"),
    post("rating-string", "/api/runs/@RUN/rating", {"rating": "5"}, 422, f"rating: {NOT_INT}"),
    post("rating-true", "/api/runs/@RUN/rating", {"rating": True}, 422, f"rating: {NOT_INT}"),
    post("rating-zero", "/api/runs/@RUN/rating", {"rating": 0}, 422, "greater than or equal to 1"),
    post("rating-six", "/api/runs/@RUN/rating", {"rating": 6}, 422, "less than or equal to 5"),
    post("upscale-weight-text", "/api/runs/@RUN/upscale", {"weight": "0.5"}, 422, NOT_NUMBER),
    post("upscale-weight-true", "/api/runs/@RUN/upscale", {"weight": True}, 422, NOT_NUMBER),
    post("upscale-weight-zero", "/api/runs/@RUN/upscale", {"weight": 0}, 422, "greater than 0"),
    post(
        "upscale-weight-big", "/api/runs/@RUN/upscale", {"weight": 1.5}, 422, "less than or equal"
    ),
    post("enhance-priority", "/api/prompts/@P0/enhance", {"priority": "1"}, 422, NOT_INT),
    post("steps-string", "/api/queue", params(steps="35"), 422, f"params.steps: {NOT_INT}"),
    post("steps-true", "/api/queue", params(steps=True), 422, f"params.steps: {NOT_INT}"),
    post("steps-zero", "/api/queue", params(steps=0), 422, "greater than or equal to 1"),
    post("steps-many", "/api/queue", params(steps=1001), 422, "less than or equal to 1000"),
    post("seed-negative", "/api/queue", params(seed=-1), 422, "params.seed"),
    post("seed-huge", "/api/queue", params(seed=2**31), 422, "less than or equal to 2147483647"),
    post("seed-float", "/api/queue", params(seed=1.5), 422, f"params.seed: {NOT_INT}"),
    post("fps-zero", "/api/queue", params(fps=0), 422, "params.fps"),
    post("fps-high", "/api/queue", params(fps=121), 422, "less than or equal to 120"),
    post(
        "guidance-text", "/api/queue", params(guidance="5"), 422, f"params.guidance: {NOT_NUMBER}"
    ),
    post("guidance-high", "/api/queue", params(guidance=21), 422, "less than or equal to 20"),
    post(
        "guidance-t25",
        "/api/queue",
        params(backend="transfer2.5", guidance=7.5),
        422,
        "guidance must be a whole number",
    ),
    post("sigma-negative", "/api/queue", params(sigma_max=-1), 422, "params.sigma_max"),
    post("sigma-t1-high", "/api/queue", params(sigma_max=100), 422, "sigma_max must be between 0"),
    post("blur-case", "/api/queue", params(blur="LOW"), 422, "params.blur: Input should be"),
    post("canny-unknown", "/api/queue", params(canny="extreme"), 422, "params.canny"),
    post("backend-unknown", "/api/queue", params(backend="transfer3"), 422, "params.backend"),
    post(
        "distilled-text",
        "/api/queue",
        params(distilled="yes"),
        422,
        f"params.distilled: {NOT_BOOL}",
    ),
    post("distilled-one", "/api/queue", params(distilled=1), 422, NOT_BOOL),
    post(
        "distilled-depth",
        "/api/queue",
        job(weights={"depth": 0.5}, params={"backend": "transfer2.5", "distilled": True}),
        422,
        "exactly the edge control",
    ),
    post("params-list", "/api/queue", job(params=[]), 422, "params: Input should be"),
    post("weight-text", "/api/queue", job(weights={"edge": "0.5"}), 422, "weights.edge"),
    post("weight-true", "/api/queue", job(weights={"edge": True}), 422, "weights.edge"),
    post("weight-high", "/api/queue", job(weights={"edge": 2}), 422, "less than or equal to 1"),
    post(
        "weight-negative", "/api/queue", job(weights={"edge": -0.1}), 422, "greater than or equal"
    ),
    post("weight-unknown", "/api/queue", job(weights={"colour": 0.5}), 422, "unknown control"),
    post(
        "weight-infinite",
        "/api/queue",
        b'{"prompt_ids": ["@P0"], "weights": {"edge": 1e400}}',
        422,
        "weights.edge",
    ),
    post("weight-all-zero", "/api/queue", job(weights={"edge": 0}), 422, "control"),
    post("weights-list", "/api/queue", job(weights=["edge"]), 422, "weights: Input should be"),
    post("prompt-ids-string", "/api/queue", job(prompt_ids="@P0"), 422, "prompt_ids"),
    post("prompt-ids-empty", "/api/queue", job(prompt_ids=[]), 422, "at least 1 item"),
    post("prompt-ids-number", "/api/queue", job(prompt_ids=[1]), 422, f"prompt_ids.0: {NOT_STR}"),
    post("prompt-ids-repeated", "/api/queue", job(prompt_ids=["@P0", "@P0"]), 422, "repeated"),
    post("key-empty", "/api/queue", job(idempotency_key=""), 422, "at least 1 character"),
    post("key-long", "/api/queue", job(idempotency_key="k" * 201), 422, TOO_LONG),
    post("key-number", "/api/queue", job(idempotency_key=7), 422, NOT_STR),
    post("bulk-not-list", "/api/queue/bulk", {"jobs": {}}, 422, "jobs: Input should be"),
    post(
        "bulk-second-bad",
        "/api/queue/bulk",
        {"jobs": [job(), job(weights={"edge": 2})]},
        422,
        "jobs.1.weights.edge",
    ),
    post("move-where", "/api/jobs/@JOB/move", {"where": "middle"}, 422, "where: Input should be"),
    post("move-missing", "/api/jobs/@JOB/move", {}, 422, "where: Field required"),
    post("move-before-missing", "/api/jobs/@JOB/move", {"where": "before"}, 422, "before"),
    post(
        "move-before-self",
        "/api/jobs/@JOB/move",
        {"where": "before", "before": "@JOB"},
        422,
        "is not another queued job",
    ),
    post("undo-number", "/api/batch/undo", {"batch_job_id": 5}, 422, NOT_STR),
    post("apply-plan-number", "/api/batch/apply", {"plan_id": 5}, 422, NOT_STR),
]

TEXT = [
    post("text-nul", "/api/prompts", {"input": "scene", "text": NUL}, 422, NUL_MSG, both=True),
    post(
        "text-surrogate",
        "/api/prompts",
        {"input": "scene", "text": SURROGATE},
        422,
        SUR_MSG,
        both=True,
    ),
    post("text-long", "/api/prompts", {"input": "scene", "text": "x" * 20_001}, 422, TOO_LONG),
    post("text-empty", "/api/prompts", {"input": "scene", "text": "  "}, 422, "empty"),
    post("text-number", "/api/prompts", {"input": "scene", "text": 5}, 422, NOT_STR),
    post(
        "negative-nul",
        "/api/prompts",
        {"input": "scene", "text": "a", "negative": NUL},
        422,
        NUL_MSG,
        both=True,
    ),
    post(
        "negative-surrogate",
        "/api/prompts",
        {"input": "scene", "text": "a", "negative": SURROGATE},
        422,
        SUR_MSG,
        both=True,
    ),
    post(
        "negative-empty",
        "/api/prompts",
        {"input": "scene", "text": "a", "negative": ""},
        422,
        "negative prompt is empty",
    ),
    post(
        "negative-long",
        "/api/prompts",
        {"input": "scene", "text": "a", "negative": "x" * 20_001},
        422,
        TOO_LONG,
    ),
    post(
        "name-nul",
        "/api/prompts",
        {"input": "scene", "text": "a", "name": NUL},
        422,
        NUL_MSG,
        both=True,
    ),
    post(
        "name-surrogate",
        "/api/prompts",
        {"input": "scene", "text": "a", "name": SURROGATE},
        422,
        SUR_MSG,
        both=True,
    ),
    post(
        "name-long",
        "/api/prompts",
        {"input": "scene", "text": "a", "name": "n" * 201},
        422,
        TOO_LONG,
    ),
    post(
        "name-newline",
        "/api/prompts",
        {"input": "scene", "text": "a", "name": "two\nlines"},
        422,
        "control character",
    ),
    post("input-nul", "/api/prompts", {"input": NUL, "text": "a"}, 422, NUL_MSG, both=True),
    post("rename-nul", "/api/inputs/scene/rename", {"name": NUL}, 422, NUL_MSG, both=True),
    post("rename-surrogate", "/api/inputs/scene/rename", {"name": SURROGATE}, 422, SUR_MSG),
    post("rename-long", "/api/inputs/scene/rename", {"name": "n" * 201}, 422, TOO_LONG),
    post("rename-blank", "/api/inputs/scene/rename", {"name": "  "}, 422, "1 to 200 characters"),
    post("rename-newline", "/api/inputs/scene/rename", {"name": "a\nb"}, 422, "control"),
    post("rename-number", "/api/inputs/scene/rename", {"name": 5}, 422, NOT_STR),
    post("rename-missing", "/api/inputs/scene/rename", {}, 422, "name: Field required"),
    post("rename-extra", "/api/inputs/scene/rename", {"name": "a", "x": 1}, 422, f"x: {EXTRA}"),
    post("rename-no-body", "/api/inputs/scene/rename", b"", 422, "needs a JSON body"),
    post("input-long", "/api/prompts", {"input": "i" * 201, "text": "a"}, 422, TOO_LONG),
    post("path-nul", "/api/inputs", {"path": NUL}, 422, NUL_MSG, both=True),
    post("path-surrogate", "/api/inputs", {"path": SURROGATE}, 422, SUR_MSG, both=True),
    post("path-long", "/api/inputs", {"path": "/" + "p" * 4096}, 422, TOO_LONG),
    post("path-outside", "/api/inputs", {"path": "@OUT"}, 422, "outside the allowed input roots"),
    post("path-missing", "/api/inputs", {"path": "@ROOTS/nothing-here"}, 422, "nothing-here"),
    post("path-a-file", "/api/inputs", {"path": "@ROOTS/afile.txt"}, 422, "afile.txt"),
    post("path-empty-folder", "/api/inputs", {"path": "@ROOTS/empty"}, 422, "empty"),
    post(
        "input-name-taken",
        "/api/inputs",
        {"path": "@ROOTS/fresh", "name": "scene"},
        422,
        "'scene' exists already",
    ),
    post(
        "input-video-nul",
        "/api/inputs",
        {"path": "@ROOTS/fresh", "video": NUL},
        422,
        NUL_MSG,
        both=True,
    ),
    post(
        "input-name-newline",
        "/api/inputs",
        {"path": "@ROOTS/fresh", "name": "a\nb"},
        422,
        "control",
    ),
    post("key-nul", "/api/queue", job(idempotency_key=NUL), 422, NUL_MSG, both=True),
    post("key-surrogate", "/api/queue", job(idempotency_key=SURROGATE), 422, SUR_MSG, both=True),
    post("prompt-id-nul", "/api/queue", job(prompt_ids=[NUL]), 422, NUL_MSG, both=True),
    post(
        "move-before-nul",
        "/api/jobs/@JOB/move",
        {"where": "before", "before": NUL},
        422,
        NUL_MSG,
        both=True,
    ),
    post("undo-nul", "/api/batch/undo", {"batch_job_id": NUL}, 422, NUL_MSG, both=True),
    post("apply-plan-nul", "/api/batch/apply", {"plan_id": NUL}, 422, NUL_MSG, both=True),
    post("analyze-mode-nul", "/api/batch/analyze", {"mode": NUL}, 422, NUL_MSG, both=True),
    post("analyze-mode-unknown", "/api/batch/analyze", {"mode": "fast"}, 422, "mode"),
    get("search-nul", "/api/prompts/search", 422, NUL_MSG, params={"q": NUL}, both=True),
    get("search-long", "/api/prompts/search", 422, TOO_LONG, params={"q": "q" * 501}),
    get("search-missing", "/api/prompts/search", 422, "q: Field required"),
    get("path-id-nul", "/api/jobs/job%00x", 422, NUL_MSG, both=True),
    get("path-id-long", "/api/prompts/" + "p" * 201, 422, TOO_LONG),
    get("runs-job-nul", "/api/runs", 422, NUL_MSG, params={"job_id": NUL}, both=True),
    get("runs-status-unknown", "/api/runs", 422, "status", params={"status": "done"}),
    get("runs-controls-unknown", "/api/runs", 422, "unknown control", params={"controls": "x+y"}),
    get("events-kinds-nul", "/api/events", 422, NUL_MSG, params={"kinds": NUL}, both=True),
    get("events-job-long", "/api/events", 422, TOO_LONG, params={"job_id": "j" * 201}),
    get("plan-id-nul", "/api/batch/plan", 422, NUL_MSG, params={"plan_id": NUL}, both=True),
]

QUERIES = [
    get(
        "limit-zero",
        "/api/queue",
        422,
        "limit: Input should be greater than or equal to 1",
        params={"limit": 0},
    ),
    get("limit-high", "/api/queue", 422, "less than or equal to 10000", params={"limit": 10_001}),
    get(
        "limit-text",
        "/api/prompts",
        422,
        "limit: Input should be a valid integer",
        params={"limit": "ten"},
    ),
    get("limit-huge", "/api/runs", 422, "less than or equal to 10000", params={"limit": 10**30}),
    get("limit-float", "/api/runs", 422, "limit:", params={"limit": "1.5"}),
    get("offset-negative", "/api/queue", 422, "offset:", params={"offset": -1}),
    get(
        "offset-huge",
        "/api/prompts",
        422,
        "less than or equal to 2147483647",
        params={"offset": 2**31},
    ),
    get(
        "offset-vast",
        "/api/runs",
        422,
        "less than or equal to 2147483647",
        params={"offset": 10**30},
    ),
    get("tail-zero", "/api/jobs/@JOB/log", 422, "tail:", params={"tail": 0}),
    get(
        "tail-high",
        "/api/runs/@RUN/log",
        422,
        "less than or equal to 100000",
        params={"tail": 10**6},
    ),
    get("rating-query-zero", "/api/runs", 422, "rating:", params={"rating": 0}),
    get("rating-query-text", "/api/runs", 422, "rating:", params={"rating": "good"}),
    get("since-negative", "/api/runs", 422, "since:", params={"since": -1}),
    get("since-nan", "/api/runs", 422, "since:", params={"since": "nan"}),
    get("since-inf", "/api/runs", 422, "since:", params={"since": "inf"}),
    get("since-huge", "/api/runs", 422, "since:", params={"since": "1e300"}),
    get("after-negative", "/api/events", 422, "after:", params={"after": -1, "follow": "false"}),
    get("after-huge", "/api/events", 422, "after:", params={"after": 2**64, "follow": "false"}),
    get("follow-maybe", "/api/events", 422, "follow:", params={"follow": "maybe"}),
    get(
        "last-event-id-text",
        "/api/events",
        422,
        "Last-Event-ID must be an event id",
        params={"follow": "false"},
        headers={"Last-Event-ID": "abc"},
    ),
    get(
        "last-event-id-huge",
        "/api/events",
        422,
        "Last-Event-ID must be 0 to",
        params={"follow": "false"},
        headers={"Last-Event-ID": str(10**30)},
    ),
    get(
        "last-event-id-negative",
        "/api/events",
        422,
        "Last-Event-ID must be 0 to",
        params={"follow": "false"},
        headers={"Last-Event-ID": "-1"},
    ),
    get(
        "last-event-id-long",
        "/api/events",
        422,
        TOO_LONG,
        params={"follow": "false"},
        headers={"Last-Event-ID": "9" * 41},
    ),
    get("history-maybe", "/api/queue", 422, "history:", params={"history": "maybe"}),
    get(
        "include-stopped-maybe",
        "/api/workers",
        422,
        "include_stopped:",
        params={"include_stopped": "2"},
    ),
    case("force-maybe", "DELETE", "/api/prompts/@P0", 422, "force:", params={"force": "maybe"}),
    case("input-force-maybe", "DELETE", "/api/inputs/scene", 422, "force:", params={"force": "2"}),
    case(
        "input-dry-run-maybe",
        "DELETE",
        "/api/inputs/scene",
        422,
        "dry_run:",
        params={"dry_run": "perhaps"},
    ),
]

STATE = [
    case("delete-busy-prompt", "DELETE", "/api/prompts/@P0", 409, "queued or running"),
    case("delete-busy-input", "DELETE", "/api/inputs/scene", 409, "@JOB"),
    case(
        "delete-busy-input-force",
        "DELETE",
        "/api/inputs/scene",
        409,
        "queued or running",
        params={"force": "true"},
    ),
    case(
        "delete-busy-input-dry-run",
        "DELETE",
        "/api/inputs/scene",
        409,
        "queued or running",
        params={"dry_run": "true"},
    ),
    case("csrf-delete-input", "DELETE", "/api/inputs/scene", 403, CROSS_SITE, client="browser"),
    post(
        "csrf-rename-input",
        "/api/inputs/scene/rename",
        {"name": "x"},
        403,
        CROSS_SITE,
        client="browser",
        headers={"Content-Type": "text/plain"},
    ),
    post("cancel-finished", "/api/jobs/@DONE/cancel", NO_BODY, 409, "@DONE"),
    post("retry-queued", "/api/jobs/@JOB/retry", NO_BODY, 409, "@JOB"),
    post("upscale-unfinished", "/api/runs/@QUEUED_RUN/upscale", {}, 409, "@QUEUED_RUN"),
    post("undo-not-a-batch", "/api/batch/undo", {"batch_job_id": "@JOB"}, 409, "@JOB"),
    post("apply-stale", "/api/batch/apply", {}, 409, "stale"),
    post(
        "reused-key-other-content",
        "/api/queue",
        job(prompt_ids=["@P1"], idempotency_key="k1"),
        409,
        "@JOB",
    ),
]


def sweep(**fields: Any) -> dict[str, Any]:
    """A valid sweep over the seeded prompt, with `fields` changed."""
    return {"prompt_ids": ["@P0"], "weights": {"edge": [0.3, 0.6]}, **fields}


SWEEPS = [
    post("sweep-over-limit", "/api/sweeps", sweep(weights={"edge": "0.001:1:0.001"}), 422,
         "above the limit of 500"),
    post("sweep-backwards", "/api/sweeps", sweep(weights={"edge": "0.8:0.2:0.1"}), 422, "stops"),
    post("sweep-zero-step", "/api/sweeps", sweep(weights={"edge": "0.2:0.8:0"}), 422,
         "step above 0"),
    post("sweep-weight-high", "/api/sweeps", sweep(weights={"edge": [2.0]}), 422,
         "less than or equal to 1"),
    post("sweep-no-axis", "/api/sweeps", sweep(weights={}), 422, "at least 1 item"),
    post("sweep-control", "/api/sweeps", sweep(weights={"nope": [0.5]}), 422, "unknown control"),
    post("sweep-repeated", "/api/sweeps", sweep(weights={"edge": [0.5, 0.5]}), 422, "repeats"),
    post("sweep-all-zero", "/api/sweeps", sweep(weights={"edge": [0]}), 422, "all weights at 0"),
    post("sweep-axis-text", "/api/sweeps", sweep(weights={"edge": "abc"}), 422, "a number"),
    post("sweep-seed", "/api/sweeps", sweep(seeds=[-1]), 422, "greater than or equal to 0"),
    post("sweep-seeds-repeated", "/api/sweeps", sweep(seeds=[1, 1]), 422, "repeated"),
    post("sweep-seed-twice", "/api/sweeps", sweep(seeds=[1], params={"seed": 2}), 422,
         "not both"),
    post("sweep-extra", "/api/sweeps", sweep(x=1), 422, f"x: {EXTRA}"),
    post("sweep-name-nul", "/api/sweeps", sweep(name=NUL), 422, NUL_MSG, both=True),
    post("sweep-name-blank", "/api/sweeps", sweep(name="  "), 422, "blank"),
    post("sweep-confirm-type", "/api/sweeps", sweep(confirm=1), 422, "valid boolean"),
    post("sweep-prompt", "/api/sweeps", sweep(prompt_ids=["nowhere"]), 404, "nowhere"),
    post("sweep-steps", "/api/sweeps", sweep(params={"steps": 0}), 422, "greater than or equal"),
    get("sweep-unknown", "/api/sweeps/nowhere", 404, "no sweep"),
    post("sweep-cancel-unknown", "/api/sweeps/nowhere/cancel", NO_BODY, 404, "no sweep"),
    get("runs-sweep-unknown", "/api/runs", 404, "no sweep", params={"sweep": "nowhere"}),
    post("pick-type", "/api/runs/@RUN/pick", {"picked": 1}, 422, "valid boolean"),
    post("pick-unknown", "/api/runs/nowhere/pick", {"picked": True}, 404, "nowhere"),
    get("review-unknown", "/api/review", 404, "no sweep", params={"sweep": "nowhere"}),
]  # fmt: skip


def c3(**given: Any) -> dict[str, Any]:
    """A job for the seeded input on Cosmos 3, with these parameters."""
    return job(params={"backend": "cosmos3", **given})


COSMOS3 = [
    post("c3-seg-no-video", "/api/queue", job(weights={"seg": 1}, params={"backend": "cosmos3"}),
         422, "(input 'scene') has no seg control video"),
    post("c3-wsm-no-video", "/api/queue",
         job(weights={"edge": 0.5, "wsm": 0.5}, params={"backend": "cosmos3"}), 422,
         "has no wsm control video"),
    post("c3-fps", "/api/queue", c3(fps=30), 422, "fps 30 differs from the input video's 24"),
    post("c3-not-mp4", "/api/queue", job(prompt_ids=["@MOV"], params={"backend": "cosmos3"}),
         422, "Cosmos 3 reads only .mp4 input videos"),
    post("c3-bulk-not-mp4", "/api/queue/bulk",
         {"jobs": [job(), job(prompt_ids=["@MOV"], params={"backend": "cosmos3"})]}, 422,
         "reads only .mp4"),
    post("c3-param-with-transfer1", "/api/queue", params(checkpoint="Cosmos3-Nano"), 422,
         "checkpoint is a Cosmos 3 parameter"),
    post("c3-outputs-with-transfer2.5", "/api/queue",
         params(backend="transfer2.5", num_outputs=2), 422, "num_outputs is a Cosmos 3"),
    post("c3-checkpoint-unknown", "/api/queue", c3(checkpoint="Cosmos3-Edge"), 422,
         "params.checkpoint"),
    post("c3-sampler-unknown", "/api/queue", c3(sampler="ddim"), 422, "params.sampler"),
    post("c3-resolution-number", "/api/queue", c3(resolution=720), 422, "params.resolution"),
    post("c3-cache-text", "/api/queue", c3(diffusion_cache="no"), 422, "valid boolean"),
    post("c3-guidance-high", "/api/queue", c3(guidance=7.5), 422,
         "guidance must be between 0 and 7"),
    post("c3-control-guidance-high", "/api/queue", c3(control_guidance=10.5), 422,
         "less than or equal to 10"),
    post("c3-shift-zero", "/api/queue", c3(shift=0), 422, "greater than 0"),
    post("c3-chunk-zero", "/api/queue", c3(chunk_frames=0), 422, "params.chunk_frames"),
    post("c3-overlap-whole-chunk", "/api/queue", c3(chunk_frames=5, conditional_frames=5), 422,
         "must be below the chunk length"),
    post("c3-sigma-with-unipc", "/api/queue", c3(sigma_max=80), 422, "edm sampler"),
    post("c3-distilled", "/api/queue", c3(distilled=True), 422, "no distilled"),
    post("c3-outputs-many", "/api/queue", c3(num_outputs=65), 422, "less than or equal to 64"),
    post("c3-outputs-past-seed", "/api/queue", c3(seed=2**31 - 1, num_outputs=2), 422,
         "passes the largest seed"),
    post("c3-sweep-one-control", "/api/sweeps",
         sweep(weights={"edge": "0.2:0.8:0.2"}, params={"backend": "cosmos3"}), 422,
         "renders one video per seed"),
    post("c3-sweep-preview-one-control", "/api/sweeps",
         sweep(params={"backend": "cosmos3"}, dry_run=True), 422, "renders one video per seed"),
    post("c3-sweep-wsm-no-video", "/api/sweeps",
         sweep(weights={"edge": [0.5], "wsm": [0.2, 0.4]}, params={"backend": "cosmos3"}), 422,
         "has no wsm control video"),
    post("c3-sweep-fps", "/api/sweeps",
         sweep(weights={"edge": [0.5], "depth": [0.2, 0.4]},
               params={"backend": "cosmos3", "fps": 25}), 422, "fps 25 differs"),
]  # fmt: skip

CASES = [
    *BROWSER_SAFETY,
    *COSMOS3,
    *METHODS_AND_PATHS,
    *MALFORMED,
    *STRICT_TYPES,
    *TEXT,
    *QUERIES,
    *STATE,
    *SWEEPS,
]


@dataclass
class World:
    ctx: Context
    clients: dict[str, TestClient]
    tokens: dict[str, str]


_worlds: dict[str, World] = {}


@pytest.fixture(scope="module", autouse=True)
def _close_worlds() -> Iterator[None]:
    yield
    for world in _worlds.values():
        for client in world.clients.values():
            client.close()
        world.ctx.db.dispose()
    _worlds.clear()


def _seed(ctx: Context, roots: Path) -> dict[str, str]:
    """An input, two prompts, a queued job (key k1), a finished job with its video, and a plan
    made stale by a job queued after it."""
    inputs.add_input(ctx, roots / "scene", name="scene")
    first = prompts.create_prompt(ctx, "scene", "a sunlit warehouse").id
    second = prompts.create_prompt(ctx, "scene", "a night street").id
    inputs.add_input(ctx, roots / "movscene", name="movscene")
    mov = prompts.create_prompt(ctx, "movscene", "a harbour at dawn").id
    done = queue.enqueue(ctx, queue.build_request([second], {"edge": 0.5}))
    output = make_video(ctx.settings.outputs_dir / "seed" / "output.mp4")
    with ctx.db.write() as session:
        session.execute(
            update(RunRow)
            .where(RunRow.id == done.run_ids[0])
            .values(status="succeeded", output_path=str(output), finished_at=1.0)
        )
        session.execute(
            update(JobRow)
            .where(JobRow.id == done.job_id)
            .values(status="succeeded", finished_at=1.0)
        )
    queued = queue.enqueue(ctx, queue.build_request([first], {"edge": 0.5}, idempotency_key="k1"))
    batching.analyze(ctx)
    queue.enqueue(ctx, queue.build_request([first], {"depth": 0.5}))
    return {
        "@P0": first,
        "@P1": second,
        "@MOV": mov,
        "@JOB": queued.job_id,
        "@QUEUED_RUN": queued.run_ids[0],
        "@DONE": done.job_id,
        "@RUN": done.run_ids[0],
    }


def _build_world(url: str, base: Path) -> World:
    roots, outside, home = base / "roots", base / "outside", base / "home"
    home.mkdir(parents=True)
    make_input_folder(roots / "scene", controls=("depth", "edge"))
    make_input_folder(roots / "fresh")
    make_video(roots / "movscene" / "color.mov")
    make_input_folder(outside)
    (roots / "empty").mkdir()
    (roots / "afile.txt").write_text("not a folder")
    (base / "empty.toml").write_text("")
    env = {
        "COSMOS_HOME": str(home),
        "COSMOS_DATABASE_URL": url,
        "COSMOS_INPUT_ROOTS": json.dumps([str(roots)]),
        "COSMOS_CONFIG": str(base / "empty.toml"),
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        ctx = Context(load_settings())
    tokens = {**_seed(ctx, roots), "@ROOTS": str(roots), "@OUT": str(outside)}
    local = "http://127.0.0.1"
    clients = {
        "script": TestClient(create_app(ctx, token=None), base_url=local, headers=SCRIPT),
        "browser": TestClient(create_app(ctx, token=None, with_ui=False), base_url=local),
        "guarded": TestClient(
            create_app(ctx, token=TOKEN, with_ui=False), base_url=local, headers=SCRIPT
        ),
    }
    return World(ctx, clients, tokens)


def _world(db: str, request: pytest.FixtureRequest, factory: pytest.TempPathFactory) -> World:
    if db not in _worlds:
        base = factory.mktemp(f"api-corpus-{db}")
        _worlds[db] = _build_world(make_database_url(db, request, base), base)
    return _worlds[db]


def _fill(value: Any, tokens: dict[str, str]) -> Any:
    """`value` with every "@NAME" token in its strings (keys and items too) replaced."""
    if isinstance(value, str):
        for token in sorted(tokens, key=len, reverse=True):
            value = value.replace(token, tokens[token])
        return value
    if isinstance(value, list):
        return [_fill(item, tokens) for item in value]
    if isinstance(value, dict):
        return {_fill(k, tokens): _fill(v, tokens) for k, v in value.items()}
    return value


def _request(case: Case, tokens: dict[str, str]) -> dict[str, Any]:
    sent: dict[str, Any] = {"params": _fill(case.params, tokens), "headers": dict(case.headers)}
    if isinstance(case.body, bytes):
        sent["content"] = _fill(case.body.decode("latin-1"), tokens).encode("latin-1")
        sent["headers"] = {**JSON, **sent["headers"]}
    elif case.body is not NO_BODY:
        # Sent as the JSON text of the body (lone surrogates escaped, as any JSON encoder does).
        sent["content"] = json.dumps(_fill(case.body, tokens)).encode()
        sent["headers"] = {**JSON, **sent["headers"]}
    return sent


PARAMS = [
    pytest.param(case, db, id=f"{case.id}-{db}")
    for case in CASES
    for db in (("sqlite", "postgres") if case.both else ("sqlite",))
]


def test_the_corpus_is_large_and_unambiguous() -> None:
    assert len(CASES) >= 200
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize(("case", "db"), PARAMS)
def test_bad_input_is_refused_with_a_message_and_changes_nothing(
    case: Case, db: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    world = _world(db, request, tmp_path_factory)
    before = database_snapshot(world.ctx)

    response = world.clients[case.client].request(
        case.method, _fill(case.path, world.tokens), **_request(case, world.tokens)
    )

    assert response.status_code == case.status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "field"}, body
    assert _fill(case.message, world.tokens) in body["error"]["message"], body
    assert database_snapshot(world.ctx) == before
