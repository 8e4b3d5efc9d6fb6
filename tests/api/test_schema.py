"""Every operation in /openapi.json, driven by schemathesis over a real app and a real SQLite
database holding an input, prompts, queued and finished runs and a plan.

For each generated request (valid and invalid ones): no 5xx, the status code is documented, the
content type and body match the schema, and a refused request (4xx) changed nothing in the
database. Examples are bounded per operation so the whole test stays within about a minute and
a half on two cores."""

from __future__ import annotations

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
from cosmos_workflow.config import load_settings
from cosmos_workflow.services import batching, inputs, prompts, queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.models import RunRow
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
EXAMPLES = 12  # per operation and test phase


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
    unused = Path(tempfile.gettempdir()) / "cosmos-schema-only"
    settings = load_settings(home=unused, database_url="sqlite://", input_roots=[unused])
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


@schema.parametrize()
@schema.given(data=st.data())
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_conforms(
    case: Case, data: st.DataObject, seeded: Seeded, ctx: Context
) -> None:
    if case.operation.path == "/api/events":
        # A following stream never ends; the generated request reads what is there and closes.
        case.query = {**(case.query or {}), "follow": "false"}
    _with_seeded_ids(case, seeded, data)
    before = database_snapshot(ctx)
    response = case.call_and_validate(checks=CHECKS, app=seeded.app)
    if 400 <= response.status_code < 500:
        assert database_snapshot(ctx) == before, f"{case.method} {case.path} changed data"
