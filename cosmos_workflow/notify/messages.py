"""What a notification says, and the request body and headers each format sends (no I/O).

`json`: the product's own JSON object (event, status, title, message, ids, names, counts,
timestamps). `ntfy`: ntfy's publish format, the message as a plain text body with Title, Tags
and Priority headers. `slack`: an incoming webhook's `{"text": ...}` (Mattermost and Discord's
Slack-compatible URL take it too)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import Header
from typing import Any

MAX_ERROR_CHARS = 300
SOURCE = "cosmos-workflow"


@dataclass(frozen=True)
class Notification:
    """One thing to tell. `subject` (a run, job or sweep, or the drain's moment) with `event`
    names it in its claim key: two workers that see the same end build the same key."""

    event: str  # run_failed | job_finished | sweep_finished | queue_drained
    subject: str
    status: str  # succeeded | failed | cancelled | drained
    title: str
    message: str
    occurred_at: float
    event_id: int
    job_id: str | None = None
    run_id: str | None = None
    sweep_id: str | None = None
    sweep_name: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None


def one_line(text: str | None) -> str | None:
    """An error as one short line: its first line, cut at `MAX_ERROR_CHARS`."""
    if not text:
        return None
    line = (text.strip().splitlines() or [""])[0]
    return line if len(line) <= MAX_ERROR_CHARS else line[: MAX_ERROR_CHARS - 3] + "..."


def counted(counts: dict[str, int], noun: str = "run") -> str:
    """`32 runs: 30 succeeded, 2 failed` (statuses in a fixed order)."""
    total = sum(counts.values())
    order = ("succeeded", "failed", "cancelled", "running", "queued")
    parts = [f"{counts[s]} {s}" for s in order if counts.get(s)]
    parts += [f"{n} {s}" for s, n in sorted(counts.items()) if s not in order and n]
    plural = "" if total == 1 else "s"
    return f"{total} {noun}{plural}" + (f": {', '.join(parts)}" if parts else "")


def overall(counts: dict[str, int]) -> str:
    """A finished set of runs as one status: failed if any failed, else cancelled if any was,
    else succeeded."""
    if counts.get("failed"):
        return "failed"
    return "cancelled" if counts.get("cancelled") else "succeeded"


@dataclass(frozen=True)
class Outgoing:
    """One POST: its body and the headers the format needs (the target's own come on top)."""

    body: bytes
    headers: dict[str, str]


def render(note: Notification, fmt: str, sent_at: float) -> Outgoing:
    if fmt == "ntfy":
        return _ntfy(note)
    if fmt == "slack":
        return _slack(note)
    return _json(note, sent_at)


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _json(note: Notification, sent_at: float) -> Outgoing:
    body: dict[str, Any] = {
        "source": SOURCE,
        "event": note.event,
        "status": note.status,
        "title": note.title,
        "message": note.message,
        "job_id": note.job_id,
        "run_id": note.run_id,
        "sweep_id": note.sweep_id,
        "sweep_name": note.sweep_name,
        "counts": note.counts,
        "error": note.error,
        "event_id": note.event_id,
        "occurred_at": _iso(note.occurred_at),
        "sent_at": _iso(sent_at),
    }
    encoded = json.dumps(body, ensure_ascii=False).encode()
    return Outgoing(encoded, {"Content-Type": "application/json"})


# ntfy shows these tags as emoji (its short codes); a failure gets a higher priority, which
# phones may let through "do not disturb".
_NTFY_TAGS = {
    "succeeded": "white_check_mark",
    "failed": "x",
    "cancelled": "no_entry_sign",
    "drained": "checkered_flag",
}


def _ntfy(note: Notification) -> Outgoing:
    headers = {
        "Content-Type": "text/plain; charset=utf-8",
        "Title": _header_text(note.title),
        "Tags": f"{_NTFY_TAGS.get(note.status, 'bell')},{note.event}",
        "Priority": "high" if note.status == "failed" else "default",
    }
    return Outgoing(note.message.encode(), headers)


def _header_text(text: str) -> str:
    """A header value as ASCII: a name with other characters goes as an RFC 2047 encoded word,
    which ntfy decodes (HTTP headers themselves carry no character set)."""
    flat = " ".join(text.split())
    if flat.isascii():
        return flat
    return Header(flat, "utf-8").encode(maxlinelen=10_000)


def _slack(note: Notification) -> Outgoing:
    # Slack reads &, < and > as markup (links, mentions): escaped as its docs ask.
    text = f"*{_slack_escape(note.title)}*\n{_slack_escape(note.message)}"
    body = json.dumps({"text": text}, ensure_ascii=False).encode()
    return Outgoing(body, {"Content-Type": "application/json"})


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
