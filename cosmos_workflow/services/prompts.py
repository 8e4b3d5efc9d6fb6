"""Prompts: text and negative text pointing at an input."""

from __future__ import annotations

from pydantic import BaseModel

from cosmos_workflow import defaults
from cosmos_workflow.domain.errors import Conflict, InvalidInput
from cosmos_workflow.domain.states import RunStatus
from cosmos_workflow.domain.text import (
    MAX_NAME_CHARS,
    MAX_PROMPT_CHARS,
    MAX_SEARCH_CHARS,
    check_line,
    check_text,
)
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.views import PromptView
from cosmos_workflow.store import catalog


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
    text = check_text(text, "text", max_chars=MAX_PROMPT_CHARS).strip()
    if not text:
        raise InvalidInput("prompt text is empty; write what the video should show", field="text")
    negative = _negative(negative)
    if name is not None:
        check_line(name, "name", max_chars=MAX_NAME_CHARS)
        if not name.strip():
            raise InvalidInput("a prompt name must be 1 to 200 characters", field="name")
    check_line(input_name_or_id, "input")
    if parent_prompt_id is not None:
        check_line(parent_prompt_id, "parent_prompt_id")
    with ctx.db.write() as session:
        source = catalog.find_input(session, input_name_or_id)
        if parent_prompt_id is not None:
            catalog.find_prompt(session, parent_prompt_id)  # NotFound, not a foreign-key error
        new = catalog.NewPrompt(
            input_id=source.id,
            text=text,
            name=name.strip() if name else None,
            negative=negative or "",
            parent_prompt_id=parent_prompt_id,
        )
        row = catalog.add_prompt(session, new)
    return PromptView.of(row)


def _negative(negative: str | None) -> str | None:
    """An explicitly empty negative prompt is refused: NVIDIA's Transfer1 crashes on it, and
    Transfer2.5 crashes or silently reuses the previous sample's negative prompt."""
    if negative is None:
        return None
    check_text(negative, "negative", max_chars=MAX_PROMPT_CHARS)
    if not negative.strip():
        raise InvalidInput(
            "the negative prompt is empty: NVIDIA's Transfer1 crashes on an empty one and "
            "Transfer2.5 reuses another sample's; leave it out to use the model's default",
            field="negative",
        )
    return negative.strip()


def get_prompt(ctx: Context, prompt_id: str) -> PromptView:
    check_line(prompt_id, "prompt_id")
    with ctx.db.read() as session:
        return PromptView.of(catalog.find_prompt(session, prompt_id))


def list_prompts(
    ctx: Context, *, input_name_or_id: str | None = None, limit: int = 1000, offset: int = 0
) -> list[PromptView]:
    _check_page(limit, offset)
    if input_name_or_id:
        check_line(input_name_or_id, "input")
    with ctx.db.read() as session:
        input_id = catalog.find_input(session, input_name_or_id).id if input_name_or_id else None
        rows = catalog.list_prompts(session, input_id=input_id, limit=limit, offset=offset)
        return [PromptView.of(row) for row in rows]


def search_prompts(ctx: Context, query: str, *, limit: int = 100) -> list[PromptView]:
    words = check_line(query, "query", max_chars=MAX_SEARCH_CHARS).strip()
    if not words:
        raise InvalidInput("search needs some text", field="query")
    _check_page(limit, 0)
    with ctx.db.read() as session:
        return [PromptView.of(row) for row in catalog.search_prompts(session, words, limit=limit)]


def delete_prompt(
    ctx: Context, prompt_id: str, *, force: bool = False, dry_run: bool = False
) -> PromptDeletion:
    """Delete a prompt and the history of its runs. Refuses while it has queued or running work
    unless `force`, which cancels that work first."""
    check_line(prompt_id, "prompt_id")
    with ctx.db.write() as session:
        prompt = catalog.find_prompt(session, prompt_id)
        runs = catalog.runs_of_prompt(session, prompt_id)
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
        catalog.delete_prompt(session, prompt, runs)
    return preview.model_copy(update={"deleted": True})


def _check_page(limit: int, offset: int) -> None:
    if isinstance(limit, bool) or not 1 <= limit <= 100_000:
        raise InvalidInput("limit must be between 1 and 100000", field="limit")
    if not 0 <= offset <= defaults.MAX_LIST_OFFSET:
        raise InvalidInput(f"offset must be 0 to {defaults.MAX_LIST_OFFSET}", field="offset")
