"""Smart batching: regroup queued runs into model processes that cost less GPU time.

Only runs of kind `inference` are planned; runs of other kinds are ignored (left out of every
batch and of both predictions), though they still count in the fingerprint.

Every batch carries a verdict (`domain.verdicts`): `identical` where NVIDIA's code proves each
run renders what it renders alone (a Transfer1 batch of one control set at `--batch_size 1`, a
Transfer2.5 batch of one key set, every Cosmos 3 batch), `verified` where a stored
verification covers that kind of batch on the plan's GPU profile, else `may_differ` with the
reason.

How a plan is made:
1. Runs are grouped by what must be equal within one process (`compat.process_key`: backend,
   priority, process-global parameters; Cosmos 3: checkpoint, sampler, diffusion cache), then
   by control set (Cosmos 3 mixes any sets at no cost: one checkpoint serves every hint).
2. Per group the mode decides which control sets share a process:
   strict - one control set per process (Transfer1 GPU-batches it when `gpu_batching` is on);
   mixed  - all sets together, split only where memory does not fit (Transfer1: each run gets
            weight 0 for controls it did not ask for; Transfer2.5: the multicontrol model);
   auto   - the partition of control sets with the lowest predicted GPU time: exact (every set
            partition, by dynamic programming over subsets) up to `grouping.EXACT_SEARCH_SETS`
            sets, greedy pairwise merging beyond. Unless output changes are allowed, auto obeys
            the output rule: it forms only `identical` or `verified` processes, so it mixes
            control sets and GPU-batches only where a verification says outputs stay the same.
            Never worse than strict or mixed under the same rule: those are computed too
            (under the rule, and as they stand where they obey it) and the cheapest is kept.
   Strict and mixed make their batches whatever the rule says; each batch is labelled.
3. A block larger than `max_batch_size` is cut into chunks. A Transfer1 block of one control
   set whose runs share frames and aspect bucket runs as one GPU batch (`--batch_size` from the
   memory model) where GPU batching is allowed; when its runs differ, sub-groups that gain more
   from GPU batching than a model load costs get their own process.
4. Honest baseline: `predicted_seconds_before` is the current jobs, each one process at its own
   GPU batch size. Jobs linked by shared batches form a component; a component the plan does not
   make strictly faster (or, under the output rule, could only change with a `may_differ`
   process) keeps its jobs as they are. A batch that IS an existing job (same runs) is listed
   with `unchanged=True` and runs exactly as queued, labelled with its own verdict (a job the
   user queued as a GPU batch or with mixed controls is kept, as `may_differ`), so a queue that
   cannot gain shows speedup 1.0 and no load avoided.
5. Fairness: priorities never share a batch; a batch takes the queue place of its earliest
   member; with `strict_fifo` only jobs adjacent in queue order merge.
6. The fleet (`fleet`, default one slot of `gpu_profile`): batches are list-scheduled over its
   slots in execution order, as the workers will take them. On several slots the plan is the
   one with the least predicted drain time, then GPU-seconds, then loads (`planner.fleet`),
   never later than the queue as it stands; each batch carries its slot and predicted start
   and finish, and the plan its drain time before and after and a lower bound no plan can
   beat (`planner.schedule`). Processes are formed and memory-checked for `gpu_profile` and
   `gpu_memory_gb` (the caller passes the fleet's slowest profile and smallest memory, so
   every batch fits every slot) and predicted per slot profile when scheduled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from cosmos_workflow.domain.controls import ControlSet
from cosmos_workflow.domain.fleet import Fleet
from cosmos_workflow.domain.params import Backend
from cosmos_workflow.domain.verdicts import BatchVerdict, VerdictKey
from cosmos_workflow.domain.work import QueuedRun
from cosmos_workflow.planner import fleet as fleet_search
from cosmos_workflow.planner import grouping, memory
from cosmos_workflow.planner.cost import CostModel
from cosmos_workflow.planner.fingerprint import queue_fingerprint
from cosmos_workflow.planner.process import PlanMode, Process, Settings, make_process
from cosmos_workflow.planner.schedule import Placement

__all__ = ["Plan", "PlanMode", "PlannedBatch", "plan_batches"]

EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class PlannedBatch:
    """One model process of a plan."""

    run_ids: tuple[str, ...]
    source_job_ids: tuple[str, ...]  # distinct, in order of first appearance
    backend: Backend
    controls: ControlSet  # the process's control union
    priority: int
    queue_index: int  # its earliest member's
    gpu_batch_size: int
    predicted_load_seconds: float
    predicted_seconds: float  # load + compute
    predicted_memory_gb: float
    verdict: BatchVerdict  # whether every run renders what it renders alone, and why not
    unchanged: bool = False  # exactly one existing job as it stands: applying leaves it alone
    placement: Placement | None = None  # its slot and predicted start and finish


@dataclass(frozen=True, slots=True)
class Plan:
    mode: PlanMode
    allow_output_changes: bool  # auto could form `may_differ` batches
    batches: tuple[PlannedBatch, ...]  # in execution order
    predicted_seconds_before: float
    predicted_seconds_after: float
    loads_avoided: int  # processes before - processes after
    speedup: float  # before / after; 1.0 when nothing changes
    fingerprint: str
    slots: int = 1  # the fleet it was made for
    drain_seconds_before: float = 0.0  # predicted time until the queue as it stands is drained
    drain_seconds_after: float = 0.0  # the same with the plan
    lower_bound_seconds: float = 0.0  # no plan of these runs drains this fleet sooner


def plan_batches(
    runs: Sequence[QueuedRun],
    *,
    mode: PlanMode,
    cost: CostModel,
    gpu_profile: str,
    gpu_memory_gb: float,
    max_batch_size: int | None = None,
    max_gpu_batch_size: int | None = None,
    gpu_batching: bool = True,
    strict_fifo: bool = False,
    allow_output_changes: bool = False,
    learned_limits: Mapping[tuple[str, str], int] | None = None,
    verified: frozenset[VerdictKey] = frozenset(),
    fleet: Fleet | None = None,
) -> Plan:
    """Plan the queued inference runs into batches; see the module docstring. `verified`: the
    kinds of batching stored verifications found to keep outputs (any GPU profile; only keys
    of `gpu_profile` count). `fleet`: the slots that will run the plan (default: one slot of
    `gpu_profile`)."""
    settings = Settings(
        cost=cost,
        gpu_profile=gpu_profile,
        gpu_memory_gb=gpu_memory_gb,
        max_batch_size=max_batch_size,
        max_gpu_batch_size=max_gpu_batch_size,
        gpu_batching=gpu_batching,
        learned_limits=learned_limits,
        keep_outputs=mode is PlanMode.AUTO and not allow_output_changes,
        verified=verified,
    )
    slots = fleet or Fleet.uniform(1, gpu_profile, gpu_memory_gb)
    ordered = queue_order([run for run in runs if run.kind.batchable])
    jobs = current_jobs(ordered, settings)
    if mode is PlanMode.AUTO:
        chosen = _auto(ordered, settings, strict_fifo, jobs)
    else:
        chosen = _candidate(ordered, mode, settings, strict_fifo, jobs)
    order = execution_order(ordered)
    if len(slots) > 1:
        chosen = fleet_search.best_for_fleet([chosen, list(jobs.values())], settings, slots, order)
    fingerprint = queue_fingerprint(runs)
    return _plan(
        mode, allow_output_changes, chosen, jobs, ordered, fingerprint, settings, slots, order
    )


def execution_order(ordered: Sequence[QueuedRun]) -> fleet_search.Order:
    """A process's place in execution order: priority first, then its earliest run's place."""
    position = {run.run_id: index for index, run in enumerate(ordered)}
    return lambda p: (-p.runs[0].priority, min(position[r.run_id] for r in p.runs))


def queue_order(runs: Sequence[QueuedRun]) -> list[QueuedRun]:
    """Execution order: higher priority first, then queue place, then the given order."""
    indexed = sorted(
        enumerate(runs), key=lambda item: (-item[1].priority, item[1].queue_index, item[0])
    )
    return [run for _, run in indexed]


def current_jobs(ordered: Sequence[QueuedRun], settings: Settings) -> dict[str, Process]:
    """Every job as it stands: one process at its own GPU batch size."""
    members: dict[str, list[QueuedRun]] = {}
    for run in ordered:
        members.setdefault(run.job_id, []).append(run)
    jobs = {}
    for job_id, job_runs in members.items():
        size = max(1, job_runs[0].job_gpu_batch_size)
        jobs[job_id] = make_process(job_runs, settings, gpu_batch_size=size, unchanged=True)
    return jobs


def _total(processes: Sequence[Process]) -> float:
    return sum(p.estimate.total_seconds for p in processes)


# --- candidates ------------------------------------------------------------------------------


def _auto(
    ordered: Sequence[QueuedRun],
    settings: Settings,
    strict_fifo: bool,
    jobs: Mapping[str, Process],
) -> list[Process]:
    """The cheapest of auto's search, strict and mixed, each under the output rule. Strict and
    mixed as they stand (GPU batching, mixing freely) are candidates too, component by
    component where they obey the rule: so auto is never worse than a strict or mixed plan that
    keeps outputs."""
    candidates = [
        _candidate(ordered, mode, settings, strict_fifo, jobs)
        for mode in (PlanMode.AUTO, PlanMode.STRICT, PlanMode.MIXED)
    ]
    if settings.keep_outputs:
        free = replace(settings, keep_outputs=False)
        for mode in (PlanMode.STRICT, PlanMode.MIXED):
            processes = _processes(ordered, mode, free, strict_fifo)
            candidates.append(keep_jobs_unless_faster(processes, jobs, settings))
    return min(candidates, key=_total)


def _candidate(
    ordered: Sequence[QueuedRun],
    mode: PlanMode,
    settings: Settings,
    strict_fifo: bool,
    jobs: Mapping[str, Process],
) -> list[Process]:
    processes = _processes(ordered, mode, settings, strict_fifo)
    return keep_jobs_unless_faster(processes, jobs, settings)


def _processes(
    ordered: Sequence[QueuedRun], mode: PlanMode, settings: Settings, strict_fifo: bool
) -> list[Process]:
    if strict_fifo:
        return grouping.fifo_processes(ordered, mode, settings)
    return grouping.grouped_processes(ordered, mode, settings)


def keep_jobs_unless_faster(
    processes: Sequence[Process], jobs: Mapping[str, Process], settings: Settings
) -> list[Process]:
    """Per component of jobs linked by shared processes: keep the jobs as they are unless the
    new processes are strictly faster and, under the output rule, all keep outputs. A lone job
    re-formed as itself is kept as it stands."""
    parent = {job_id: job_id for job_id in jobs}

    def root(job_id: str) -> str:
        while parent[job_id] != job_id:
            parent[job_id] = parent[parent[job_id]]
            job_id = parent[job_id]
        return job_id

    for process in processes:
        first = root(process.runs[0].job_id)
        for run in process.runs[1:]:
            other = root(run.job_id)
            if other != first:
                parent[other] = first
    after: dict[str, list[Process]] = {}
    for process in processes:
        after.setdefault(root(process.runs[0].job_id), []).append(process)
    before: dict[str, list[Process]] = {}
    for job_id, job in jobs.items():
        before.setdefault(root(job_id), []).append(job)
    kept: list[Process] = []
    for component, new in after.items():
        old = before[component]
        faster = _total(new) < _total(old) - EPSILON and not _same(new, old)
        kept.extend(new if faster and _obeys_rule(new, settings) else old)
    return kept


def _obeys_rule(processes: Sequence[Process], settings: Settings) -> bool:
    if not settings.keep_outputs:
        return True
    return all(p.verdict(settings).verdict.keeps_outputs for p in processes)


def _same(new: Sequence[Process], old: Sequence[Process]) -> bool:
    if len(new) != len(old):
        return False
    return {frozenset(r.run_id for r in p.runs) for p in new} == {
        frozenset(r.run_id for r in p.runs) for p in old
    }


# --- the plan --------------------------------------------------------------------------------


def _plan(
    mode: PlanMode,
    allow_output_changes: bool,
    processes: Sequence[Process],
    jobs: Mapping[str, Process],
    ordered: Sequence[QueuedRun],
    fingerprint: str,
    settings: Settings,
    fleet: Fleet,
    order: fleet_search.Order,
) -> Plan:
    """The batches in execution order, each with its slot and predicted start and finish on the
    fleet; GPU-seconds (on the slots each process was placed on) and drain time for the jobs as
    they stand and for the plan; and the lower bound."""
    _, before = fleet_search.schedule_of(list(jobs.values()), settings, fleet, order)
    placed, after = fleet_search.schedule_of(processes, settings, fleet, order)
    batches = tuple(
        to_batch(process, settings, at)
        for process, at in zip(placed, after.placements, strict=True)
    )
    changed = any(not b.unchanged for b in batches)
    return Plan(
        mode=mode,
        allow_output_changes=allow_output_changes,
        batches=batches,
        predicted_seconds_before=before.gpu_seconds,
        predicted_seconds_after=after.gpu_seconds,
        loads_avoided=len(jobs) - len(batches),
        speedup=_ratio(before.gpu_seconds, after.gpu_seconds) if changed else 1.0,
        fingerprint=fingerprint,
        slots=len(fleet),
        drain_seconds_before=before.drain_seconds,
        drain_seconds_after=after.drain_seconds,
        lower_bound_seconds=fleet_search.lower_bound(ordered, settings, fleet),
    )


def _ratio(before: float, after: float) -> float:
    return before / after if after > 0 else 1.0


def to_batch(
    process: Process, settings: Settings, placement: Placement | None = None
) -> PlannedBatch:
    runs = process.runs
    backend = process.backend
    return PlannedBatch(
        run_ids=tuple(run.run_id for run in runs),
        source_job_ids=tuple(dict.fromkeys(run.job_id for run in runs)),
        backend=backend,
        controls=process.controls,
        priority=runs[0].priority,
        queue_index=min(run.queue_index for run in runs),
        gpu_batch_size=process.gpu_batch_size,
        predicted_load_seconds=process.estimate.load_seconds,
        predicted_seconds=process.estimate.total_seconds,
        predicted_memory_gb=memory.process_memory_gb(
            runs, process.controls, process.gpu_batch_size
        ),
        verdict=process.verdict(settings),
        unchanged=process.unchanged,
        placement=placement,
    )
