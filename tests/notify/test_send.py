"""A target's sender against a real local HTTP server: each format's body and headers as the
receiving service reads them, retries with backoff, Retry-After, giving up, and secrets kept out
of the logs."""

from __future__ import annotations

import json
import logging
import socket
import time
from email.header import decode_header, make_header

import pytest

from cosmos_workflow.config import NotifyConfig
from cosmos_workflow.notify.messages import Notification
from cosmos_workflow.notify.send import Sender, retry_after
from tests.notify.receiver import Receiver, receiving

TOKEN = "s3cr3t-T0KEN-abc"


def _note(**changes: object) -> Notification:
    values: dict[str, object] = {
        "event": "sweep_finished",
        "subject": "sw_1/4",
        "status": "failed",
        "title": "Sweep look finished",
        "message": "Sweep look finished (failed): 4 runs: 3 succeeded, 1 failed.",
        "occurred_at": 1_800_000_000.0,
        "event_id": 42,
        "sweep_id": "sw_1",
        "sweep_name": "look",
        "counts": {"succeeded": 3, "failed": 1},
    }
    return Notification(**{**values, **changes})  # type: ignore[arg-type]


def _sender(receiver: Receiver, fmt: str = "json", **options: object) -> Sender:
    target = NotifyConfig(
        url=f"{receiver.url}/hooks/{TOKEN}",
        format=fmt,  # type: ignore[arg-type]
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout_seconds=options.pop("timeout_seconds", 5),  # type: ignore[arg-type]
    )
    return Sender(target, **{"first_backoff_s": 0.01, **options})  # type: ignore[arg-type]


def test_json_posts_the_event_with_ids_names_counts_and_times() -> None:
    with receiving() as receiver:
        assert _sender(receiver).deliver(_note()) is True
        (got,) = receiver.received
    assert got.path == f"/hooks/{TOKEN}"
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["Authorization"] == f"Bearer {TOKEN}"
    body = json.loads(got.body)
    assert body["event"] == "sweep_finished" and body["status"] == "failed"
    assert body["sweep_id"] == "sw_1" and body["sweep_name"] == "look"
    assert body["counts"] == {"succeeded": 3, "failed": 1}
    assert body["message"].startswith("Sweep look finished") and body["title"]
    assert body["occurred_at"] == "2027-01-15T08:00:00Z" and body["sent_at"].endswith("Z")
    assert body["event_id"] == 42 and body["job_id"] is None


def test_ntfy_gets_a_plain_text_body_with_title_tags_and_priority() -> None:
    with receiving() as receiver:
        sender = _sender(receiver, "ntfy")
        assert sender.deliver(_note(title="Sweep résumé ✓ finished")) is True
        assert sender.deliver(_note(status="succeeded", counts={"succeeded": 4})) is True
        failed, succeeded = receiver.received
    assert failed.body.decode() == _note().message
    assert failed.headers["Content-Type"].startswith("text/plain")
    # The non-ASCII title travels as an RFC 2047 word, which ntfy decodes.
    assert str(make_header(decode_header(failed.headers["Title"]))) == "Sweep résumé ✓ finished"
    assert failed.headers["Priority"] == "high"
    assert failed.headers["Tags"] == "x,sweep_finished"
    assert succeeded.headers["Title"] == "Sweep look finished"
    assert succeeded.headers["Priority"] == "default"
    assert succeeded.headers["Tags"] == "white_check_mark,sweep_finished"


def test_slack_gets_text_with_its_markup_characters_escaped() -> None:
    with receiving() as receiver:
        note = _note(title="Sweep <a&b> finished", message="1 run: 1 failed <!channel>")
        assert _sender(receiver, "slack").deliver(note) is True
        (got,) = receiver.received
    assert got.headers["Content-Type"] == "application/json"
    assert json.loads(got.body) == {
        "text": "*Sweep &lt;a&amp;b&gt; finished*\n1 run: 1 failed &lt;!channel&gt;"
    }


def test_server_errors_are_retried_with_growing_backoff_until_one_passes() -> None:
    with receiving() as receiver:
        receiver.answer(500, 503)
        assert _sender(receiver, first_backoff_s=0.2).deliver(_note()) is True
        first, second, third = receiver.received
    # Backoff with jitter: 0.2 s then 0.4 s, each at least half of it.
    assert second.at - first.at >= 0.1
    assert third.at - second.at >= 0.2
    assert first.body == third.body


def test_429_waits_as_long_as_retry_after_asks() -> None:
    with receiving() as receiver:
        receiver.answer(429, headers={"Retry-After": "1"})
        assert _sender(receiver).deliver(_note()) is True
        first, second = receiver.received
    assert second.at - first.at >= 0.95


def test_retry_after_takes_seconds_or_an_http_date() -> None:
    assert retry_after({"retry-after": "7"}) == 7.0
    soon = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 <= (retry_after({"retry-after": soon}) or 0) <= 31
    assert retry_after({"retry-after": "whenever"}) is None and retry_after({}) is None


def test_it_gives_up_after_the_attempt_limit_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cosmos_workflow.notify")
    with receiving() as receiver:
        receiver.default = 502
        assert _sender(receiver, attempts=3).deliver(_note()) is False
        assert len(receiver.received) == 3
    assert f"notify {receiver.url}: gave up on sweep_finished sw_1/4 after 3 attempt(s)" in (
        caplog.text
    )


def test_a_refusal_is_not_retried() -> None:
    with receiving() as receiver:
        receiver.answer(403)
        assert _sender(receiver).deliver(_note()) is False
        assert len(receiver.received) == 1


def test_connection_errors_and_timeouts_are_retried() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    target = NotifyConfig(url=f"http://127.0.0.1:{port}/x", timeout_seconds=1)
    started = time.monotonic()
    assert Sender(target, attempts=3, first_backoff_s=0.01).deliver(_note()) is False
    assert time.monotonic() - started < 5
    with receiving() as receiver:
        receiver.answer(0)  # hangs past the timeout, then the retry passes
        assert _sender(receiver, timeout_seconds=0.3).deliver(_note()) is True
        assert len(receiver.received) == 2


def test_submit_never_waits_and_a_full_queue_drops_the_oldest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with receiving() as receiver:
        receiver.default = 0  # every request hangs
        sender = _sender(receiver, capacity=2).start()
        sender.submit(_note(subject="first"))
        receiver.wait_for(1)  # in flight, hanging
        started = time.monotonic()
        for name in ("a", "b", "c"):
            sender.submit(_note(subject=name))
        assert time.monotonic() - started < 0.1
        assert "queue full (2); dropped the oldest: sweep_finished a" in caplog.text
        receiver.release.set()
        received = receiver.wait_for(3)
        sender.close(5)
    assert [json.loads(r.body)["event_id"] for r in received] == [42, 42, 42]
    assert len(received) == 3  # first, b, c


def test_the_url_and_headers_never_reach_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with receiving() as receiver:
        receiver.answer(500)
        sender = _sender(receiver).start()
        sender.submit(_note())
        receiver.wait_for(2)
        sender.close(5)
        assert TOKEN not in repr(sender.target) and TOKEN not in str(sender.target)
    assert "sent sweep_finished" in caplog.text
    assert TOKEN not in caplog.text and "/hooks/" not in caplog.text
