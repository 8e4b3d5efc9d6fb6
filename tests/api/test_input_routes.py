"""Renaming and removing inputs through HTTP: the answers' shapes, 409 naming the other input or
the jobs in the way, 422 for a bad name, and refusals and dry runs that change nothing."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from cosmos_workflow.services.context import Context
from tests.services.snapshot import database_snapshot
from tests.videos import make_input_folder


def test_rename_answers_the_input_and_refuses_a_taken_or_bad_name(
    client: TestClient, ctx: Context, input_id: str, tmp_path: Path
) -> None:
    other = client.post(
        "/api/inputs", json={"path": str(make_input_folder(tmp_path / "o")), "name": "other"}
    ).json()
    before = database_snapshot(ctx)
    taken = client.post("/api/inputs/scene/rename", json={"name": "other"})
    assert taken.status_code == 409, taken.text
    assert taken.json()["error"]["field"] == "name" and other["id"] in taken.text
    blank = client.post(f"/api/inputs/{input_id}/rename", json={"name": " "})
    assert blank.status_code == 422 and blank.json()["error"]["field"] == "name"
    assert database_snapshot(ctx) == before

    renamed = client.post("/api/inputs/scene/rename", json={"name": "warehouse"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["id"] == input_id and renamed.json()["name"] == "warehouse"
    assert client.get("/api/inputs/warehouse").json()["id"] == input_id
    assert client.get("/api/inputs/scene").status_code == 404


def test_delete_refuses_work_in_use_then_needs_force_and_dry_run_changes_nothing(
    client: TestClient, ctx: Context, input_id: str, prompt_ids: list[str], scene: Path
) -> None:
    job_id = client.post("/api/queue", json={"prompt_ids": prompt_ids[:1]}).json()["job_id"]
    before = database_snapshot(ctx)
    busy = client.delete("/api/inputs/scene", params={"force": True})
    assert busy.status_code == 409 and job_id in busy.json()["error"]["message"]
    assert database_snapshot(ctx) == before

    assert client.post(f"/api/jobs/{job_id}/cancel").status_code == 200
    before = database_snapshot(ctx)
    unforced = client.delete("/api/inputs/scene")
    assert unforced.status_code == 409 and "3 prompt(s)" in unforced.json()["error"]["message"]
    dry = client.delete(f"/api/inputs/{input_id}", params={"dry_run": True})
    assert dry.status_code == 200, dry.text
    assert dry.json()["removed"] is False and dry.json()["prompts"] == prompt_ids
    assert dry.json()["runs"] == 1 and dry.json()["jobs"] == [job_id]
    assert database_snapshot(ctx) == before

    removed = client.delete("/api/inputs/scene", params={"force": True})
    assert removed.status_code == 200 and removed.json()["removed"] is True
    assert client.get("/api/inputs").json() == []
    assert client.get(f"/api/prompts/{prompt_ids[0]}").status_code == 404
    assert client.get(f"/api/jobs/{job_id}").status_code == 404
    assert (scene / "color.mp4").is_file() and (scene / "depth.mp4").is_file()
