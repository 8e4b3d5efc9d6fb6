"""Prompts: text and negative text pointing at an input."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from cosmos_workflow.domain.errors import Conflict, InvalidInput, NotFound
from cosmos_workflow.domain.ids import new_id
from cosmos_workflow.domain.states import JobStatus, RunStatus
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.inputs import get_input_row
from cosmos_workflow.services.views import PromptView
from cosmos_workflow.store.models import JobRow, PromptRow, RunRow
from cosmos_workflow.store.queue import now, record_event

MAX_PROMPT_CHARS = 10_000


class PromptDeletion(BaseModel):
    prompt_id: str
    deleted: bool
    runs: int
    active_runs: int
    jobs: list[str]


def create_prompt(
    ctx: Context,
    input_name_or_id: str,
    text: str,
    *,
    name: str | None = None,
    negative: str | None = None,
    parent_prompt_id: str | None = None,
) -> PromptView:
    """`negative=None` renders the backend's own default negative prompt (NVIDIA's text)."""
    text = text.strip()
    if not text:
        raise InvalidInput("prompt text is empty; write what the video should show", field="text")
    negative = _negative(negative)
    if len(text) > MAX_PROMPT_CHARS or len(negative or "") > MAX_PROMPT_CHARS:
        raise InvalidInput(f"prompt text is limited to {MAX_PROMPT_CHARS} characters", field="text")
    if name is not None and not 1 <= len(name.strip()) <= 200:
        raise InvalidInput("a prompt name must be 1 to 200 characters", field="name")
    with ctx.db.write() as session:
        source = get_input_row(session, input_name_or_id)
        row = PromptRow(
            id=new_id("pr"),
            input_id=source.id,
            name=name.strip() if name else None,
            text=text,
            negative=negative or "",
            parent_prompt_id=parent_prompt_id,
            created_at=now(),
        )
        session.add(row)
        record_event(session, "prompt.created", prompt_id=row.id)
    return PromptView.of(row)


def _negative(negative: str | None) -> str | None:
    """An explicitly empty negative prompt is refused: NVIDIA's Transfer1 crashes on it, and
    Transfer2.5 crashes or silently reuses the previous sample's negative prompt."""
    if negative is None:
        return None
    if not negative.strip():
        raise InvalidInput(
            "the negative prompt is empty: NVIDIA's Transfer1 crashes on an empty one and "
            "Transfer2.5 reuses another sample's; leave it out to use the model's default",
            field="negative",
        )
    return negative.strip()


def get_prompt(ctx: Context, prompt_id: str) -> PromptView:
    with ctx.db.read() as session:
        row = session.get(PromptRow, prompt_id)
        if row is None:
            raise NotFound(f"no prompt with id {prompt_id!r}; see `cosmos prompt list`")
        return PromptView.of(row)


def list_prompts(
    ctx: Context, *, input_name_or_id: str | None = None, limit: int = 1000, offset: int = 0
) -> list[PromptView]:
    _check_page(limit, offset)
    with ctx.db.read() as session:
        query = select(PromptRow).order_by(PromptRow.created_at, PromptRow.id)
        if input_name_or_id:
            query = query.where(PromptRow.input_id == get_input_row(session, input_name_or_id).id)
        rows = session.scalars(query.limit(limit).offset(offset)).all()
        return [PromptView.of(row) for row in rows]


def search_prompts(ctx: Context, query: str, *, limit: int = 100) -> list[PromptView]:
    words = query.strip()
    if not words:
        raise InvalidInput("search needs some text", field="query")
    _check_page(limit, 0)
    pattern = f"%{words.lower()}%"
    with ctx.db.read() as session:
        rows = session.scalars(
            select(PromptRow)
            .where(
                or_(
                    func.lower(PromptRow.text).like(pattern),
                    func.lower(func.coalesce(PromptRow.name, "")).like(pattern),
                )
            )
            .order_by(PromptRow.created_at)
            .limit(limit)
        ).all()
        return [PromptView.of(row) for row in rows]


def delete_prompt(
    ctx: Context, prompt_id: str, *, force: bool = False, dry_run: bool = False
) -> PromptDeletion:
    """Delete a prompt and the history of its runs. Refuses while it has queued or running work
    unless `force`, which cancels that work first."""
    with ctx.db.write() as session:
        prompt = session.get(PromptRow, prompt_id)
        if prompt is None:
            raise NotFound(f"no prompt with id {prompt_id!r}; see `cosmos prompt list`")
        runs = session.scalars(select(RunRow).where(RunRow.prompt_id == prompt_id)).all()
        active = [r for r in runs if r.status in (RunStatus.QUEUED, RunStatus.RUNNING)]
        jobs = sorted({r.job_id for r in runs})
        preview = PromptDeletion(
            prompt_id=prompt_id, deleted=False, runs=len(runs), active_runs=len(active), jobs=jobs
        )
        if dry_run:
            return preview
        if active and not force:
            raise Conflict(
                f"prompt {prompt_id} has {len(active)} queued or running run(s) in job(s) "
                f"{', '.join(sorted({r.job_id for r in active}))}; cancel them or pass --force"
            )
        if any(r.status == RunStatus.RUNNING for r in active):
            raise Conflict(f"prompt {prompt_id} has a running run; cancel its job and wait")
        _delete_runs(session, runs)
        session.delete(prompt)
        record_event(session, "prompt.deleted", prompt_id=prompt_id)
    return preview.model_copy(update={"deleted": True})


def _delete_runs(session: Session, runs: Sequence[RunRow]) -> None:
    job_ids = {r.job_id for r in runs} | {r.origin_job_id for r in runs}
    for run in runs:
        session.delete(run)
    session.flush()
    for job_id in job_ids:
        remaining = session.scalar(
            select(func.count())
            .select_from(RunRow)
            .where(or_(RunRow.job_id == job_id, RunRow.origin_job_id == job_id))
        )
        job = session.get(JobRow, job_id)
        if job is None:
            continue
        if remaining == 0:
            session.execute(
                JobRow.__table__.update()
                .where(or_(JobRow.merged_into_job_id == job_id, JobRow.retry_of_job_id == job_id))
                .values(merged_into_job_id=None, retry_of_job_id=None)
            )
            session.delete(job)
        elif job.status == JobStatus.QUEUED:
            has_queued = session.scalar(
                select(func.count()).select_from(RunRow).where(RunRow.job_id == job_id)
            )
            if not has_queued:
                job.status = JobStatus.CANCELLED.value
                job.finished_at = now()


def _check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= 100_000:
        raise InvalidInput("limit must be between 1 and 100000", field="limit")
    if offset < 0:
        raise InvalidInput("offset must be 0 or more", field="offset")
