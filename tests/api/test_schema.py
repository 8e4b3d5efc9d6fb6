"""Every operation in /openapi.json, driven by schemathesis over a real app and a real database
(SQLite and PostgreSQL) holding an input, prompts, queued and finished runs and a plan.

For each generated request (valid and invalid ones): no 5xx, the status code is documented, the
content type and body match the schema, invalid data is refused, and a refused request (4xx)
changed nothing in the database. Examples are bounded per operation (about a minute of CPU for
both databases); the event stream is read without following, so every request ends."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import update

from cosmos_workflow.api.app import create_app
from cosmos_workflow.config import Settings
from cosmos_workflow.services import batching, inputs, prompts, queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.models import RunRow
from tests.api.conftest import SCRIPT_HEADERS
from tests.conftest import make_database_url
from tests.services.snapshot import database_snapshot
from tests.videos import make_input_folder, make_video

CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# Per operation and test phase. The examples are derandomized, so every run (CI included) sends
# the same requests and a failure reproduces; set COSMOS_SCHEMA_EXAMPLES and
# COSMOS_SCHEMA_RANDOM=1 to explore further by hand.
EXAMPLES = int(os.environ.get("COSMOS_SCHEMA_EXAMPLES", "12"))
DERANDOMIZE = os.environ.get("COSMOS_SCHEMA_RANDOM") != "1"


@dataclass(frozen=True)
class Seeded:
    app: FastAPI
    ids: dict[str, list[str]]  # path parameter name -> values that exist


def _seed(ctx: Context, tmp_path: Path) -> dict[str, list[str]]:
    """Data for the generated requests to meet: an input, prompts, queued jobs, a finished run
    with its video and thumbnail under COSMOS_HOME, and a stored plan. Returns their ids."""
    folder = make_input_folder(tmp_path / "scene", controls=("depth", "edge"))
    scene = inputs.add_input(ctx, folder, name="scene")
    made = [prompts.create_prompt(ctx, "scene", text) for text in ("a red car", "a snowy street")]
    first = queue.enqueue(ctx, queue.build_request([made[0].id], {"edge": 0.5}))
    second = queue.enqueue(ctx, queue.build_request([made[1].id], {"edge": 0.5, "depth": 0.3}))
    output = make_video(ctx.settings.outputs_dir / "seed" / "output.mp4")
    thumbnail = ctx.settings.home / "thumbnails" / "seed.jpg"
    thumbnail.parent.mkdir(parents=True, exist_ok=True)
    thumbnail.write_bytes(b"\xff\xd8\xff\xe0 a stored thumbnail")
    with ctx.db.write() as session:
        session.execute(
            update(RunRow)
            .where(RunRow.id == first.run_ids[0])
            .values(
                status="succeeded",
                output_path=str(output),
                thumbnail_path=str(thumbnail),
                finished_at=1.0,
            )
        )
    batching.analyze(ctx)
    return {
        "name_or_id": [scene.id, scene.name],
        "prompt_id": [p.id for p in made],
        "job_id": [first.job_id, second.job_id],
        "run_id": [*first.run_ids, *second.run_ids],
    }


def _schema_only_app() -> FastAPI:
    """The schema depends on the routes, not on data, so it is read once at collection from an
    app whose database is never opened; every request goes to the seeded app of its test.
    (schemathesis.pytest.from_fixture would build it per test, but fails under pytest 9.)"""
    # Constructed, not loaded: collection never reads the environment or a configuration file.
    unused = Path(tempfile.gettempdir()) / "cosmos-schema-only"
    # schemathesis reads the schema as the host `testserver`: a configured name, as a proxy's.
    settings = Settings.model_construct(
        home=unused, database_url="sqlite://", allowed_hosts=["testserver"]
    )
    return create_app(Context(settings), token=None, with_ui=False)


schema = schemathesis.openapi.from_asgi("/openapi.json", _schema_only_app())


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Both databases, unlike the other API tests: PostgreSQL refuses values SQLite stores (NUL
    characters, integers past 32 bits), and each must be a 4xx, not a 500."""
    return make_database_url(request.param, request, tmp_path)


@pytest.fixture
def seeded(ctx: Context, tmp_path: Path) -> Seeded:
    ids = _seed(ctx, tmp_path)
    return Seeded(create_app(ctx, token=None, with_ui=False), ids)


def _with_seeded_ids(case: Case, seeded: Seeded, data: st.DataObject) -> None:
    """Random ids mostly meet 404s: a valid request often names seeded rows instead, so the
    routes' real answers (and their refusals of the state a row is in) are checked too. Only
    valid requests: an invalid one must stay invalid."""
    if case.meta is None or case.meta.generation.mode is not GenerationMode.POSITIVE:
        return
    for name in case.path_parameters or {}:
        if name in seeded.ids and data.draw(st.booleans(), label=f"seeded {name}"):
            case.path_parameters[name] = data.draw(st.sampled_from(seeded.ids[name]), label=name)
    _with_seeded_body_ids(case.body, seeded, data)


BODY_IDS = {"input": "name_or_id", "before": "job_id", "batch_job_id": "job_id"}


def _with_seeded_body_ids(body: object, seeded: Seeded, data: st.DataObject) -> None:
    """The same for ids inside a JSON body, a bulk request's jobs included."""
    if not isinstance(body, dict):
        return
    for key, kind in BODY_IDS.items():
        if isinstance(body.get(key), str) and data.draw(st.booleans(), label=f"seeded {key}"):
            body[key] = data.draw(st.sampled_from(seeded.ids[kind]), label=key)
    if isinstance(body.get("prompt_ids"), list) and data.draw(st.booleans(), label="seeded"):
        known = st.sampled_from(seeded.ids["prompt_id"])
        body["prompt_ids"] = data.draw(st.lists(known, min_size=1, unique=True), label="ids")
    if isinstance(body.get("weights"), dict) and data.draw(st.booleans(), label="seeded"):
        # Free-form weights and parameters are nearly always refused; these the seeded input
        # (depth and edge controls) accepts, so jobs get created, and idempotency keys reused.
        controls = st.sampled_from(["depth", "edge"])
        weight = st.floats(0.05, 1.0).map(lambda w: round(w, 2))
        body["weights"] = data.draw(st.dictionaries(controls, weight, min_size=1), label="w")
        body["params"] = {}
        body["idempotency_key"] = data.draw(st.sampled_from([None, "key-1", "key-2"]))
    for job in body.get("jobs") if isinstance(body.get("jobs"), list) else []:
        _with_seeded_body_ids(job, seeded, data)


@schema.parametrize()
@schema.given(data=st.data())
@settings(
    max_examples=EXAMPLES,
    derandomize=DERANDOMIZE,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_conforms(
    case: Case, data: st.DataObject, seeded: Seeded, ctx: Context
) -> None:
    follow = (case.query or {}).get("follow", "true")
    if case.operation.path == "/api/events" and follow in ("true", "false", True, False):
        # A following stream never ends; the generated request reads what is there and closes.
        # An invalid `follow` stays as generated: it is refused before any stream starts.
        case.query = {**(case.query or {}), "follow": "false"}
    _with_seeded_ids(case, seeded, data)
    _as_a_script(case)
    before = database_snapshot(ctx)
    response = case.call_and_validate(checks=CHECKS, app=seeded.app)
    if 400 <= response.status_code < 500:
        assert database_snapshot(ctx) == before, f"{case.method} {case.path} changed data"


def _as_a_script(case: Case) -> None:
    """Sent as a script on this machine sends it: a loopback Host (schemathesis's own,
    `testserver`, names no server: 400) and the header that marks a write as no web page's
    (without it every write without a JSON body is a 403; tests/api/test_browser.py checks
    those refusals)."""
    case.headers = {**(case.headers or {}), "Host": "127.0.0.1", **SCRIPT_HEADERS}


OPERATION_IDS = {
    "get_health", "list_workers", "get_fleet", "get_embedded_worker",
    "list_inputs", "create_input", "get_input", "get_input_thumbnail", "rename_input",
    "delete_input",
    "list_prompts", "search_prompts", "create_prompt", "get_prompt", "delete_prompt",
    "enhance_prompt",
    "create_job", "create_jobs", "list_queue", "get_queue_status", "pause_queue",
    "resume_queue", "get_job", "cancel_job", "move_job", "retry_job", "get_job_log",
    "analyze_queue", "get_plan", "apply_plan", "list_verdicts", "undo_batch",
    "list_runs", "get_run", "rate_run", "upscale_run", "get_run_video", "get_run_thumbnail",
    "get_run_log",
    "stream_events", "create_session",
    "create_sweep", "list_sweeps", "get_sweep", "cancel_sweep",
    "get_review", "pick_run", "export_review", "get_input_video", "get_input_control_video",
}  # fmt: skip


def test_every_operation_has_its_stable_id_an_answer_and_the_error_body() -> None:
    """Operation ids are the contract clients are generated from (docs/api.md lists them)."""
    spec = _schema_only_app().openapi()
    operations = [op for path in spec["paths"].values() for op in path.values()]
    assert sorted(op["operationId"] for op in operations) == sorted(OPERATION_IDS)
    error_body = {"$ref": "#/components/schemas/ErrorBody"}
    for op in operations:
        answers = op["responses"]
        success = [status for status in answers if status.startswith("2")]
        # A 204 has no body by definition (POST /api/session answers only a cookie).
        answered = all(answers[s].get("content") or s == "204" for s in success)
        assert success and answered, op["operationId"]
        errors = [status for status in answers if status.startswith("4")]
        assert "401" in errors, op["operationId"]
        for status in errors:
            assert answers[status]["content"] == {"application/json": {"schema": error_body}}


def test_without_the_token_every_operation_answers_its_documented_401(ctx: Context) -> None:
    guarded = create_app(ctx, token="a-token-for-tests", with_ui=False)
    checks = [status_code_conformance, content_type_conformance, response_schema_conformance]
    answered = []
    for result in schema.get_all_operations():
        operation = result.ok()
        names = [p.name for p in operation.iter_parameters() if p.location == "path"]
        case = operation.Case(path_parameters=dict.fromkeys(names, "x"))
        _as_a_script(case)
        response = case.call(app=guarded)
        assert response.status_code == 401, operation.label
        case.validate_response(response, checks=checks, transport_kwargs={"app": guarded})
        answered.append(operation.label)
    assert len(answered) == len(OPERATION_IDS)
