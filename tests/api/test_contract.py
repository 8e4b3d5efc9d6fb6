"""The API's contract beyond the schema test: 404 and 405 in the error shape under /api (the UI
included), strict JSON types, malformed JSON named by line and column."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from cosmos_workflow.api.app import create_app
from cosmos_workflow.services.context import Context
from tests.api.conftest import api_client
from tests.services.snapshot import database_snapshot


@pytest.fixture
def with_ui(ctx: Context) -> Iterator[TestClient]:
    """The app as `cosmos serve` builds it: the UI's catch-all mounted at /."""
    with api_client(create_app(ctx, token=None, with_ui=True)) as client:
        yield client


def test_a_wrong_method_is_a_405_with_allow(with_ui: TestClient) -> None:
    for method, path, allow in [
        ("GET", "/api/queue/pause", "POST"),
        ("DELETE", "/api/queue", "GET, POST"),
        ("PUT", "/api/prompts/pr_x", "DELETE, GET"),
    ]:
        response = with_ui.request(method, path)
        assert response.status_code == 405, (method, path, response.text)
        assert response.headers["allow"] == allow
        assert response.json()["error"]["message"].startswith(f"{method} is not allowed")


def test_an_unknown_api_path_is_a_404_in_the_error_shape(with_ui: TestClient) -> None:
    response = with_ui.get("/api/nothing/here")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"message": "no API route /api/nothing/here; /docs lists them", "field": None}
    }
    assert with_ui.get("/").status_code == 200  # the UI still answers everything else


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"max_batch_size": True}, "max_batch_size"),
        ({"max_batch_size": "3"}, "max_batch_size"),
        ({"allow_output_changes": 1}, "allow_output_changes"),
    ],
)
def test_no_true_as_a_number_and_no_numeric_strings(
    client: TestClient, ctx: Context, body: dict[str, object], field: str
) -> None:
    before = database_snapshot(ctx)
    response = client.post("/api/batch/analyze", json=body)
    assert response.status_code == 422 and response.json()["error"]["field"] == field
    assert database_snapshot(ctx) == before


def test_job_parameters_are_strict(client: TestClient, ctx: Context, prompt_ids: list[str]) -> None:
    before = database_snapshot(ctx)
    for params, field in [
        ({"steps": "35"}, "params.steps"),
        ({"steps": True}, "params.steps"),
        ({"seed": 1.5}, "params.seed"),
        ({"distilled": "yes"}, "params.distilled"),
        ({"blur": "LOW"}, "params.blur"),
    ]:
        response = client.post("/api/queue", json={"prompt_ids": prompt_ids, "params": params})
        assert response.status_code == 422, (params, response.text)
        assert response.json()["error"]["field"] == field, response.text
    weights = client.post("/api/queue", json={"prompt_ids": prompt_ids, "weights": {"edge": "1"}})
    assert weights.status_code == 422 and weights.json()["error"]["field"] == "weights.edge"
    assert database_snapshot(ctx) == before
    # JSON numbers still fill a float: an integer weight and guidance are fine.
    accepted = client.post(
        "/api/queue",
        json={"prompt_ids": prompt_ids[:1], "weights": {"edge": 1}, "params": {"guidance": 7}},
    )
    assert accepted.status_code == 201, accepted.text


def test_malformed_json_names_line_and_column(client: TestClient, ctx: Context) -> None:
    before = database_snapshot(ctx)
    body = b'{\n  "input": "scene",\n  "text": oops\n}'
    response = client.post(
        "/api/prompts", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == {
        "message": "the body is not valid JSON: Expecting value (line 3, column 11)",
        "field": None,
    }
    not_utf8 = client.post(
        "/api/prompts", content=b'{"text": "\xff"}', headers={"Content-Type": "application/json"}
    )
    assert not_utf8.status_code == 400 and "not UTF-8" in not_utf8.json()["error"]["message"]
    assert database_snapshot(ctx) == before


def test_the_schema_lists_every_guard_and_the_services_limits(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    pause = spec["paths"]["/api/queue/pause"]["post"]["responses"]
    assert {"400", "401", "403", "413"} <= set(pause)
    health = spec["paths"]["/api/health"]["get"]["responses"]
    assert "403" not in health and {"400", "401", "413"} <= set(health)
    schemas = spec["components"]["schemas"]
    prompt = schemas["PromptCreate"]["properties"]
    assert prompt["text"]["maxLength"] == 20_000
    params = schemas["ParamsBody"]["properties"]
    steps = next(s for s in params["steps"]["anyOf"] if s.get("type") == "integer")
    assert (steps["minimum"], steps["maximum"]) == (1, 1000)
    offset = next(
        p for p in spec["paths"]["/api/queue"]["get"]["parameters"] if p["name"] == "offset"
    )
    assert offset["schema"]["maximum"] == 2**31 - 1
