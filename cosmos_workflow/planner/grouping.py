"""Forming candidate processes from queued runs, per mode (see `plan` for the rules).

Costs while searching come from `Stats` aggregates (one pass over the runs), so planning stays
near O(n log n); the processes finally formed are predicted run by run."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cosmos_workflow.domain.controls import ControlSet
from cosmos_workflow.domain.params import Backend
from cosmos_workflow.domain.work import QueuedRun
from cosmos_workflow.planner import compat, memory
from cosmos_workflow.planner.cost import load_seconds
from cosmos_workflow.planner.process import (
    PlanMode,
    Process,
    Settings,
    Stats,
    make_process,
    run_seconds,
)

EXACT_SEARCH_SETS = 8  # up to this many control sets per group, auto tries every partition

Block = list[ControlSet]


def grouped_processes(
    ordered: Sequence[QueuedRun], mode: PlanMode, settings: Settings
) -> list[Process]:
    """Processes formed from all compatible runs, wherever they are in the queue."""
    groups: dict[tuple[object, ...], dict[ControlSet, list[QueuedRun]]] = {}
    for run in ordered:
        groups.setdefault(compat.process_key(run), {}).setdefault(run.controls, []).append(run)
    processes: list[Process] = []
    for by_set in groups.values():
        for block in _blocks(by_set, mode, settings):
            runs = [run for controls in block for run in by_set[controls]]
            processes.extend(block_processes(runs, settings))
    return processes


def _blocks(
    by_set: Mapping[ControlSet, Sequence[QueuedRun]], mode: PlanMode, settings: Settings
) -> list[Block]:
    sets = list(by_set)
    if mode is PlanMode.STRICT:
        return [[controls] for controls in sets]
    if mode is PlanMode.MIXED:
        return _pack(sets, by_set, settings)
    return _search(sets, by_set, settings)


def _pack(
    sets: Sequence[ControlSet],
    by_set: Mapping[ControlSet, Sequence[QueuedRun]],
    settings: Settings,
) -> list[Block]:
    """All sets in one block, opening another only where the union would not fit in memory
    (or, under the output rule, where mixing that union is not verified)."""
    blocks: list[tuple[Block, ControlSet, int]] = []
    first = by_set[sets[0]][0]
    backend, distilled = first.backend, first.params.distilled
    for controls in sets:
        frames = max(run.video.frames for run in by_set[controls])
        for index, (block, union, most) in enumerate(blocks):
            merged, longest = union | controls, max(most, frames)
            if memory.mixing_fits(
                backend, merged, longest, settings.gpu_memory_gb
            ) and settings.may_mix(backend, distilled, merged):
                blocks[index] = ([*block, controls], merged, longest)
                break
        else:
            blocks.append(([controls], controls, frames))
    return [block for block, _, _ in blocks]


# --- auto: the cheapest partition of control sets --------------------------------------------


@dataclass(frozen=True, slots=True)
class _Search:
    sets: list[ControlSet]
    stats: list[Stats]
    singles: list[float]  # exact seconds of each set on its own
    backend: Backend
    distilled: bool
    settings: Settings

    def block_seconds(self, members: Sequence[int]) -> float:
        if len(members) == 1:
            return self.singles[members[0]]
        merged = self.stats[members[0]]
        for index in members[1:]:
            merged = merged.merged(self.stats[index])
        if not memory.mixing_fits(
            self.backend, merged.controls, merged.max_frames, self.settings.gpu_memory_gb
        ):
            return math.inf
        if not self.settings.may_mix(self.backend, self.distilled, merged.controls):
            return math.inf  # the output rule forbids this mixed block
        params = self.settings.params(self.backend)
        return merged.seconds(self.backend, params, self.settings.max_batch_size)


def _search(
    sets: Sequence[ControlSet],
    by_set: Mapping[ControlSet, Sequence[QueuedRun]],
    settings: Settings,
) -> list[Block]:
    first = by_set[sets[0]][0]
    params = settings.params(first.backend)
    search = _Search(
        sets=list(sets),
        stats=[Stats.of(by_set[controls], params) for controls in sets],
        singles=[_seconds(block_processes(by_set[c], settings)) for c in sets],
        backend=first.backend,
        distilled=first.params.distilled,
        settings=settings,
    )
    groups = _exact(search) if len(sets) <= EXACT_SEARCH_SETS else _greedy(search)
    return [[search.sets[index] for index in group] for group in groups]


def _exact(search: _Search) -> list[list[int]]:
    """Every set partition, by dynamic programming over subsets (3^k steps for k sets)."""
    count = len(search.sets)
    full = (1 << count) - 1
    block = [0.0] * (full + 1)
    for mask in range(1, full + 1):
        block[mask] = search.block_seconds(_members(mask))
    best = [0.0] + [math.inf] * full
    choice = [0] * (full + 1)
    for mask in range(1, full + 1):
        lowest = mask & -mask
        rest = mask ^ lowest
        sub = rest
        while True:
            part = sub | lowest
            seconds = block[part] + best[mask ^ part]
            if seconds < best[mask]:
                best[mask], choice[mask] = seconds, part
            if sub == 0:
                break
            sub = (sub - 1) & rest
    groups = []
    mask = full
    while mask:
        groups.append(_members(choice[mask]))
        mask ^= choice[mask]
    return groups


def _members(mask: int) -> list[int]:
    return [index for index in range(mask.bit_length()) if mask >> index & 1]


def _greedy(search: _Search) -> list[list[int]]:
    """Merge the pair of blocks that saves most, until no merge saves anything."""
    groups = [[index] for index in range(len(search.sets))]
    seconds = [search.block_seconds(group) for group in groups]
    while True:
        best: tuple[float, int, int] | None = None
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                merged = search.block_seconds(groups[i] + groups[j])
                saving = seconds[i] + seconds[j] - merged
                if saving > 0 and (best is None or saving > best[0]):
                    best = (saving, i, j)
        if best is None:
            return groups
        _, i, j = best
        groups[i] = groups[i] + groups.pop(j)
        seconds.pop(j)
        seconds[i] = search.block_seconds(groups[i])


def _seconds(processes: Sequence[Process]) -> float:
    return sum(p.estimate.total_seconds for p in processes)


# --- strict FIFO: only neighbours in queue order merge ---------------------------------------


def fifo_processes(
    ordered: Sequence[QueuedRun], mode: PlanMode, settings: Settings
) -> list[Process]:
    """Walk the queue in order; each piece (one job's runs of one control set) joins the batch
    just before it when allowed, so no job moves past another."""
    blocks: list[tuple[list[QueuedRun], Stats]] = []
    for piece in _pieces(ordered):
        stats = Stats.of(piece, settings.params(piece[0].backend))
        if blocks and _may_join(blocks[-1], piece, stats, mode, settings):
            runs, joined = blocks[-1]
            blocks[-1] = ([*runs, *piece], joined.merged(stats))
        else:
            blocks.append((list(piece), stats))
    processes: list[Process] = []
    for runs, _ in blocks:
        processes.extend(block_processes(runs, settings))
    return processes


def _pieces(ordered: Sequence[QueuedRun]) -> list[list[QueuedRun]]:
    jobs: dict[str, dict[ControlSet, list[QueuedRun]]] = {}
    for run in ordered:
        jobs.setdefault(run.job_id, {}).setdefault(run.controls, []).append(run)
    return [piece for by_set in jobs.values() for piece in by_set.values()]


def _may_join(
    last: tuple[list[QueuedRun], Stats],
    piece: Sequence[QueuedRun],
    stats: Stats,
    mode: PlanMode,
    settings: Settings,
) -> bool:
    runs, current = last
    if compat.process_key(runs[0]) != compat.process_key(piece[0]):
        return False
    limit = settings.max_batch_size
    if limit is not None and current.runs + stats.runs > limit:
        return False
    if mode is PlanMode.STRICT:
        return current.control_sets == stats.control_sets
    backend = piece[0].backend
    merged = current.merged(stats)
    if not memory.mixing_fits(backend, merged.controls, merged.max_frames, settings.gpu_memory_gb):
        return False
    mixing = len(merged.control_sets) > 1
    if mixing and not settings.may_mix(backend, piece[0].params.distilled, merged.controls):
        return False
    if mode is PlanMode.MIXED:
        return True
    params = settings.params(backend)
    apart = current.seconds(backend, params, None) + stats.seconds(backend, params, None)
    return merged.seconds(backend, params, None) < apart


# --- from a block of runs to processes -------------------------------------------------------


def block_processes(runs: Sequence[QueuedRun], settings: Settings) -> list[Process]:
    """One block as processes: cut at `max_batch_size`; a Transfer1 chunk of one control set
    GPU-batches its runs where allowed (splitting off sub-groups where that pays for their
    load)."""
    size = settings.max_batch_size or len(runs)
    processes: list[Process] = []
    for start in range(0, len(runs), size):
        processes.extend(_chunk_processes(runs[start : start + size], settings))
    return processes


def _chunk_processes(chunk: Sequence[QueuedRun], settings: Settings) -> list[Process]:
    first = chunk[0]
    sets = list(dict.fromkeys(run.controls for run in chunk))
    if len(sets) > 1:
        if settings.may_mix(first.backend, first.params.distilled, compat.control_union(chunk)):
            return [make_process(chunk, settings)]
        # A chunk of a verified block can have a smaller union, whose mixing is not verified:
        # under the output rule its control sets then run apart.
        return [
            process
            for controls in sets
            for process in block_processes([r for r in chunk if r.controls == controls], settings)
        ]
    if first.backend is Backend.TRANSFER1 and settings.may_gpu_batch(
        first.backend, first.params.distilled, first.controls
    ):
        return _gpu_split(chunk, settings)
    return [make_process(chunk, settings)]


def _gpu_split(chunk: Sequence[QueuedRun], settings: Settings) -> list[Process]:
    subgroups: dict[tuple[int, str, ControlSet], list[QueuedRun]] = {}
    for run in chunk:
        subgroups.setdefault(compat.gpu_batch_key(run), []).append(run)
    if len(subgroups) == 1:
        return [make_process(chunk, settings)]
    backend = chunk[0].backend
    controls = chunk[0].controls
    params = settings.params(backend)
    load = load_seconds(params, backend, controls)
    alone = {run.run_id: run_seconds(params, run, controls) for run in chunk}
    remaining = len(chunk)
    split: list[Process] = []
    taken: set[str] = set()
    for group in sorted(subgroups.values(), key=len, reverse=True):
        if len(group) < 2:
            continue
        candidate = make_process(group, settings)
        if candidate.gpu_batch_size < 2:
            continue
        freed = load if remaining == len(group) else 0.0
        if candidate.estimate.total_seconds < sum(alone[r.run_id] for r in group) + freed:
            split.append(candidate)
            taken.update(run.run_id for run in group)
            remaining -= len(group)
    rest = [run for run in chunk if run.run_id not in taken]
    return split + ([make_process(rest, settings)] if rest else [])
