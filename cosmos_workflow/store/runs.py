"""Run rows: the run state machine's one gate for job-level moves (`set_runs_status`), how a
held job's runs ended (`record_results`), and the run lists.

A run's own end is written only while it is running (`record_results`), and a job-level move
only touches runs the run state machine lets move (`set_runs_status`): a run that ended keeps its
end and its output whatever its job does next."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import ColumnElement, Table, Update, bindparam, func, select, update
from sqlalchemy.orm import Session

from cosmos_workflow.domain.controls import Control, control_set_key
from cosmos_workflow.domain.errors import Conflict
from cosmos_workflow.domain.ids import new_id
from cosmos_workflow.domain.states import (
    RETRIED_RUNS,
    FailureClass,
    RunStatus,
    runs_that_can_become,
)
from cosmos_workflow.store.db import now, rowcount
from cosmos_workflow.store.events import record_event
from cosmos_workflow.store.models import InputRow, PromptRow, RunRow

if TYPE_CHECKING:
    from cosmos_workflow.store.jobs import HeldJob

log = logging.getLogger(__name__)

# The table itself for bulk statements: Core UPDATEs, without the ORM's bulk-update handling.
_RUNS = cast(Table, RunRow.__table__)


def set_runs_status(
    session: Session,
    job_id: str,
    target: RunStatus,
    *,
    only: Iterable[RunStatus] = (),
    quiet: bool = False,
    **values: Any,
) -> int:
    """The one gate for job-level run changes: moves the job's runs that the run state machine
    lets become `target` (narrowed to `only` when given); a run that ended is never touched.
    Returns how many runs moved. `quiet`: no event (the job's own status event says it)."""
    move = RunsMove(target, tuple(only), values)
    moved = rowcount(session.execute(move.statement(_RUNS.c.job_id == job_id)))
    if moved and not quiet:
        record_event(session, "runs.status", job_id=job_id, status=target.value, runs=moved)
    return moved


@dataclass(frozen=True)
class RunsMove:
    """A job-level move of runs, as the run state machine allows it: the runs that may become
    `target` (narrowed to `only` when given) get `target` and `values`. A job status change
    can carry one, so both are written by one statement (`jobs.change_job_status`)."""

    target: RunStatus
    only: tuple[RunStatus, ...] = ()
    values: Mapping[str, Any] = field(default_factory=dict)

    def statement(self, which: ColumnElement[bool]) -> Update:
        """The UPDATE of the runs `which` selects (of one job, or of the jobs a CTE returns)."""
        allowed = runs_that_can_become(self.target)
        narrowed = set(self.only) & allowed if self.only else allowed
        return (
            update(_RUNS)
            .where(which, _RUNS.c.status.in_(sorted(s.value for s in narrowed)))
            .values(status=self.target.value, **self.values)
        )


@dataclass(frozen=True)
class RunResult:
    """How one run of a finished job ended."""

    status: RunStatus
    output_path: str | None = None
    thumbnail_path: str | None = None
    log_path: str | None = None
    error: str | None = None
    failure_class: FailureClass | None = None
    compute_seconds: float | None = None
    # An enhance run's prompt text: stored as a new prompt (child of the run's prompt) in the
    # same lease-guarded transaction, so a lost lease never leaves a stray prompt behind.
    enhanced_prompt: str | None = None


def record_results(held: HeldJob, runs: dict[str, RunResult]) -> None:
    """Record how some of a held job's runs ended. Only runs this attempt is running are
    written: a run that already ended (before a crash, say) keeps its end and its output.

    One SELECT finds which are running (the job's row is locked, so none changes meanwhile)
    and one executemany UPDATE writes them all."""
    if not runs:
        return
    session, job_id = held.session, held.job.id
    running = set(
        session.scalars(
            select(RunRow.id).where(
                RunRow.id.in_(list(runs)),
                RunRow.job_id == job_id,
                RunRow.status == RunStatus.RUNNING.value,
            )
        ).all()
    )
    for run_id in runs.keys() - running:
        log.warning("run=%s of job=%s is not running; its result is ignored", run_id, job_id)
    written = [(run_id, result) for run_id, result in runs.items() if run_id in running]
    if not written:
        return
    stamp = now()
    table = _RUNS  # Core: one executemany, no ORM bulk semantics
    session.execute(
        update(table)
        .where(table.c.id == bindparam("run_id"))
        .values(
            status=bindparam("new_status"),
            output_path=bindparam("new_output_path"),
            thumbnail_path=bindparam("new_thumbnail_path"),
            log_path=bindparam("new_log_path"),
            error=bindparam("new_error"),
            failure_class=bindparam("new_failure_class"),
            compute_seconds=bindparam("new_compute_seconds"),
            finished_at=stamp,
        ),
        [
            {
                "run_id": run_id,
                "new_status": result.status.value,
                "new_output_path": result.output_path,
                "new_thumbnail_path": result.thumbnail_path,
                "new_log_path": result.log_path,
                "new_error": result.error,
                "new_failure_class": result.failure_class.value if result.failure_class else None,
                "new_compute_seconds": result.compute_seconds,
            }
            for run_id, result in written
        ],
    )
    for run_id, result in written:
        if result.enhanced_prompt is not None:
            _add_enhanced_prompt(session, run_id, result.enhanced_prompt)
        record_event(
            session,
            "run.status",
            job_id=job_id,
            run_id=run_id,
            status=result.status.value,
            error=result.error,
        )


def _add_enhanced_prompt(session: Session, run_id: str, text: str) -> str:
    run = session.get(RunRow, run_id)
    parent = session.get(PromptRow, run.prompt_id) if run else None
    if run is None or parent is None:
        raise Conflict(f"run {run_id} has no prompt to enhance")
    prompt = PromptRow(
        id=new_id("pr"),
        input_id=parent.input_id,
        name=f"{parent.name or parent.id} (enhanced)",
        text=text,
        negative=parent.negative,
        parent_prompt_id=parent.id,
        created_at=now(),
    )
    session.add(prompt)
    session.flush()
    run.result_prompt_id = prompt.id
    record_event(session, "prompt.created", prompt_id=prompt.id, parent=parent.id)
    return prompt.id


# -- lists ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunFilter:
    """What a run list keeps (None: any). `control_set` is a normalised control-set key."""

    status: RunStatus | None = None
    job_id: str | None = None
    prompt_id: str | None = None
    control_set: str | None = None
    rating: int | None = None
    since: float | None = None
    sweep_id: str | None = None
    picked: bool | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.status is not None:
            found.append(RunRow.status == self.status.value)
        for column, value in (
            (RunRow.job_id, self.job_id),
            (RunRow.prompt_id, self.prompt_id),
            (RunRow.control_set, self.control_set),
            (RunRow.sweep_id, self.sweep_id),
        ):
            if value is not None:
                found.append(column == value)
        if self.rating is not None:
            found.append(RunRow.rating == self.rating)
        if self.since is not None:
            found.append(RunRow.created_at >= self.since)
        if self.picked is not None:
            found.append(RunRow.picked.is_(self.picked))
        return found


# A run list counts matches only this far past the page's offset: an exact COUNT over a million
# runs costs as much as the history is long, and "more than 10,000" says all a user needs.
COUNT_CAP = 10_000


def runs_page(
    session: Session, wanted: RunFilter, *, limit: int, offset: int
) -> tuple[list[RunRow], int, bool]:
    """Runs newest first, one page of them (LIMIT/OFFSET over an index in that order), and how
    many match, exactly (True) or at least (False) when more than `offset + COUNT_CAP` do: two
    statements, each bounded whatever the history holds."""
    conditions = wanted.conditions()
    bound = offset + COUNT_CAP
    matching = select(RunRow.id).where(*conditions).limit(bound + 1).subquery()
    counted = int(session.scalar(select(func.count()).select_from(matching)) or 0)
    rows = session.scalars(
        select(RunRow)
        .where(*conditions)
        .order_by(RunRow.created_at.desc(), RunRow.id)
        .offset(offset)
        .limit(limit)
    ).all()
    return list(rows), min(counted, bound), counted <= bound


def runs_of_jobs(session: Session, job_ids: Sequence[str]) -> dict[str, list[RunRow]]:
    """The runs of these jobs, by job, in batch order (one statement per 500 jobs)."""
    grouped: dict[str, list[RunRow]] = {job_id: [] for job_id in job_ids}
    ids = list(job_ids)
    for start in range(0, len(ids), _CHUNK):
        rows = session.scalars(
            select(RunRow)
            .where(RunRow.job_id.in_(ids[start : start + _CHUNK]))
            .order_by(RunRow.job_id, RunRow.batch_index)
        ).all()
        for run in rows:
            grouped[run.job_id].append(run)
    return grouped


_CHUNK = 500  # ids per IN list: well below every database's bound-parameter limit


def find_run(session: Session, run_id: str) -> RunRow | None:
    return session.get(RunRow, run_id)


def runs_of_job(session: Session, job_id: str, *, created_in: bool = False) -> list[RunRow]:
    """A job's runs in batch order; `created_in`: the runs it was created with instead (a
    merged job's runs are in its batch job now)."""
    column = RunRow.origin_job_id if created_in else RunRow.job_id
    order = (RunRow.origin_index, RunRow.batch_index) if created_in else (RunRow.batch_index,)
    return list(session.scalars(select(RunRow).where(column == job_id).order_by(*order)).all())


def runs_to_retry(session: Session, job_id: str) -> list[RunRow]:
    """An ended job's runs that did not succeed, in batch order (what a retry copies)."""
    return list(
        session.scalars(
            select(RunRow)
            .where(
                RunRow.job_id == job_id,
                RunRow.status.in_(sorted(s.value for s in RETRIED_RUNS)),
            )
            .order_by(RunRow.batch_index)
        ).all()
    )


def run_counts(session: Session) -> dict[str, int]:
    """How many runs are in each status."""
    rows = session.execute(select(RunRow.status, func.count()).group_by(RunRow.status)).all()
    return {status: int(count) for status, count in rows}


def rate(session: Session, run: RunRow, rating: int | None) -> None:
    """Set (or clear, with None) a run's 1-5 rating."""
    run.rating = rating
    record_event(session, "run.rated", job_id=run.job_id, run_id=run.id, rating=rating)


def pick(session: Session, run: RunRow, picked: bool) -> None:
    """Mark a run as picked (or not) in a review."""
    run.picked = picked
    record_event(session, "run.picked", job_id=run.job_id, run_id=run.id, picked=picked)


def prompt_texts(session: Session, prompt_ids: Iterable[str]) -> dict[str, str]:
    """Prompt texts by id (one statement per 500 prompts), for lists that show each run's."""
    ids = sorted(set(prompt_ids))
    found: dict[str, str] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = session.execute(
            select(PromptRow.id, PromptRow.text).where(
                PromptRow.id.in_(ids[start : start + _CHUNK])
            )
        ).all()
        found.update((prompt_id, text) for prompt_id, text in rows)
    return found


@dataclass(frozen=True)
class RunSource:
    """What a run renders from: its prompt and the input video the prompt belongs to."""

    prompt: PromptRow
    input: InputRow


def run_sources(session: Session, prompt_ids: Iterable[str]) -> dict[str, RunSource]:
    """These prompts with their inputs, by prompt id (one statement per 500 prompts); a prompt
    that does not exist is missing from the result."""
    ids = sorted(set(prompt_ids))
    found: dict[str, RunSource] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = session.execute(
            select(PromptRow, InputRow)
            .join(InputRow, PromptRow.input_id == InputRow.id)
            .where(PromptRow.id.in_(ids[start : start + _CHUNK]))
        ).all()
        for prompt, source in rows:
            found[prompt.id] = RunSource(prompt=prompt, input=source)
    return found


def runs_by_id(session: Session, run_ids: Iterable[str]) -> dict[str, RunRow]:
    ids = sorted(set(run_ids))
    found: dict[str, RunRow] = {}
    for start in range(0, len(ids), _CHUNK):
        for run in session.scalars(
            select(RunRow).where(RunRow.id.in_(ids[start : start + _CHUNK]))
        ):
            found[run.id] = run
    return found


def runs_in_states(session: Session, job_id: str, statuses: Iterable[RunStatus]) -> list[RunRow]:
    """A job's runs in these states, in batch order."""
    return list(
        session.scalars(
            select(RunRow)
            .where(RunRow.job_id == job_id, RunRow.status.in_(sorted(s.value for s in statuses)))
            .order_by(RunRow.batch_index)
        ).all()
    )


def new_run_row(
    *,
    job_id: str,
    prompt_id: str,
    kind: str,
    weights: dict[str, float],
    params: dict[str, Any],
    index: int,
    created_at: float,
    predicted_seconds: float | None,
    parent_run_id: str | None = None,
    sweep_id: str | None = None,
) -> dict[str, Any]:
    """The one builder of a new run row: queued in `job_id` (the job it is created in) at
    `index`, with its control-set key beside its weights."""
    return {
        "id": new_id("run"),
        "job_id": job_id,
        "origin_job_id": job_id,
        "prompt_id": prompt_id,
        "kind": kind,
        "weights": weights,
        "control_set": control_set_key(Control(name) for name in weights),
        "params": params,
        "status": RunStatus.QUEUED.value,
        "batch_index": index,
        "origin_index": index,
        "attempts": 0,
        "created_at": created_at,
        "parent_run_id": parent_run_id,
        "predicted_seconds": predicted_seconds,
        "sweep_id": sweep_id,
    }
