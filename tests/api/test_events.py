"""The live event stream: ids, resuming with Last-Event-ID or ?after=, live delivery over a
real server, and the ordering rule for ids that become visible out of order."""

from __future__ import annotations

import asyncio
import json
import threading

import httpx
import pytest
from fastapi.testclient import TestClient

from cosmos_workflow.api.stream import Cursor
from cosmos_workflow.defaults import STREAM_GAP_GRACE_SECONDS
from cosmos_workflow.services import events, prompts
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.events import EventView


def parse_frames(text: str) -> list[tuple[int, dict[str, object]]]:
    events = []
    for frame in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in frame.splitlines() if ": " in line)
        if "id" in fields:
            events.append((int(fields["id"]), json.loads(fields["data"])))
    return events


def test_catch_up_with_after_and_last_event_id(
    client: TestClient, ctx: Context, prompt_ids: list[str]
) -> None:
    everything = parse_frames(client.get("/api/events", params={"after": 0, "follow": False}).text)
    ids = [event_id for event_id, _ in everything]
    assert ids == sorted(ids) and len(ids) >= 4
    assert [d["kind"] for _, d in everything].count("prompt.created") == 3
    assert all(d["id"] == i for i, d in everything)
    resumed = client.get(
        "/api/events", params={"after": 0, "follow": False}, headers={"Last-Event-ID": str(ids[1])}
    )
    assert [i for i, _ in parse_frames(resumed.text)] == ids[2:]
    created = client.get(
        "/api/events", params={"after": 0, "follow": False, "kinds": "prompt.created"}
    ).text
    assert [d["data"] for _, d in parse_frames(created)] == [{"prompt_id": p} for p in prompt_ids]
    assert [d["kind"] for _, d in parse_frames(created)] == ["prompt.created"] * 3
    assert client.get("/api/events", params={"follow": False}).text.strip() == "retry: 2000"
    bad = client.get("/api/events", headers={"Last-Event-ID": "abc"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "Last-Event-ID"
    # Past a 64-bit id the database itself would fail (a 500): refused at the boundary.
    too_big = str(2**63)
    huge = client.get("/api/events", headers={"Last-Event-ID": too_big})
    assert huge.status_code == 422 and huge.json()["error"]["field"] == "Last-Event-ID"
    huge = client.get("/api/events", params={"after": too_big, "follow": False})
    assert huge.status_code == 422 and huge.json()["error"]["field"] == "after"


def test_live_events_arrive_and_resume(live_server: str, ctx: Context, input_id: str) -> None:
    seen: list[tuple[int, dict[str, object]]] = []
    with httpx.stream("GET", f"{live_server}/api/events", timeout=20) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        made = prompts.create_prompt(ctx, "scene", "made while listening")
        buffer = ""
        for chunk in response.iter_text():
            buffer += chunk
            seen = parse_frames(buffer)
            if any(d["kind"] == "prompt.created" for _, d in seen):
                break
    assert [d["kind"] for _, d in seen] == ["prompt.created"]
    first_id = seen[0][0]
    missed = prompts.create_prompt(ctx, "scene", "made while disconnected")
    with httpx.stream(
        "GET", f"{live_server}/api/events", timeout=20, headers={"Last-Event-ID": str(first_id)}
    ) as response:
        buffer = ""
        for chunk in response.iter_text():
            buffer += chunk
            if parse_frames(buffer):
                break
    resumed = parse_frames(buffer)
    assert resumed[0][0] == first_id + 1 and resumed[0][1]["kind"] == "prompt.created"
    assert made.id != missed.id


def _event_loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_a_stream_first_read_does_not_block_other_requests(
    live_server: str, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream opened without an id first reads the newest one. That read is held here until
    another request was answered: were it made on the event loop, the server could answer
    nothing, and the held read would only end by its own time-out."""
    entered, release = threading.Event(), threading.Event()
    probe: dict[str, bool] = {}
    real_latest = events.latest_event_id

    def held_latest(context: Context) -> int:
        probe["on_event_loop"] = _event_loop_running()
        entered.set()
        probe["released"] = release.wait(60)
        return real_latest(context)

    monkeypatch.setattr(events, "latest_event_id", held_latest)
    answer: dict[str, object] = {}

    def listen() -> None:
        url = f"{live_server}/api/events"
        with httpx.stream("GET", url, params={"follow": "false"}, timeout=120) as response:
            answer["status"], answer["text"] = response.status_code, response.read().decode()

    listener = threading.Thread(target=listen)
    listener.start()
    assert entered.wait(60), "the stream never read its start"
    health = httpx.get(f"{live_server}/api/health", timeout=120)
    release.set()
    listener.join(120)
    assert health.status_code == 200
    assert probe == {"on_event_loop": False, "released": True}
    assert answer == {"status": 200, "text": "retry: 2000\n\n"}


def _event(event_id: int) -> EventView:
    return EventView(id=event_id, created_at=0.0, kind="job.log", job_id=None, run_id=None, data={})


def test_out_of_order_ids_wait_for_the_gap_then_skip_it() -> None:
    cursor = Cursor(last_id=10)
    sent = cursor.advance([_event(11), _event(13)], clock=100.0, contiguous=True)
    assert [e.id for e in sent] == [11]
    assert [e.id for e in cursor.advance([_event(13)], clock=101.0, contiguous=True)] == []
    late = cursor.advance([_event(12), _event(13)], clock=102.0, contiguous=True)
    assert [e.id for e in late] == [12, 13] and cursor.last_id == 13
    assert [e.id for e in cursor.advance([_event(15)], clock=200.0, contiguous=True)] == []
    skipped = cursor.advance([_event(15)], clock=200.0 + STREAM_GAP_GRACE_SECONDS, contiguous=True)
    assert [e.id for e in skipped] == [15] and cursor.last_id == 15


def test_sqlite_needs_no_gap_wait() -> None:
    cursor = Cursor(last_id=0)
    assert [e.id for e in cursor.advance([_event(2), _event(5)], 0.0, contiguous=False)] == [2, 5]
