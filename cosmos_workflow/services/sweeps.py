"""Sweeps as users drive them: preview, queue, list, show and cancel a named grid of runs.

A sweep queues one job per combination of weights and seed, holding every prompt of the sweep
(a job is one weight set over some prompts), and names itself on each run. Batching may then
regroup the runs like any others; they keep their sweep."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from cosmos_workflow import defaults
from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.errors import InvalidInput, NotFound
from cosmos_workflow.domain.params import Backend
from cosmos_workflow.domain.states import JobStatus, RunStatus
from cosmos_workflow.domain.sweeps import (
    AXIS_DECIMALS,
    Combination,
    SweepGrid,
    WeightAxis,
    axis_of,
    check_axes,
    parse_axis,
    parse_seeds,
)
from cosmos_workflow.domain.text import MAX_NAME_CHARS, check_line
from cosmos_workflow.services import queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.estimates import planning_target
from cosmos_workflow.services.eta import MAX_ETA_JOBS, queue_etas
from cosmos_workflow.services.input_checks import check_inputs
from cosmos_workflow.store import jobs as job_store
from cosmos_workflow.store import sweeps as store
from cosmos_workflow.store.models import SweepRow
from cosmos_workflow.store.runs import runs_of_jobs
from cosmos_workflow.store.session import Session

log = logging.getLogger(__name__)

MAX_SWEEP_RUNS = queue.MAX_JOBS_PER_SUBMISSION  # even with --yes: one transaction's worth
ACTIVE_RUNS = (RunStatus.QUEUED.value, RunStatus.RUNNING.value)


@dataclass(frozen=True)
class SweepRequest:
    """A validated sweep: every combination already passed the checks a job gets."""

    name: str | None
    prompt_ids: tuple[str, ...]
    grid: SweepGrid
    params: dict[str, Any]
    priority: int
    jobs: tuple[queue.JobRequest, ...]
    skipped: int
    # Cosmos 3: combinations that render the same video as an earlier one with the same seed
    # (NVIDIA normalises the control weights to sum 1).
    duplicates: int = 0

    @property
    def runs(self) -> int:
        return sum(job.run_count for job in self.jobs)  # Cosmos 3: num_outputs runs per prompt

    def new_sweep(self) -> queue.NewSweep:
        """The sweep with its id, its jobs naming it: ready to insert."""
        sweep_id = store.new_sweep_id()
        jobs = tuple(queue.with_sweep(job, sweep_id) for job in self.jobs)
        return queue.NewSweep(sweep_id, self.name, self.spec(), self.runs, jobs)

    def spec(self) -> dict[str, Any]:
        """What is stored with the sweep: enough to show it and lay its runs out as a grid."""
        return {
            "prompt_ids": list(self.prompt_ids),
            "axes": {a.control.value: list(a.values) for a in self.grid.axes},
            "seeds": list(self.grid.seeds),
            "params": self.params,
            "priority": self.priority,
        }


def build_sweep(
    prompt_ids: Sequence[str],
    axes: Sequence[WeightAxis],
    *,
    seeds: Sequence[object] | str | None = None,
    params: Mapping[str, Any] | None = None,
    name: str | None = None,
    priority: int = 0,
) -> SweepRequest:
    """Validate a sweep as a whole and as each job it would queue (nothing touches the
    database: prompts are checked to exist when it is queued)."""
    grid = SweepGrid(check_axes(axes), parse_seeds(seeds))
    base = dict(params or {})
    if grid.seeds and "seed" in base:
        raise InvalidInput(
            "give the seed either as a parameter or as the sweep's seeds, not both", field="seeds"
        )
    if name is not None:
        name = check_line(name, "name", max_chars=MAX_NAME_CHARS).strip()
        if not name:
            raise InvalidInput("a sweep name cannot be blank", field="name")
    cells, skipped = grid.combinations()
    if not cells:
        raise InvalidInput(
            "every combination has all weights at 0: nothing to run", field="weights"
        )
    runs = len(prompt_ids) * len(cells)
    if runs > MAX_SWEEP_RUNS:
        raise InvalidInput(f"the sweep has {runs} runs; at most {MAX_SWEEP_RUNS}", field="weights")
    jobs = tuple(
        queue.build_request(
            prompt_ids,
            {c.value: w for c, w in cell.weights.items()},
            {**base, **({} if cell.seed is None else {"seed": cell.seed})},
            priority=priority,
        )
        for cell in cells
    )
    checked = jobs[0].params
    duplicates = check_cosmos3_grid(grid, cells) if checked["backend"] == Backend.COSMOS3 else 0
    shared = {k: v for k, v in checked.items() if k != "seed" or not grid.seeds}
    if jobs[0].outputs > 1:
        shared["num_outputs"] = jobs[0].outputs
    return SweepRequest(name, jobs[0].prompt_ids, grid, shared, priority, jobs, skipped, duplicates)


def check_cosmos3_grid(grid: SweepGrid, cells: Sequence[Combination]) -> int:
    """How many combinations render the same video as an earlier one with the same seed.

    Cosmos 3 normalises the control weights to sum 1 (transfer.py L181-189): only their
    proportions count, so with one control its weight changes nothing, and depth=0.2,seg=0.2
    renders what depth=0.4,seg=0.4 renders. A sweep in which every combination of a seed renders
    the same video is refused: it would queue copies of one video as if they compared something."""
    seen: dict[int | None, set[tuple[tuple[str, float], ...]]] = {}
    duplicates = 0
    for cell in cells:
        shapes = seen.setdefault(cell.seed, set())
        shape = _proportions(cell.weights)
        if shape in shapes:
            duplicates += 1
        shapes.add(shape)
    if duplicates and all(len(shapes) == 1 for shapes in seen.values()):
        axes = " x ".join(axis.describe() for axis in grid.axes)
        raise InvalidInput(
            f"with Cosmos 3 the sweep {axes} renders one video per seed: NVIDIA normalises the "
            "control weights to sum 1, so a single control's weight changes nothing (and "
            "proportional weights render alike); sweep the weights of two or more controls, or "
            "sweep seeds with one weight",
            field="weights",
        )
    return duplicates


def _proportions(weights: Mapping[Control, float]) -> tuple[tuple[str, float], ...]:
    total = sum(weights.values())
    return tuple(sorted((c.value, round(w / total, AXIS_DECIMALS)) for c, w in weights.items()))


def axes_from_mapping(raw: Mapping[str, object]) -> list[WeightAxis]:
    """Axes as the API and import give them: `{"depth": [0.2, 0.4]}` or
    `{"depth": "0.2:0.8:0.2"}`."""
    if not isinstance(raw, Mapping) or not raw:
        raise InvalidInput('weights must be an object like {"depth": [0.2, 0.4]}', field="weights")
    axes: list[WeightAxis] = []
    for control, values in raw.items():
        if isinstance(values, str | int | float) and not isinstance(values, bool):
            axes.append(parse_axis(f"{control}={values}"))
        elif isinstance(values, list):
            axes.append(axis_of(str(control), values))
        else:
            raise InvalidInput(
                f"the {control} axis must be a list of weights or text like 0.2:0.8:0.2",
                field="weights",
            )
    return axes


class SweepPreview(BaseModel):
    name: str
    prompts: int
    combinations: int
    runs: int
    jobs: int
    skipped: int  # combinations left out because every weight in them is 0
    # Cosmos 3: combinations rendering the same video as another (weights normalised to sum 1)
    duplicates: int = 0
    axes: dict[str, list[float]]
    seeds: list[int]
    predicted_gpu_seconds: float | None  # each combination as its own process, before batching
    predicted_finish_at: float | None  # the fleet simulation's ETA of its last job
    predicted_for: str | None  # the GPU profile the predictions are for
    limit: int
    over_limit: bool


class SweepView(BaseModel):
    id: str
    name: str
    created_at: float
    runs: int
    status: str  # queued, running or finished
    counts: dict[str, int]  # runs by status
    prompt_ids: list[str]
    axes: dict[str, list[float]]
    seeds: list[int]
    params: dict[str, Any]
    priority: int

    @classmethod
    def of(cls, row: SweepRow, counts: Mapping[str, int]) -> SweepView:
        spec = dict(row.spec)
        return cls(
            id=row.id,
            name=row.name,
            created_at=row.created_at,
            runs=row.runs,
            status=_status(counts),
            counts=dict(counts),
            prompt_ids=list(spec.get("prompt_ids", [])),
            axes={k: [float(v) for v in vs] for k, vs in dict(spec.get("axes", {})).items()},
            seeds=[int(s) for s in spec.get("seeds", [])],
            params=dict(spec.get("params", {})),
            priority=int(spec.get("priority", 0)),
        )


def _status(counts: Mapping[str, int]) -> str:
    if counts.get(RunStatus.RUNNING.value):
        return "running"
    if counts.get(RunStatus.QUEUED.value):
        started = any(n for s, n in counts.items() if s != RunStatus.QUEUED.value)
        return "running" if started else "queued"
    return "finished"


class SweepResult(BaseModel):
    preview: SweepPreview
    sweep: SweepView | None  # None for a dry run
    job_ids: list[str]


class SweepList(BaseModel):
    sweeps: list[SweepView]
    total: int


class SweepCancel(BaseModel):
    sweep: SweepView
    cancelled_runs: int  # queued runs cancelled at once
    stopping_jobs: list[str]  # running jobs of this sweep alone, asked to stop
    # Running jobs that also hold other work: they finish (their runs of this sweep included).
    shared_running_jobs: list[str]


class _Preview(Exception):
    """Rolls back a preview's transaction, carrying what it computed."""

    def __init__(self, result: SweepResult) -> None:
        super().__init__("preview")
        self.result = result


def queue_sweep(
    ctx: Context, request: SweepRequest, *, confirm: bool = False, dry_run: bool = False
) -> SweepResult:
    """Queue the sweep in one transaction, or (`dry_run`) say what it would queue and change
    nothing. Above `max_sweep_runs` it is refused unless `confirm`.

    The preview is the real thing rolled back: the jobs are inserted, their ETAs computed by the
    fleet simulation with everything already queued, and the transaction undone."""
    limit = ctx.settings.max_sweep_runs
    if request.runs > limit and not confirm and not dry_run:
        raise InvalidInput(
            f"the sweep has {request.runs} runs, above the limit of {limit} (max_sweep_runs); "
            "pass --yes (API: confirm) to queue it",
            field="confirm",
        )
    try:
        with ctx.db.write() as session:
            result = _insert(ctx, session, request, limit)
            if dry_run:  # nothing of it exists once rolled back: only the preview is kept
                raise _Preview(SweepResult(preview=result.preview, sweep=None, job_ids=[]))
    except _Preview as preview:
        return preview.result
    log.info("queued sweep=%s runs=%d", result.sweep and result.sweep.id, request.runs)
    return result


def _insert(ctx: Context, session: Session, request: SweepRequest, limit: int) -> SweepResult:
    check_inputs(queue.require_prompts(session, request.prompt_ids), request.jobs)
    new = request.new_sweep()
    name = queue.add_new_sweeps(session, [new])[0]
    created = queue.insert_jobs(ctx, session, new.jobs)
    assert created is not None, "jobs without idempotency keys are always inserted"
    job_ids = [job_id for job_id, _ in created]
    jobs = job_store.jobs_by_id(session, job_ids)
    known = [j.predicted_seconds for j in jobs.values() if j.predicted_seconds is not None]
    etas = queue_etas(ctx, session, MAX_ETA_JOBS)
    finishes = [etas[j].finish_at if j in etas else None for j in job_ids]
    preview = SweepPreview(
        name=name,
        prompts=len(request.prompt_ids),
        combinations=len(request.jobs),
        runs=request.runs,
        jobs=len(job_ids),
        skipped=request.skipped,
        duplicates=request.duplicates,
        axes={a.control.value: list(a.values) for a in request.grid.axes},
        seeds=list(request.grid.seeds),
        predicted_gpu_seconds=round(sum(known), 3) if known else None,
        # Known only when every job of it has an ETA with a finish.
        predicted_finish_at=None if None in finishes else max(f for f in finishes if f is not None),
        predicted_for=planning_target(ctx).gpu_profile,
        limit=limit,
        over_limit=request.runs > limit,
    )
    session.flush()
    sweep = store.find_sweep(session, new.id)
    assert sweep is not None
    counts = {RunStatus.QUEUED.value: request.runs}  # just inserted: every run is queued
    return SweepResult(preview=preview, sweep=SweepView.of(sweep, counts), job_ids=job_ids)


def list_sweeps(ctx: Context, *, limit: int = 100, offset: int = 0) -> SweepList:
    if not 1 <= limit <= 10_000 or not 0 <= offset <= defaults.MAX_LIST_OFFSET:
        raise InvalidInput(
            f"limit must be 1 to 10000 and offset 0 to {defaults.MAX_LIST_OFFSET}", field="limit"
        )
    with ctx.db.read() as session:
        rows, total = store.sweeps_page(session, limit, offset)
        counts = store.status_counts(session, [r.id for r in rows])
        return SweepList(sweeps=[SweepView.of(r, counts[r.id]) for r in rows], total=total)


def get_sweep(ctx: Context, id_or_name: str) -> SweepView:
    with ctx.db.read() as session:
        row = find(session, id_or_name)
        return SweepView.of(row, store.status_counts(session, [row.id])[row.id])


def find(session: Session, id_or_name: str) -> SweepRow:
    check_line(id_or_name, "sweep", max_chars=MAX_NAME_CHARS)
    row = store.find_sweep(session, id_or_name.strip())
    if row is None:
        raise NotFound(f"no sweep with id or name {id_or_name!r}; see `cosmos sweeps list`")
    return row


def cancel_sweep(ctx: Context, id_or_name: str) -> SweepCancel:
    """Cancel a sweep's unfinished runs as a unit.

    A queued job holding only this sweep's runs is cancelled; one that batching filled with
    other work too gives this sweep's runs to a new job, which is cancelled (the rest keeps its
    place). A running job of this sweep alone is asked to stop; a running job shared with other
    work is left to finish, and said so: stopping it would lose the other work."""

    def cancel(session: Session) -> tuple[str, int, list[str], list[str]]:
        sweep = find(session, id_or_name)
        mine = {r.id: r for r in store.runs_of_sweep(session, sweep.id) if r.status in ACTIVE_RUNS}
        job_ids = sorted({r.job_id for r in mine.values()})
        held = runs_of_jobs(session, job_ids)
        jobs = job_store.jobs_by_id(session, job_ids)
        cancelled, stopping, shared = 0, [], []
        for job_id, job in sorted(jobs.items()):
            active = [r.id for r in held[job_id] if r.status in ACTIVE_RUNS]
            ours = [run_id for run_id in active if run_id in mine]
            alone = len(ours) == len(active)
            if job.status == JobStatus.QUEUED.value:
                target = (
                    job
                    if alone
                    else job_store.find_job(session, job_store.split_off(session, job, ours))
                )
                assert target is not None
                queue.cancel_queued(session, target)
                cancelled += len(ours)
            elif job.status == JobStatus.RUNNING.value:
                if alone:
                    job_store.request_cancel(session, job)
                    stopping.append(job.id)
                else:
                    shared.append(job.id)
        return sweep.id, cancelled, stopping, shared

    sweep_id, cancelled, stopping, shared = ctx.db.write_retrying(cancel, what="sweep cancel")
    log.info("cancelled sweep=%s runs=%d stopping=%d", sweep_id, cancelled, len(stopping))
    return SweepCancel(
        sweep=get_sweep(ctx, sweep_id),
        cancelled_runs=cancelled,
        stopping_jobs=stopping,
        shared_running_jobs=shared,
    )
