"""Planning for a fleet: the partition whose predicted drain time is least, then GPU-seconds,
then model loads.

The GPU-seconds plan (`plan.plan_batches` on one slot) loads each model as rarely as possible.
On several slots that can leave slots idle: sixteen one-run jobs merged into one process keep
seven of eight GPUs idle. The fleet search starts from that plan and from the queue as it
stands, and splits the processes that hold the drain time back into balanced pieces while the
predicted drain time falls (each piece pays its own load, so a split is kept only when it
pays). Candidates are compared by (drain time, GPU-seconds, processes): the queue as it stands
is one of them, so a fleet plan never predicts a later finish than the queue as queued; on one
slot the drain time is the GPU-seconds, so the GPU-seconds plan wins exactly as before.

Pieces are contiguous in (control set, queue place) order, so a piece mixes control sets only
where its process already did, and each piece is formed like any block (`grouping.
block_processes`: the output rule, `max_batch_size` and GPU batching apply)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cosmos_workflow.domain.controls import control_set_key
from cosmos_workflow.domain.fleet import Fleet
from cosmos_workflow.domain.params import Backend
from cosmos_workflow.domain.work import QueuedRun
from cosmos_workflow.planner import grouping
from cosmos_workflow.planner.cost import load_seconds, run_sampling_seconds
from cosmos_workflow.planner.process import Process, Settings
from cosmos_workflow.planner.schedule import (
    EPSILON,
    RunBound,
    Schedule,
    drain_lower_bound,
    list_schedule,
)

# The search stops after this many accepted splits, and tries this many of the longest
# splittable processes each round: enough to spread a queue over 64 slots, bounded for big ones.
MAX_ROUNDS = 96
CANDIDATES_PER_ROUND = 4

Order = Callable[[Process], tuple[int, int]]


@dataclass(frozen=True, slots=True)
class Scored:
    processes: list[Process]
    schedule: Schedule

    @property
    def key(self) -> tuple[float, float, int]:
        return (self.schedule.drain_seconds, self.schedule.gpu_seconds, len(self.processes))


def process_seconds(process: Process, settings: Settings, fleet: Fleet) -> dict[str, float]:
    """A process's predicted seconds on each GPU profile of the fleet."""
    seconds = {settings.gpu_profile: process.estimate.total_seconds}
    for profile in fleet.profiles:
        if profile not in seconds:
            seconds[profile] = settings.cost.predict(
                process.backend, profile, process.runs, process.gpu_batch_size, process.controls
            ).total_seconds
    return seconds


def schedule_of(
    processes: Sequence[Process], settings: Settings, fleet: Fleet, order: Order
) -> tuple[list[Process], Schedule]:
    """The processes in execution order, and where and when each runs."""
    ordered = sorted(processes, key=order)
    seconds = [process_seconds(p, settings, fleet) for p in ordered]
    return ordered, list_schedule(seconds, fleet)


def best_for_fleet(
    starts: Sequence[Sequence[Process]], settings: Settings, fleet: Fleet, order: Order
) -> list[Process]:
    """The best of the given partitions and of their refinements by splitting, by (drain time,
    GPU-seconds, processes); the first start wins ties."""
    best: Scored | None = None
    for start in starts:
        scored = _score(start, settings, fleet, order)
        # On one slot a split only adds a load: nothing to refine.
        refined = [_refined(scored, settings, fleet, order)] if len(fleet) > 1 else []
        for candidate in [scored, *refined]:
            if best is None or _better(candidate.key, best.key):
                best = candidate
    assert best is not None
    return best.processes


def _better(new: tuple[float, float, int], old: tuple[float, float, int]) -> bool:
    if new[0] < old[0] - EPSILON:
        return True
    if new[0] > old[0] + EPSILON:
        return False
    if new[1] < old[1] - EPSILON:
        return True
    return new[1] <= old[1] + EPSILON and new[2] < old[2]


def _score(processes: Sequence[Process], settings: Settings, fleet: Fleet, order: Order) -> Scored:
    ordered, schedule = schedule_of(processes, settings, fleet, order)
    return Scored(ordered, schedule)


def _refined(current: Scored, settings: Settings, fleet: Fleet, order: Order) -> Scored:
    """Split the longest splittable processes while that brings the drain time forward."""
    for _ in range(MAX_ROUNDS):
        durations = [p.seconds for p in current.schedule.placements]
        splittable = sorted(
            (i for i, p in enumerate(current.processes) if len(p.runs) > 1),
            key=lambda i: -durations[i],
        )[:CANDIDATES_PER_ROUND]
        found: Scored | None = None
        for index in splittable:
            process = current.processes[index]
            rest = current.processes[:index] + current.processes[index + 1 :]
            for pieces in range(2, min(len(process.runs), len(fleet)) + 1):
                trial = _score([*rest, *split(process, pieces, settings)], settings, fleet, order)
                best = found or current
                if trial.schedule.drain_seconds < best.schedule.drain_seconds - EPSILON:
                    found = trial
        if found is None:
            return current
        current = found
    return current


def split(process: Process, pieces: int, settings: Settings) -> list[Process]:
    """The process's runs in `pieces` contiguous pieces of about equal compute, in (control
    set, queue place) order, each formed as a block of its own."""
    runs = sorted(
        process.runs, key=lambda r: (control_set_key(r.controls), r.priority, r.queue_index)
    )
    params = settings.params(process.backend)
    weights = [run_sampling_seconds(params, r.backend, r, r.controls) for r in runs]
    total = sum(weights) or 1.0
    chunks: list[list[QueuedRun]] = [[]]
    done = 0.0
    for run, weight in zip(runs, weights, strict=True):
        # Start a new piece when this run's middle lies past the current piece's share.
        boundary = total * len(chunks) / pieces
        if chunks[-1] and done + weight / 2 > boundary and len(chunks) < pieces:
            chunks.append([])
        chunks[-1].append(run)
        done += weight
    return [p for chunk in chunks if chunk for p in grouping.block_processes(chunk, settings)]


def run_bounds(runs: Sequence[QueuedRun], settings: Settings, fleet: Fleet) -> list[RunBound]:
    """Each run's least compute and load per profile of the fleet (`schedule.drain_lower_bound`):
    alone, loading only its own controls, at the most a GPU batch could save where GPU batching
    may happen."""
    bounds = []
    for run in runs:
        compute: dict[str, float] = {}
        load: dict[str, float] = {}
        for profile in fleet.profiles:
            params = settings.cost.params_for(run.backend, profile)
            sampling = run_sampling_seconds(params, run.backend, run, run.controls)
            if _may_gpu_batch(run, settings):
                # n items cost (1 + m (n - 1)) x one item: never less than m per item.
                sampling *= min(1.0, max(0.0, params.gpu_batch_marginal))
            compute[profile] = sampling + params.run_overhead_seconds
            load[profile] = load_seconds(params, run.backend, run.controls)
        bounds.append(RunBound(compute, load))
    return bounds


def _may_gpu_batch(run: QueuedRun, settings: Settings) -> bool:
    return run.backend is Backend.TRANSFER1 and settings.may_gpu_batch(
        run.backend, run.params.distilled, run.controls
    )


def lower_bound(runs: Sequence[QueuedRun], settings: Settings, fleet: Fleet) -> float:
    return drain_lower_bound(run_bounds(runs, settings, fleet), fleet)
