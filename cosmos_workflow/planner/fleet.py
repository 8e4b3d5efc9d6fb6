"""Planning for a fleet: the partition whose predicted drain time is least, then GPU-seconds,
then model loads.

The GPU-seconds plan (`plan.plan_batches` on one slot) loads each model as rarely as possible.
On several slots that can leave slots idle: sixteen one-run jobs merged into one process keep
seven of eight GPUs idle. The fleet search starts from that plan and from the queue as it
stands, and splits their processes into more and more balanced pieces, always the process
whose pieces are longest next, up to two pieces more per slot, scoring every partition on the
way by list-scheduling it over the fleet (each piece pays its own load, so splitting pays only
while slots would idle). Partitions are compared by (drain time, GPU-seconds, processes): the
queue as it stands is one of them, so a fleet plan never predicts a later finish than the
queue as queued; on one slot the drain time is the GPU-seconds and nothing is split, so the
GPU-seconds plan wins exactly as before.

Pieces are contiguous in (control set, queue place) order, so a piece mixes control sets only
where its process already did, and each piece is formed like any block (`grouping.
block_processes`: the output rule, `max_batch_size` and GPU batching apply)."""

from __future__ import annotations

import itertools
import math
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

# The search splits at most this many times, and stops once the partition holds this many more
# pieces per slot than it started with: more pieces than that only add loads.
MAX_ROUNDS = 256
SPLIT_PIECES_PER_SLOT = 2
REFINE_MAX_PROCESSES = 1_000
MAX_MOVES = 64  # single-run moves that even the slots out after splitting
# Up to this many ways to cut the processes into pieces, every one is scored (exact search).
EXACT_PARTITIONS = 10_000

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
    order = _remembered(order)  # each process's place is scored many times while splitting
    for start in starts:
        scored = _score(start, settings, fleet, order)
        # On one slot a split only adds a load: nothing to refine. A start of thousands of
        # processes (a long queue as queued) is balanced by the schedule itself, and scoring it
        # a few hundred times would cost seconds.
        worth = len(fleet) > 1 and len(start) <= REFINE_MAX_PROCESSES
        refined = [_refined(scored, settings, fleet, order)] if worth else []
        exact = _exact(scored, settings, fleet, order) if len(fleet) > 1 else None
        refined += [exact] if exact is not None else []
        for candidate in [scored, *refined]:
            if best is None or _better(candidate.key, best.key):
                best = candidate
    assert best is not None
    return best.processes


def _exact(start: Scored, settings: Settings, fleet: Fleet, order: Order) -> Scored | None:
    """Every way to cut each process into up to one piece per slot (contiguous in control set,
    then queue order), scored, when there are at most `EXACT_PARTITIONS` of them; None when
    there are more (the search above then stands alone)."""
    processes = start.processes
    counts = [_cuts(len(p.runs), len(fleet)) for p in processes]
    if math.prod(counts) > EXACT_PARTITIONS:
        return None
    options = [_all_cuts(p, len(fleet), settings) for p in processes]
    best = start
    for combo in itertools.product(*options):
        trial = _score([p for pieces in combo for p in pieces], settings, fleet, order)
        if _better(trial.key, best.key):
            best = trial
    return best


def _cuts(runs: int, slots: int) -> int:
    """How many ways `runs` in a row cut into 1 to `slots` contiguous pieces."""
    return sum(math.comb(runs - 1, pieces - 1) for pieces in range(1, min(runs, slots) + 1))


def _all_cuts(process: Process, slots: int, settings: Settings) -> list[list[Process]]:
    runs = _split_order(process)
    cut_sets = (
        (0, *cuts, len(runs))
        for pieces in range(1, min(len(runs), slots) + 1)
        for cuts in itertools.combinations(range(1, len(runs)), pieces - 1)
    )
    return [
        [
            p
            for a, b in itertools.pairwise(bounds)
            for p in grouping.block_processes(runs[a:b], settings)
        ]
        if len(bounds) > 2
        else [process]
        for bounds in cut_sets
    ]


def _split_order(process: Process) -> list[QueuedRun]:
    """A process's runs in the order pieces are cut: control set, then queue place."""
    return sorted(
        process.runs, key=lambda r: (control_set_key(r.controls), r.priority, r.queue_index)
    )


def _remembered(order: Order) -> Order:
    """`order` computed once per process, by identity. The memo holds each process it has
    seen, so none is freed and no id is reused while the search runs."""
    known: dict[int, tuple[Process, tuple[int, int]]] = {}

    def place(process: Process) -> tuple[int, int]:
        key = id(process)
        if key not in known:
            known[key] = (process, order(process))
        return known[key][1]

    return place


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
    """Split the processes into more and more pieces, always the one whose pieces are longest
    next, and keep the best partition seen. Walking on past partitions that do not improve
    (splitting one of four equal processes does not move the drain time; splitting all four
    does) finds the balanced one a greedy step would stop short of."""
    groups = current.processes
    counts = [1] * len(groups)
    pieces: dict[tuple[int, int], list[Process]] = {(i, 1): [p] for i, p in enumerate(groups)}
    longest = [p.estimate.total_seconds for p in groups]
    best, best_counts = current, list(counts)
    limit = len(groups) + SPLIT_PIECES_PER_SLOT * len(fleet)
    for _ in range(MAX_ROUNDS):
        splittable = [i for i, p in enumerate(groups) if counts[i] < len(p.runs)]
        if not splittable or sum(counts) >= limit:
            break
        index = max(splittable, key=lambda i: longest[i])
        counts[index] += 1
        made = split(groups[index], counts[index], settings)
        pieces[(index, counts[index])] = made
        longest[index] = max(p.estimate.total_seconds for p in made)
        partition = [p for i, count in enumerate(counts) for p in pieces[(i, count)]]
        trial = _score(partition, settings, fleet, order)
        if _better(trial.key, best.key):
            best, best_counts = trial, list(counts)
    tagged = [(i, p) for i, count in enumerate(best_counts) for p in pieces[(i, count)]]
    return _rebalanced(best, tagged, settings, fleet, order)


Tagged = list[tuple[int, Process]]  # each piece with the index of the process it came from


def _rebalanced(
    current: Scored, tagged: Tagged, settings: Settings, fleet: Fleet, order: Order
) -> Scored:
    """Move one run at a time off the slot that finishes last, into another piece of the same
    process placed elsewhere, while that brings the slots' finishes forward (latest first):
    equal splits of
    unequal groups leave slots a run apart, which a move evens out. Pieces of one process
    share its priority and every rule it obeyed, and each is formed again as a block."""
    for _ in range(MAX_MOVES):
        moved = _best_move(current, tagged, settings, fleet, order)
        if moved is None:
            break
        current, tagged = moved
    return current


def _best_move(
    current: Scored, tagged: Tagged, settings: Settings, fleet: Fleet, order: Order
) -> tuple[Scored, Tagged] | None:
    slot_of = {
        id(p): at.slot for p, at in zip(current.processes, current.schedule.placements, strict=True)
    }
    finish: dict[str, float] = {}
    for at in current.schedule.placements:
        finish[at.slot] = max(finish.get(at.slot, 0.0), at.finish)
    critical = max(finish, key=lambda slot: finish[slot])
    found: tuple[Scored, Tagged] | None = None
    for group, giver in tagged:
        if slot_of[id(giver)] != critical or len(giver.runs) < 2:
            continue
        for other, taker in tagged:
            if other != group or slot_of[id(taker)] == critical:
                continue
            trial = _moved(tagged, group, giver, taker, settings)
            scored = _score([p for _, p in trial], settings, fleet, order)
            best = found[0] if found else current
            if _finishes(scored) < _finishes(best):
                found = (scored, trial)
    return found


def _finishes(scored: Scored) -> tuple[float, ...]:
    """Each slot's finish, latest first (to the microsecond): a move that ends one of two
    slots tied at the drain time sooner is progress, though the drain time waits for the
    other one's move."""
    finish: dict[str, float] = {}
    for at in scored.schedule.placements:
        finish[at.slot] = max(finish.get(at.slot, 0.0), at.finish)
    return tuple(sorted((round(f, 6) for f in finish.values()), reverse=True))


def _moved(
    tagged: Tagged, group: int, giver: Process, taker: Process, settings: Settings
) -> Tagged:
    """The partition with the giver's last run (in queue order) moved to the taker."""
    runs = sorted(giver.runs, key=_queue_place)
    moving, kept = runs[-1], runs[:-1]
    received = sorted([*taker.runs, moving], key=_queue_place)
    rest = [(g, p) for g, p in tagged if p is not giver and p is not taker]
    formed = [
        *grouping.block_processes(kept, settings),
        *grouping.block_processes(received, settings),
    ]
    return rest + [(group, p) for p in formed]


def _queue_place(run: QueuedRun) -> tuple[int, int]:
    return (-run.priority, run.queue_index)


def split(process: Process, pieces: int, settings: Settings) -> list[Process]:
    """The process's runs in `pieces` contiguous pieces of about equal compute, in (control
    set, queue place) order, each formed as a block of its own."""
    runs = _split_order(process)
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
