"""Smart batching as a user drives it: analyse the queue into a stored plan, apply it atomically
(refusing a stale one, or rebasing it onto a queue whose workers claimed some of its runs
meanwhile), undo a batch, and batch continuously at claim time when enabled.

Every write here is one transaction that follows the store's lock order (store/batches.py) and
is run again when PostgreSQL still picks it as a deadlock victim (`Database.write_retrying`).

A plan only ever moves queued runs between jobs: new batch jobs are created, runs move into them,
and emptied source jobs become `merged` with a pointer to their batch, so nothing is lost and
undo can give every run back to the job it was queued in (`runs.origin_job_id`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, model_validator

from cosmos_workflow.domain.errors import Conflict, InvalidInput, NotFound
from cosmos_workflow.domain.ids import new_id
from cosmos_workflow.domain.states import JobStatus
from cosmos_workflow.domain.verdicts import OutputVerdict
from cosmos_workflow.domain.work import QueuedRun
from cosmos_workflow.planner.fingerprint import queue_fingerprint
from cosmos_workflow.planner.head import plan_head_batch
from cosmos_workflow.planner.plan import Plan, PlanMode, PlannedBatch, plan_batches
from cosmos_workflow.planner.rebase import Gone, changes_text, drift, plan_basis, run_digest
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.estimates import PlanningTarget, SlotGroup, planning_target
from cosmos_workflow.store.batches import (
    NewBatch,
    add_plan,
    apply_batches,
    batch_job,
    find_plan,
    load_queued_runs,
    lock_jobs,
    mark_plan_applied,
    run_states,
    undo_batch_job,
)
from cosmos_workflow.store.db import now
from cosmos_workflow.store.models import PlanRow
from cosmos_workflow.store.session import Session

log = logging.getLogger(__name__)


LEGACY_REASON = "planned before batches carried output verdicts; run `cosmos batch analyze` again"


class BatchView(BaseModel):
    run_ids: list[str]
    source_job_ids: list[str]
    controls: list[str]
    backend: str
    priority: int
    gpu_batch_size: int
    predicted_seconds: float
    predicted_load_seconds: float
    predicted_memory_gb: float
    verdict: OutputVerdict  # identical, verified or may_differ
    verdict_reason: str  # why outputs may differ, or what verified them; empty when identical
    unchanged: bool  # the batch is exactly one job as it stands: applying leaves it alone
    slot: str | None = None  # the slot it is predicted to run on (`host/index`)
    predicted_start: float | None = None  # seconds from the analysis
    predicted_finish: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _planned_before_verdicts(cls, data: Any) -> Any:
        """A plan stored before batches carried verdicts still shows; it cannot be applied."""
        if isinstance(data, dict) and "verdict" not in data:
            data = {k: v for k, v in data.items() if k != "changes_outputs"}
            data["verdict"] = OutputVerdict.MAY_DIFFER
            data["verdict_reason"] = LEGACY_REASON
        return data


class PlanView(BaseModel):
    plan_id: str
    mode: str
    allow_output_changes: bool = False  # auto could form may_differ batches
    fingerprint: str
    created_at: float
    applied_at: float | None
    gpu_profile: str
    runs: int
    batches: list[BatchView]
    predicted_seconds_before: float
    predicted_seconds_after: float
    loads_avoided: int
    speedup: float
    calibrated: bool  # predictions use parameters fitted to measured timings
    # The fleet it was made for and its predicted drain times (0 for plans stored before).
    slots: int = 1
    gpu_profiles: list[str] = []
    drain_seconds_before: float = 0.0
    drain_seconds_after: float = 0.0
    lower_bound_seconds: float = 0.0  # no plan of these runs drains this fleet sooner
    drain_speedup: float = 1.0  # drain before / after
    above_bound_pct: float = 0.0  # how far the plan's drain time lies above the bound


class DroppedRun(BaseModel):
    run_id: str
    job_id: str  # the job it was planned in
    why: str  # claimed, finished or cancelled since the analysis


class ApplyResult(BaseModel):
    plan_id: str
    created_job_ids: list[str]
    merged_job_ids: list[str]
    rebased: bool = False  # the queue had moved on: the plan was applied without these runs
    dropped_runs: list[DroppedRun] = []
    shrunk_batches: list[int] = []  # the plan's batches (1-based) that lost runs
    vanished_batches: list[int] = []  # the plan's batches (1-based) that lost every run

    def rebase_lines(self) -> list[str]:
        """What a rebase changed in the plan, one sentence each (none when it applied as
        analysed): the same words in the CLI and the UI."""
        if not self.rebased:
            return []
        why: dict[str, int] = {}
        for run in self.dropped_runs:
            why[run.why] = why.get(run.why, 0) + 1
        counts = ", ".join(f"{n} {reason}" for reason, n in sorted(why.items()))
        lines = [
            f"rebased: {len(self.dropped_runs)} run(s) dropped from the plan "
            f"({counts or 'none'} since the analysis)"
        ]
        if self.shrunk_batches:
            lines.append(f"batch(es) {_numbers(self.shrunk_batches)} shrank")
        if self.vanished_batches:
            lines.append(f"batch(es) {_numbers(self.vanished_batches)} vanished (no run left)")
        return lines


def _numbers(indexes: Sequence[int]) -> str:
    return ", ".join(str(i) for i in indexes)


class UndoResult(BaseModel):
    batch_job_id: str
    restored_job_ids: list[str]


def analyze(
    ctx: Context,
    mode: str | None = None,
    max_batch_size: int | None = None,
    allow_output_changes: bool | None = None,
    slots: int | None = None,
    fleet: Sequence[SlotGroup] | None = None,
) -> PlanView:
    """Plan the queued runs for the fleet and store the plan, so any process can show or apply
    it. `allow_output_changes` (default: `planner.allow_output_changes`) lets auto form batches
    whose outputs may differ from each run alone. `slots`: plan for that many identical free
    slots instead of the configured fleet (whose running jobs keep their slots busy)."""
    chosen = _mode(mode or ctx.settings.planner.mode)
    if max_batch_size is not None and not 1 <= max_batch_size <= 10_000:
        raise InvalidInput("max batch size must be between 1 and 10000", field="max_batch_size")
    allow = _allow(ctx, allow_output_changes)
    target = planning_target(ctx, slots=slots, groups=fleet)
    with ctx.db.read() as session:
        cost, calibrated = target.cost_model(session)
        if slots is None and fleet is None:
            target = target.with_busy_slots(session, cost=cost)
        runs = load_queued_runs(session)
        limits = target.learned_limits(session)
        verified = target.verified_keys(session)
    planner = ctx.settings.planner
    plan = plan_batches(
        runs,
        mode=chosen,
        cost=cost,
        gpu_profile=target.gpu_profile,
        gpu_memory_gb=target.gpu_memory_gb,
        max_batch_size=max_batch_size or planner.max_batch_size,
        max_gpu_batch_size=planner.max_gpu_batch_size,
        gpu_batching=planner.gpu_batching,
        strict_fifo=planner.strict_fifo,
        allow_output_changes=allow,
        learned_limits=limits,
        verified=verified,
        fleet=target.fleet,
    )
    view = _plan_view(new_id("plan"), plan, runs, target, calibrated)
    # The basis rides in the stored body beside the view (which does not show it): what a
    # rebase compares the queue with, run by run.
    body = {**view.model_dump(mode="json"), "basis": plan_basis(runs)}
    with ctx.db.write() as session:
        add_plan(
            session,
            view.plan_id,
            created_at=view.created_at,
            mode=view.mode,
            fingerprint=view.fingerprint,
            body=body,
            speedup=view.speedup,
        )
    log.info(
        "plan=%s mode=%s allow_output_changes=%s runs=%d batches=%d speedup=%.3f",
        view.plan_id,
        view.mode,
        view.allow_output_changes,
        view.runs,
        len(view.batches),
        view.speedup,
    )
    return view


def _allow(ctx: Context, value: object) -> bool:
    """The call's choice, else the configured one; only a real boolean is accepted."""
    if value is None:
        return ctx.settings.planner.allow_output_changes
    if not isinstance(value, bool):
        raise InvalidInput(
            f"allow_output_changes must be true or false, not {value!r}",
            field="allow_output_changes",
        )
    return value


def _mode(value: str) -> PlanMode:
    try:
        return PlanMode(value.strip().lower())
    except ValueError:
        raise InvalidInput(
            f"unknown mode {value!r}; use strict, mixed or auto", field="mode"
        ) from None


def _plan_view(
    plan_id: str,
    plan: Plan,
    runs: Sequence[QueuedRun],
    target: PlanningTarget,
    calibrated: bool,
) -> PlanView:
    jobs: dict[str, set[str]] = {}
    for run in runs:
        jobs.setdefault(run.job_id, set()).add(run.run_id)
    batches = [_batch_view(batch, jobs) for batch in plan.batches]
    return PlanView(
        plan_id=plan_id,
        mode=plan.mode.value,
        allow_output_changes=plan.allow_output_changes,
        fingerprint=plan.fingerprint,
        created_at=now(),
        applied_at=None,
        gpu_profile=target.gpu_profile,
        runs=len(runs),
        batches=batches,
        predicted_seconds_before=round(plan.predicted_seconds_before, 3),
        predicted_seconds_after=round(plan.predicted_seconds_after, 3),
        loads_avoided=plan.loads_avoided,
        speedup=round(plan.speedup, 4),
        calibrated=calibrated,
        slots=plan.slots,
        gpu_profiles=list(target.fleet.profiles),
        drain_seconds_before=round(plan.drain_seconds_before, 3),
        drain_seconds_after=round(plan.drain_seconds_after, 3),
        lower_bound_seconds=round(plan.lower_bound_seconds, 3),
        drain_speedup=round(_ratio(plan.drain_seconds_before, plan.drain_seconds_after), 4),
        above_bound_pct=round(
            100 * (_ratio(plan.drain_seconds_after, plan.lower_bound_seconds) - 1), 2
        ),
    )


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else 1.0


def _batch_view(batch: PlannedBatch, jobs: dict[str, set[str]]) -> BatchView:
    sources = list(batch.source_job_ids)
    unchanged = len(sources) == 1 and jobs.get(sources[0]) == set(batch.run_ids)
    return BatchView(
        run_ids=list(batch.run_ids),
        source_job_ids=sources,
        controls=sorted(c.value for c in batch.controls),
        backend=batch.backend.value,
        priority=batch.priority,
        gpu_batch_size=batch.gpu_batch_size,
        predicted_seconds=round(batch.predicted_seconds, 3),
        predicted_load_seconds=round(batch.predicted_load_seconds, 3),
        predicted_memory_gb=round(batch.predicted_memory_gb, 2),
        verdict=batch.verdict.verdict,
        verdict_reason=batch.verdict.reason,
        unchanged=unchanged,
        slot=batch.placement.slot if batch.placement else None,
        predicted_start=round(batch.placement.start, 3) if batch.placement else None,
        predicted_finish=round(batch.placement.finish, 3) if batch.placement else None,
    )


def get_plan(ctx: Context, plan_id: str | None = None) -> PlanView:
    """A stored plan (the newest when no id is given)."""
    with ctx.db.read() as session:
        row = _plan_row(session, plan_id)
        return PlanView.model_validate(row.body).model_copy(update={"applied_at": row.applied_at})


def _plan_row(session: Session, plan_id: str | None, *, lock: bool = False) -> PlanRow:
    row = find_plan(session, plan_id, lock=lock)
    if row is None:
        raise NotFound(
            f"no plan {plan_id!r}" if plan_id else "no plan yet; run `cosmos batch analyze`"
        )
    return row


def apply_plan(ctx: Context, plan_id: str | None = None, *, rebase: bool = False) -> ApplyResult:
    """Apply a stored plan in one transaction, or refuse it as stale and change nothing.
    `rebase`: when workers claimed (or finished, or someone cancelled) some of the plan's runs
    since the analysis, apply the rest of it; any other change still refuses it."""
    if not isinstance(rebase, bool):
        raise InvalidInput(f"rebase must be true or false, not {rebase!r}", field="rebase")
    result = ctx.db.write_retrying(
        lambda session: _apply(ctx, session, plan_id, rebase), what="batch apply"
    )
    log.info(
        "applied plan=%s created=%d merged=%d dropped=%d",
        result.plan_id,
        len(result.created_job_ids),
        len(result.merged_job_ids),
        len(result.dropped_runs),
    )
    return result


def _apply(ctx: Context, session: Session, plan_id: str | None, rebase: bool) -> ApplyResult:
    row = _plan_row(session, plan_id, lock=True)  # first in the store's lock order
    if row.applied_at is not None:
        raise Conflict(f"plan {row.id} was applied already; run `cosmos batch analyze` again")
    if _planned_before_verdicts(row.body):
        raise Conflict(
            f"plan {row.id} was made before plans carried output verdicts; run "
            "`cosmos batch analyze` again"
        )
    view = PlanView.model_validate(row.body)
    # Then the jobs it would change, so that the queue read next cannot change under them.
    lock_jobs(session, [job for b in _new_batches(view.batches) for job in b.source_job_ids])
    runs = load_queued_runs(session)
    batches = view.batches
    result = ApplyResult(plan_id=row.id, created_job_ids=[], merged_job_ids=[])
    if queue_fingerprint(runs) != row.fingerprint:
        if not rebase:
            raise Conflict(
                f"plan {row.id} is stale: the queue changed since it was analysed (a job was "
                "added, cancelled, claimed, moved or edited); `cosmos batch apply --rebase` "
                "applies the rest of it when runs were only claimed or finished meanwhile, "
                "or run `cosmos batch analyze` again"
            )
        batches, result = _rebased(session, row, view, runs)
    created, merged = apply_batches(
        session, _new_batches(batches), max_attempts=ctx.settings.max_attempts, plan_id=row.id
    )
    mark_plan_applied(session, row, created, merged, [d.run_id for d in result.dropped_runs])
    return result.model_copy(update={"created_job_ids": created, "merged_job_ids": merged})


def _rebased(
    session: Session, row: PlanRow, view: PlanView, runs: Sequence[QueuedRun]
) -> tuple[list[BatchView], ApplyResult]:
    """The plan's batches without the runs that left the queue with their jobs since the
    analysis, and what changed; Conflict naming the changes when the queue changed otherwise."""
    basis = row.body.get("basis") if isinstance(row.body, dict) else None
    if not basis:
        raise Conflict(
            f"plan {row.id} is stale and was analysed before plans could be rebased; run "
            "`cosmos batch analyze` again"
        )
    queued = {run.run_id for run in runs}
    missing = [run_id for run_id in basis["runs"] if run_id not in queued]
    states = run_states(session, missing)
    gone = {
        run_id: Gone(s.job_id, s.job_status, s.status) if (s := states.get(run_id)) else None
        for run_id in missing
    }
    found = drift(basis, runs, gone)
    if found.changes:
        raise Conflict(
            f"plan {row.id} is stale and cannot be rebased: the queue changed besides runs "
            f"claimed or finished meanwhile: {changes_text(found.changes)}; run "
            "`cosmos batch analyze` again"
        )
    jobs: dict[str, set[str]] = {}
    for run in runs:
        jobs.setdefault(run.job_id, set()).add(run.run_id)
    planned_job = {run_id: job_id for run_id, (job_id, _) in basis["runs"].items()}
    batches: list[BatchView] = []
    shrunk: list[int] = []
    vanished: list[int] = []
    for index, batch in enumerate(view.batches, start=1):
        kept = [run_id for run_id in batch.run_ids if run_id not in found.dropped]
        if not kept:
            vanished.append(index)
        elif len(kept) < len(batch.run_ids):
            shrunk.append(index)
            batches.append(_shrunk(batch, kept, planned_job, jobs))
        else:
            batches.append(batch)
    dropped = [
        DroppedRun(run_id=run_id, job_id=planned_job[run_id], why=why)
        for run_id, why in found.dropped.items()
    ]
    result = ApplyResult(
        plan_id=row.id,
        created_job_ids=[],
        merged_job_ids=[],
        rebased=True,
        dropped_runs=dropped,
        shrunk_batches=shrunk,
        vanished_batches=vanished,
    )
    return batches, result


def _shrunk(
    batch: BatchView, kept: list[str], planned_job: dict[str, str], jobs: dict[str, set[str]]
) -> BatchView:
    """A batch left with `kept` of its runs: its sources, GPU batch and compute scaled to them
    (its one model load stays), unchanged when it is now exactly one job as it stands."""
    sources = list(dict.fromkeys(planned_job[run_id] for run_id in kept))
    compute = batch.predicted_seconds - batch.predicted_load_seconds
    return batch.model_copy(
        update={
            "run_ids": kept,
            "source_job_ids": sources,
            "gpu_batch_size": min(batch.gpu_batch_size, len(kept)),
            "predicted_seconds": round(
                batch.predicted_load_seconds + compute * len(kept) / len(batch.run_ids), 3
            ),
            "unchanged": len(sources) == 1 and jobs.get(sources[0]) == set(kept),
        }
    )


def _planned_before_verdicts(body: Any) -> bool:
    batches = body.get("batches", []) if isinstance(body, dict) else []
    return any(isinstance(batch, dict) and "verdict" not in batch for batch in batches)


def _new_batches(batches: Sequence[BatchView]) -> list[NewBatch]:
    """The batches that change the queue (one left as it stands is skipped), for the store."""
    return [
        NewBatch(
            run_ids=batch.run_ids,
            source_job_ids=batch.source_job_ids,
            backend=batch.backend,
            priority=batch.priority,
            gpu_batch_size=batch.gpu_batch_size,
            predicted_seconds=batch.predicted_seconds,
            predicted_load_seconds=batch.predicted_load_seconds,
        )
        for batch in batches
        if not batch.unchanged
    ]


def undo_batch(ctx: Context, batch_job_id: str) -> UndoResult:
    """Give a not-yet-started batch's runs back to the jobs they were queued in, in the order
    they were queued with."""

    def undo(session: Session) -> list[str]:
        batch = batch_job(session, batch_job_id)
        if batch is None:
            raise NotFound(f"no job with id {batch_job_id!r}; see `cosmos queue list`")
        if batch.plan_id is None:
            raise Conflict(f"job {batch_job_id} was not made by a plan; there is nothing to undo")
        if batch.status != JobStatus.QUEUED.value:
            raise Conflict(
                f"batch {batch_job_id} is {batch.status}; only a queued batch can be undone"
            )
        return undo_batch_job(session, batch)

    restored = ctx.db.write_retrying(undo, what="batch undo")
    return UndoResult(batch_job_id=batch_job_id, restored_job_ids=restored)


def batch_queue_head(ctx: Context) -> str | None:
    """Continuous batching, at claim time: regroup compatible queued runs around the head of the
    queue (same priority, within the configured lookahead) into one batch job, in one
    transaction. Returns the new batch job's id, or None when the head is best left alone.
    The batch is the fleet plan's: with other slots free, the head's batch stays small enough
    to leave them work; with them busy, it takes more. Conflict when the head changed while it
    was planned (another worker claimed or batched it first): nothing changed, and the caller
    tries again at its next claim."""
    target = planning_target(ctx)
    created = ctx.db.write_retrying(
        lambda session: _batch_head(ctx, session, target), what="continuous batching"
    )
    if created is not None:
        log.info("continuous batching formed job=%s", created)
    return created


def _batch_head(ctx: Context, session: Session, target: PlanningTarget) -> str | None:
    planner = ctx.settings.planner
    runs = load_queued_runs(session, limit=4 * planner.lookahead + 256)
    if not runs:
        return None
    cost, _ = target.cost_model(session)
    target = target.with_busy_slots(session, cost=cost)
    batch = plan_head_batch(
        runs,
        lookahead=planner.lookahead,
        cost=cost,
        gpu_profile=target.gpu_profile,
        gpu_memory_gb=target.gpu_memory_gb,
        max_batch_size=planner.max_batch_size,
        max_gpu_batch_size=planner.max_gpu_batch_size,
        gpu_batching=planner.gpu_batching,
        # The same output rule as `cosmos batch analyze` without the option.
        allow_output_changes=planner.allow_output_changes,
        learned_limits=target.learned_limits(session),
        verified=target.verified_keys(session),
        fleet=target.fleet,
    )
    if batch is None:
        return None
    jobs: dict[str, set[str]] = {}
    for run in runs:
        jobs.setdefault(run.job_id, set()).add(run.run_id)
    view = _batch_view(batch, jobs)
    if view.unchanged:
        return None
    # The runs were read without locks: lock their jobs (the store's lock order), then check
    # that what was planned is still what is queued in them before anything moves.
    planned = _digests(runs, view.source_job_ids)
    lock_jobs(session, view.source_job_ids)
    again = load_queued_runs(session, job_ids=view.source_job_ids)
    if _digests(again, view.source_job_ids) != planned:
        raise Conflict("the head of the queue changed while it was batched; nothing changed")
    (created,), _ = apply_batches(
        session, _new_batches([view]), max_attempts=ctx.settings.max_attempts, plan_id=None
    )
    return created


def _digests(runs: Sequence[QueuedRun], job_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """The queued runs of these jobs, each with its job and what the planner read of it."""
    wanted = set(job_ids)
    return {r.run_id: (r.job_id, run_digest(r)) for r in runs if r.job_id in wanted}
