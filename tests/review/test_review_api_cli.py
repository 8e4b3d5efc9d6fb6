"""The review's API routes and `cosmos review`, over a small sweep a real simulated worker
finished (SQLite: the services are tested on both databases)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cosmos_workflow.api.app import create_app
from cosmos_workflow.services import runs
from cosmos_workflow.services.context import Context
from tests.api.conftest import api_client
from tests.cli.runner import cosmos, cosmos_json
from tests.review.helpers import finish_all, queue_small_sweep, with_host
from tests.services.snapshot import database_snapshot


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def hosted(ctx: Context) -> Context:
    context = with_host(ctx)
    queue_small_sweep(context)
    finish_all(context)
    return context


@pytest.fixture
def client(hosted: Context) -> Iterator[TestClient]:
    with api_client(create_app(hosted, token=None, with_ui=False)) as test_client:
        yield test_client


def test_the_grid_pick_rate_and_export_through_the_api(client: TestClient, tmp_path: Path) -> None:
    grid = client.get("/api/review", params={"sweep": "look"}).json()
    assert [a["control"] for a in grid["axes"]] == ["depth", "seg"] and len(grid["pages"]) == 2
    cell = grid["pages"][0]["cells"][1][1]
    run_id = cell["run"]["id"]
    video = client.get(cell["video_url"])
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    picked = client.post(f"/api/runs/{run_id}/pick", json={"picked": True})
    assert picked.status_code == 200 and picked.json()["picked"] is True
    assert client.post(f"/api/runs/{run_id}/rating", json={"rating": 4}).json()["rating"] == 4
    assert client.post(f"/api/runs/{run_id}/rating", json={"rating": None}).json()["rating"] is None
    exported = client.post("/api/review/export", json={"sweep": "look", "folder": str(tmp_path)})
    assert exported.status_code == 200, exported.text
    body = exported.json()
    assert [r["run_id"] for r in body["runs"]] == [run_id]
    assert (tmp_path / body["runs"][0]["output_file"]).is_file()
    again = client.post("/api/review/export", json={"sweep": "look", "folder": str(tmp_path)})
    assert again.status_code == 409 and again.json()["error"]["field"] == "folder"


def test_input_and_control_videos_are_served_playable(client: TestClient) -> None:
    page = client.get("/api/review", params={"sweep": "look"}).json()["pages"][0]
    for url in (page["input_video_url"], *page["control_video_urls"].values()):
        answer = client.get(url)
        assert answer.status_code == 200 and answer.headers["content-type"] == "video/mp4", url
        assert answer.content[4:8] == b"ftyp"
    missing = client.get("/api/inputs/scene/controls/edge/video")
    assert missing.status_code == 404 and "no edge control" in missing.json()["error"]["message"]
    unknown = client.get("/api/inputs/scene/controls/nope/video")
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "control"


BAD_REQUESTS = [
    ("get", "/api/review?sweep=nowhere", None, 404, "no sweep"),
    ("get", "/api/review?rating=9", None, 422, "rating"),
    ("post", "/api/runs/run_missing/pick", {"picked": True}, 404, "run_missing"),
    ("post", "/api/runs/@RUN/pick", {"picked": "yes"}, 422, "picked"),
    ("post", "/api/runs/@RUN/pick", {"picked": True, "x": 1}, 422, "x: Extra inputs"),
    ("post", "/api/runs/@RUN/pick", None, 422, "needs a JSON body"),
    ("post", "/api/review/export", {"sweep": "look"}, 422, "folder: Field required"),
    ("post", "/api/review/export", {"sweep": "look", "folder": "/etc"}, 422, "outside"),
    ("post", "/api/review/export", {"sweep": "look", "folder": "a\x00"}, 422, "NUL"),
    ("post", "/api/review/export", {"sweep": "nowhere", "folder": "@TMP"}, 404, "no sweep"),
    ("post", "/api/review/export", {"sweep": "look", "folder": "@TMP"}, 409, "picked"),
    ("get", "/api/inputs/nowhere/video", None, 404, "nowhere"),
]


def test_bad_requests_are_refused_and_change_nothing(
    client: TestClient, hosted: Context, tmp_path: Path
) -> None:
    run_id = runs.list_runs(hosted, sweep="look", limit=1).runs[0].id
    before = database_snapshot(hosted)
    for method, path, body, status, fragment in BAD_REQUESTS:
        sent = json.loads(json.dumps(body).replace("@TMP", str(tmp_path / "out")))
        answer = client.request(method.upper(), path.replace("@RUN", run_id), json=sent)
        assert answer.status_code == status, (path, body, answer.text)
        error = answer.json()["error"]
        assert fragment in error["message"] + str(error["field"]), (path, body, error)
    assert database_snapshot(hosted) == before
    assert not (tmp_path / "out").exists()


def test_the_page_and_its_files_are_served_from_the_package(client: TestClient) -> None:
    page = client.get("/review?sweep=look")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/review/static/review.js" in page.text and "http" not in page.text.split("<body>")[1]
    script = client.get("/review/static/review.js")
    assert script.headers["content-type"].startswith("text/javascript") and "syncNow" in script.text
    assert client.get("/review/static/review.css").status_code == 200
    assert client.get("/review/static/other.js").status_code == 404


def test_cosmos_review_prints_the_page_and_exports(hosted: Context, tmp_path: Path) -> None:
    shown = cosmos_json("review", "look")
    assert shown["url"] == "http://127.0.0.1:7860/review?sweep=look"
    code, out, _ = cosmos("review", "look", "--server", "http://[::1]:9000")
    assert code == 0 and out.strip() == "http://[::1]:9000/review?sweep=look"
    code, _, err = cosmos("review", "nowhere")
    assert code == 1 and "no sweep" in err
    code, _, err = cosmos("review", "export", "look", "--to", str(tmp_path / "out"))
    assert code == 1 and "no run of sweep look is picked" in err
    assert not (tmp_path / "out").exists()
    run = runs.list_runs(hosted, sweep="look", limit=1).runs[0]
    runs.pick_run(hosted, run.id, True)
    code, _, err = cosmos("review", "export", "look", "--to", "/etc/x")
    assert code == 2 and "outside the allowed roots" in err
    exported = cosmos_json("review", "export", "look", "--to", str(tmp_path / "out"))
    assert [r["run_id"] for r in exported["runs"]] == [run.id]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["runs"][0]["command"]
    code, _, err = cosmos("review", "export", "look", "--to", str(tmp_path / "out"))
    assert code == 1 and "--overwrite" in err
    code, out, _ = cosmos("review", "export", "look", "--to", str(tmp_path / "out"), "--overwrite")
    assert code == 0 and "exported 1 picked run(s) of look" in out
