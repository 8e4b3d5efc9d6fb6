"""The catalog: registered inputs (an RGB video and its control videos) and the prompts that
point at them. Deleting a prompt deletes its runs' history, and the jobs left with nothing;
removing an input deletes its prompts the same way."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from cosmos_workflow.domain.errors import NotFound
from cosmos_workflow.domain.ids import new_id
from cosmos_workflow.domain.states import JobStatus
from cosmos_workflow.domain.text import like_pattern
from cosmos_workflow.store.db import now
from cosmos_workflow.store.events import record_event
from cosmos_workflow.store.jobs import set_job_status
from cosmos_workflow.store.models import InputRow, JobRow, PromptRow, RunRow

# -- inputs ------------------------------------------------------------------------------------


def input_name_taken(session: Session, name: str) -> bool:
    return session.scalar(select(InputRow.id).where(InputRow.name == name)) is not None


@dataclass(frozen=True)
class NewInput:
    id: str  # chosen before the row exists: the thumbnail is named after it
    name: str
    folder: str
    video_path: str
    frames: int
    fps: float
    width: int
    height: int
    controls: dict[str, str]  # control -> video path
    thumbnail_path: str | None


def add_input(session: Session, new: NewInput) -> InputRow:
    row = InputRow(**dataclasses.asdict(new), created_at=now())
    session.add(row)
    record_event(session, "input.added", input_id=row.id, name=row.name)
    return row


def find_input(session: Session, name_or_id: str, *, for_update: bool = False) -> InputRow:
    """An input by id or by name; NotFound names the command that lists them. `for_update` locks
    its row (PostgreSQL; SQLite's writers are serialised anyway): no prompt can be created for it
    until this transaction ends."""
    query = select(InputRow).where(or_(InputRow.id == name_or_id, InputRow.name == name_or_id))
    row = session.scalar(query.with_for_update() if for_update else query)
    if row is None:
        raise NotFound(f"no input named or with id {name_or_id!r}; see `cosmos input list`")
    return row


def input_claiming(session: Session, name: str, other_than: str) -> InputRow | None:
    """Another input that `name` would be ambiguous with: one named so, or with that id
    (`find_input` takes either)."""
    return session.scalar(
        select(InputRow)
        .where(or_(InputRow.name == name, InputRow.id == name), InputRow.id != other_than)
        .limit(1)
    )


def rename_input(session: Session, row: InputRow, name: str) -> InputRow:
    previous, row.name = row.name, name
    session.flush()  # the one UPDATE, before the event that reports it
    record_event(session, "input.renamed", input_id=row.id, name=name, previous=previous)
    return row


def prompts_of_input(
    session: Session, input_id: str, *, for_update: bool = False
) -> Sequence[PromptRow]:
    """`for_update` locks them: no run can be queued for them until this transaction ends."""
    query = select(PromptRow).where(PromptRow.input_id == input_id)
    query = query.order_by(PromptRow.created_at, PromptRow.id)
    return session.scalars(query.with_for_update() if for_update else query).all()


def runs_of_input(session: Session, input_id: str) -> Sequence[RunRow]:
    """Every run of every prompt of the input."""
    return session.scalars(
        select(RunRow)
        .join(PromptRow, PromptRow.id == RunRow.prompt_id)
        .where(PromptRow.input_id == input_id)
        .order_by(RunRow.created_at, RunRow.id)
    ).all()


def remove_input(session: Session, row: InputRow, runs: Sequence[RunRow]) -> None:
    """Delete an input, all its prompts and `runs`, all their runs (none may be queued or
    running), then tidy the jobs those runs leave as `delete_prompt` does. The deletes name the
    input, not lists of ids, so any number of prompts and runs takes three statements; the
    caller holds the input and its prompts locked (`for_update`), so `runs` are all of them."""
    prompt_ids = select(PromptRow.id).where(PromptRow.input_id == row.id).scalar_subquery()
    session.execute(
        delete(RunRow).where(RunRow.prompt_id.in_(prompt_ids)), execution_options=_UNSYNCED
    )
    session.execute(
        delete(PromptRow).where(PromptRow.input_id == row.id), execution_options=_UNSYNCED
    )
    session.delete(row)
    _tidy_jobs(session, runs)
    record_event(session, "input.removed", input_id=row.id, name=row.name, runs=len(runs))


# Bulk deletes of rows this session has no further use for: nothing to update in memory.
_UNSYNCED = {"synchronize_session": False}


def get_input(session: Session, input_id: str) -> InputRow | None:
    return session.get(InputRow, input_id)


def list_inputs(session: Session) -> Sequence[InputRow]:
    return session.scalars(select(InputRow).order_by(InputRow.created_at)).all()


# -- prompts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewPrompt:
    input_id: str
    text: str
    name: str | None = None
    negative: str = ""  # "": the backend's own default negative prompt (see PromptRow)
    parent_prompt_id: str | None = None


def add_prompt(session: Session, prompt: NewPrompt) -> PromptRow:
    row = PromptRow(
        id=new_id("pr"),
        input_id=prompt.input_id,
        name=prompt.name,
        text=prompt.text,
        negative=prompt.negative,
        parent_prompt_id=prompt.parent_prompt_id,
        created_at=now(),
    )
    session.add(row)
    record_event(session, "prompt.created", prompt_id=row.id)
    return row


def find_prompt(session: Session, prompt_id: str) -> PromptRow:
    row = session.get(PromptRow, prompt_id)
    if row is None:
        raise NotFound(f"no prompt with id {prompt_id!r}; see `cosmos prompt list`")
    return row


def list_prompts(
    session: Session, *, input_id: str | None, limit: int, offset: int
) -> Sequence[PromptRow]:
    query = select(PromptRow).order_by(PromptRow.created_at, PromptRow.id)
    if input_id:
        query = query.where(PromptRow.input_id == input_id)
    return session.scalars(query.limit(limit).offset(offset)).all()


def search_prompts(session: Session, words: str, *, limit: int) -> Sequence[PromptRow]:
    """Prompts whose text or name holds `words`, case-insensitively (a bound LIKE parameter;
    `%` and `_` in `words` match themselves, not any text)."""
    pattern = like_pattern(words.lower())
    return session.scalars(
        select(PromptRow)
        .where(
            or_(
                func.lower(PromptRow.text).like(pattern, escape="\\"),
                func.lower(func.coalesce(PromptRow.name, "")).like(pattern, escape="\\"),
            )
        )
        .order_by(PromptRow.created_at)
        .limit(limit)
    ).all()


def runs_of_prompt(session: Session, prompt_id: str) -> Sequence[RunRow]:
    return session.scalars(select(RunRow).where(RunRow.prompt_id == prompt_id)).all()


def delete_prompt(session: Session, prompt: PromptRow, runs: Sequence[RunRow]) -> None:
    """Delete a prompt and these runs of it (none may be running). A job left with no run at
    all is deleted; a queued job left with no run of its own (its others were batched away) is
    cancelled through the job state machine."""
    _delete_runs(session, runs)
    session.delete(prompt)  # its enhanced children keep their text; the schema unlinks them
    _tidy_jobs(session, runs)
    record_event(session, "prompt.deleted", prompt_id=prompt.id)


def _delete_runs(session: Session, runs: Sequence[RunRow]) -> None:
    if runs:
        session.execute(delete(RunRow).where(RunRow.id.in_([r.id for r in runs])))


def _tidy_jobs(session: Session, runs: Sequence[RunRow]) -> None:
    """After deleting `runs`: each job they were in or came from, left with nothing, goes."""
    session.flush()
    for job_id in sorted({r.job_id for r in runs} | {r.origin_job_id for r in runs}):
        _tidy_job(session, job_id)


def _tidy_job(session: Session, job_id: str) -> None:
    job = session.get(JobRow, job_id)
    if job is None:
        return
    own, referencing = session.execute(
        select(
            func.count().filter(RunRow.job_id == job_id),
            func.count(),
        ).where(or_(RunRow.job_id == job_id, RunRow.origin_job_id == job_id))
    ).one()
    if referencing == 0:
        session.execute(
            update(JobRow)
            .where(or_(JobRow.merged_into_job_id == job_id, JobRow.retry_of_job_id == job_id))
            .values(merged_into_job_id=None, retry_of_job_id=None)
        )
        session.delete(job)
    elif own == 0 and job.status == JobStatus.QUEUED.value:
        set_job_status(
            session,
            job,
            JobStatus.CANCELLED,
            reason="its runs' prompt was deleted",
            finished_at=now(),
        )
