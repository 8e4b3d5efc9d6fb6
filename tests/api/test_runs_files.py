"""Runs over HTTP: filters, rating, logs, and file downloads confined to COSMOS_HOME.

A finished run is made by recording its outcome in the store the way the worker does (output
file under COSMOS_HOME, status succeeded); a row pointing outside COSMOS_HOME stands for a
tampered or misconfigured database, which the server must not follow."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from cosmos_workflow.services.context import Context
from cosmos_workflow.store.models import RunRow
from tests.videos import make_video


def _finish(ctx: Context, run_id: str, output: Path, thumbnail: Path | None = None) -> None:
    with ctx.db.write() as session:
        session.execute(
            update(RunRow)
            .where(RunRow.id == run_id)
            .values(
                status="succeeded",
                output_path=str(output),
                thumbnail_path=str(thumbnail) if thumbnail else None,
                finished_at=1.0,
            )
        )


@pytest.fixture
def run_ids(client: TestClient, prompt_ids: list[str]) -> list[str]:
    first = client.post(
        "/api/queue", json={"prompt_ids": prompt_ids[:2], "weights": {"edge": 0.5}}
    ).json()
    second = client.post(
        "/api/queue", json={"prompt_ids": prompt_ids[2:], "weights": {"edge": 0.5, "depth": 0.5}}
    ).json()
    return [*first["run_ids"], *second["run_ids"]]


def test_list_filters_show_and_rate(client: TestClient, run_ids: list[str]) -> None:
    listed = client.get("/api/runs").json()
    assert listed["total"] == 3 and {r["id"] for r in listed["runs"]} == set(run_ids)
    by_controls = client.get("/api/runs", params={"controls": "depth+edge"}).json()
    assert [r["id"] for r in by_controls["runs"]] == [run_ids[2]]
    assert client.get("/api/runs", params={"status": "succeeded"}).json()["total"] == 0
    bad = client.get("/api/runs", params={"status": "sleeping"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "status"
    rated = client.post(f"/api/runs/{run_ids[0]}/rating", json={"rating": 4}).json()
    assert rated["rating"] == 4
    assert [r["id"] for r in client.get("/api/runs", params={"rating": 4}).json()["runs"]] == [
        run_ids[0]
    ]
    out_of_range = client.post(f"/api/runs/{run_ids[0]}/rating", json={"rating": 9})
    assert out_of_range.status_code == 422 and out_of_range.json()["error"]["field"] == "rating"
    assert client.get(f"/api/runs/{run_ids[1]}").json()["status"] == "queued"


def test_video_and_thumbnail_served_from_home(
    client: TestClient, ctx: Context, run_ids: list[str]
) -> None:
    output = make_video(ctx.settings.outputs_dir / "r1" / "output.mp4")
    thumbnail = ctx.settings.home / "thumbnails" / "r1.jpg"
    thumbnail.parent.mkdir(parents=True, exist_ok=True)
    thumbnail.write_bytes(b"\xff\xd8\xff\xe0 not a real jpeg, served as stored")
    _finish(ctx, run_ids[0], output, thumbnail)
    video = client.get(f"/api/runs/{run_ids[0]}/video")
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert video.content == output.read_bytes()
    thumb = client.get(f"/api/runs/{run_ids[0]}/thumbnail")
    assert thumb.status_code == 200 and thumb.content == thumbnail.read_bytes()
    not_yet = client.get(f"/api/runs/{run_ids[1]}/video")
    assert not_yet.status_code == 404


def test_paths_outside_home_are_refused(
    client: TestClient, ctx: Context, run_ids: list[str], tmp_path: Path
) -> None:
    outside = make_video(tmp_path / "elsewhere" / "secret.mp4")
    _finish(ctx, run_ids[0], outside)
    refused = client.get(f"/api/runs/{run_ids[0]}/video")
    assert (
        refused.status_code == 403 and "outside COSMOS_HOME" in refused.json()["error"]["message"]
    )
    escape = ctx.settings.home / "outputs" / ".." / ".." / "elsewhere" / "secret.mp4"
    _finish(ctx, run_ids[1], escape)
    assert client.get(f"/api/runs/{run_ids[1]}/video").status_code == 403
    link = ctx.settings.home / "outputs" / "link.mp4"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside)
    _finish(ctx, run_ids[2], link)
    assert client.get(f"/api/runs/{run_ids[2]}/video").status_code == 403


def test_logs(client: TestClient, ctx: Context, run_ids: list[str]) -> None:
    job_id = client.get(f"/api/runs/{run_ids[0]}").json()["job_id"]
    assert client.get(f"/api/jobs/{job_id}/log").text == ""
    log = ctx.settings.logs_dir / f"{job_id}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("".join(f"line {i}\n" for i in range(10)))
    assert client.get(f"/api/jobs/{job_id}/log", params={"tail": 2}).text == "line 8\nline 9\n"
    assert client.get(f"/api/runs/{run_ids[0]}/log").text.startswith("line 0\n")
    assert client.get("/api/jobs/job_missing/log").status_code == 404
