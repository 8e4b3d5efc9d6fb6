"""Runs as users look at them: list with filters, show, rate, and a job's log."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import replace
from pathlib import Path

from pydantic import BaseModel

from cosmos_workflow import defaults
from cosmos_workflow.domain.controls import control_set_key, parse_control_set_key
from cosmos_workflow.domain.errors import InvalidInput, NotFound
from cosmos_workflow.domain.states import RunStatus
from cosmos_workflow.domain.text import check_line
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.queue import run_labels
from cosmos_workflow.services.sweeps import find as find_sweep
from cosmos_workflow.services.views import RunView
from cosmos_workflow.store.jobs import find_job
from cosmos_workflow.store.models import RunRow
from cosmos_workflow.store.runs import RunFilter, find_run, pick, rate, runs_page
from cosmos_workflow.store.session import Session

MAX_LOG_LINES = 100_000


class RunList(BaseModel):
    runs: list[RunView]
    total: int
    # False when more runs match than were counted: `total` is then a lower bound (the count
    # stops 10,000 past the page's offset, so a page costs the same at any history size).
    total_exact: bool = True


def list_runs(
    ctx: Context,
    *,
    status: str | None = None,
    job_id: str | None = None,
    prompt_id: str | None = None,
    controls: str | None = None,
    rating: int | None = None,
    since: float | None = None,
    sweep: str | None = None,
    picked: bool | None = None,
    limit: int = 100,
    offset: int = 0,
) -> RunList:
    """Runs, newest first. `controls` is a control-set key like `depth+edge` (exact set);
    `sweep` a sweep's id or name."""
    if not 1 <= limit <= 10_000 or not 0 <= offset <= defaults.MAX_LIST_OFFSET:
        raise InvalidInput(
            f"limit must be 1 to 10000 and offset 0 to {defaults.MAX_LIST_OFFSET}", field="limit"
        )
    for field, value in (("status", status), ("job_id", job_id), ("prompt_id", prompt_id)):
        if value is not None:
            check_line(value, field)
    if controls is not None:
        check_line(controls, "controls")
    if since is not None and not math.isfinite(since):
        raise InvalidInput("since must be a finite timestamp", field="since")
    if rating is not None:
        _check_rating(rating)
    wanted = RunFilter(
        status=_run_status(status) if status is not None else None,
        job_id=job_id or None,
        prompt_id=prompt_id or None,
        # Normalised as the stored key is, so `edge+depth` finds `depth+edge`.
        control_set=control_set_key(parse_control_set_key(controls)) if controls else None,
        rating=rating,
        since=since,
        picked=picked,
    )
    with ctx.db.read() as session:
        if sweep is not None:
            wanted = replace(wanted, sweep_id=find_sweep(session, sweep).id)
        rows, total, exact = runs_page(session, wanted, limit=limit, offset=offset)
        labels = run_labels(session, rows)
        return RunList(runs=[RunView.of(r, labels) for r in rows], total=total, total_exact=exact)


def _run_status(status: str) -> RunStatus:
    try:
        return RunStatus(status)
    except ValueError:
        known = ", ".join(s.value for s in RunStatus)
        raise InvalidInput(f"unknown status {status!r}; known: {known}", field="status") from None


def get_run(ctx: Context, run_id: str) -> RunView:
    with ctx.db.read() as session:
        row = _run(session, run_id)
        return RunView.of(row, run_labels(session, [row]))


def rate_run(ctx: Context, run_id: str, rating: int | None) -> RunView:
    """Rate a run 1 to 5; None clears its rating."""
    if rating is not None:
        _check_rating(rating)
    with ctx.db.write() as session:
        row = _run(session, run_id)
        rate(session, row, rating)
        return RunView.of(row, run_labels(session, [row]))


def pick_run(ctx: Context, run_id: str, picked: bool) -> RunView:
    """Mark a run as picked (or unpick it): the review grid's export takes the picked runs."""
    if not isinstance(picked, bool):
        raise InvalidInput(f"picked must be true or false, got {picked!r}", field="picked")
    with ctx.db.write() as session:
        row = _run(session, run_id)
        pick(session, row, picked)
        return RunView.of(row, run_labels(session, [row]))


def _run(session: Session, run_id: str) -> RunRow:
    check_line(run_id, "run_id")
    row = find_run(session, run_id)
    if row is None:
        raise NotFound(f"no run with id {run_id!r}; see `cosmos runs list`")
    return row


def _check_rating(rating: int) -> None:
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise InvalidInput(
            f"rating must be a whole number from 1 to 5, got {rating!r}", field="rating"
        )


def job_log_path(ctx: Context, job_id: str) -> Path:
    check_line(job_id, "job_id")
    with ctx.db.read() as session:
        if find_job(session, job_id) is None:
            raise NotFound(f"no job with id {job_id!r}; see `cosmos queue list --all`")
    return ctx.settings.logs_dir / f"{job_id}.log"


def job_log(ctx: Context, job_id: str, tail_lines: int | None = None) -> str:
    """The job's log (every attempt, appended), or its last `tail_lines` lines."""
    if tail_lines is not None and not 1 <= tail_lines <= MAX_LOG_LINES:
        raise InvalidInput(f"tail must be 1 to {MAX_LOG_LINES} lines", field="tail")
    path = job_log_path(ctx, job_id)
    if not path.is_file():
        return ""
    with path.open(encoding="utf-8", errors="replace") as handle:
        if tail_lines is None:
            return handle.read()
        return "".join(deque(handle, maxlen=tail_lines))
