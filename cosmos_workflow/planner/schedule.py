"""Scheduling model processes on a fleet, and the drain time no plan can beat.

`list_schedule` plays what the workers do: jobs in queue order, each taken by the slot that is
free first (ties: the slot listed first), each lasting its predicted seconds on that slot's GPU
profile. The drain time is when the last slot is done, running jobs included.

`drain_lower_bound` is a bound that holds for every plan of the same runs on the same fleet:

- every slot that runs anything pays at least one model load first, the cheapest any queued run
  needs on its profile (`L_s`), and cannot start before its running job ends (`b_s`);
- measured in the seconds of a reference profile, a slot does at most `sigma_s` reference
  seconds of compute per second, where `sigma_s` is the largest ratio, over the queued runs,
  of a run's compute on the reference profile to its compute on the slot's profile (identical
  slots: 1);
- so by time T the fleet has done at most sum_s sigma_s * max(0, T - b_s - L_s) reference
  seconds of compute, which must reach the runs' total W: the smallest such T is a bound. For
  identical free slots it is `L + W / slots`;
- no run ends before its cheapest load plus its compute on the slot where that is soonest;
- runs are not divided: some slot runs at least ceil(runs / slots) of them, after its load, so
  it is busy at least that long with the smallest computes of its profile (pigeonhole);
- no plan ends before the running jobs do.

Each run's compute is the least it can cost in any process (alone, loading only its own controls,
at the largest GPU-batch saving where GPU batching is allowed), so the bound stays a bound."""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cosmos_workflow.domain.fleet import Fleet

EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Placement:
    """Where and when one job of a schedule runs (seconds from now)."""

    slot: str
    start: float
    finish: float

    @property
    def seconds(self) -> float:
        return self.finish - self.start


@dataclass(frozen=True, slots=True)
class Schedule:
    placements: tuple[Placement, ...]  # one per job, in the order given
    drain_seconds: float  # when the last slot is done (its running job included)
    gpu_seconds: float  # the jobs' predicted seconds on the slots they were placed on


def list_schedule(seconds_by_profile: Sequence[Mapping[str, float]], fleet: Fleet) -> Schedule:
    """Place jobs (each given as predicted seconds per GPU profile) in the order given, each on
    the slot free first. A profile a job has no figure for falls back to its largest figure."""
    free = [(slot.busy_for_seconds, index) for index, slot in enumerate(fleet.slots)]
    heapq.heapify(free)
    placements: list[Placement] = []
    total = 0.0
    for seconds in seconds_by_profile:
        start, index = heapq.heappop(free)
        slot = fleet.slots[index]
        duration = seconds.get(slot.gpu_profile)
        if duration is None:
            duration = max(seconds.values(), default=0.0)
        placements.append(Placement(slot.name, start, start + duration))
        total += duration
        heapq.heappush(free, (start + duration, index))
    drain = max((at for at, _ in free), default=0.0)
    return Schedule(tuple(placements), drain, total)


@dataclass(frozen=True, slots=True)
class RunBound:
    """What one run costs at least, per GPU profile: its compute, and the load of a process
    that can run it."""

    compute_seconds: Mapping[str, float]
    load_seconds: Mapping[str, float]


def drain_lower_bound(runs: Sequence[RunBound], fleet: Fleet) -> float:
    """The drain time no plan of `runs` on `fleet` can beat (see the module docstring)."""
    running = max((slot.busy_for_seconds for slot in fleet.slots), default=0.0)
    if not runs:
        return running
    profiles = fleet.profiles
    reference = profiles[0]
    work = sum(run.compute_seconds[reference] for run in runs)
    rate = {
        profile: max(
            run.compute_seconds[reference] / max(run.compute_seconds[profile], EPSILON)
            for run in runs
        )
        for profile in profiles
    }
    least_load = {profile: min(run.load_seconds[profile] for run in runs) for profile in profiles}
    starts = [
        (slot.busy_for_seconds + least_load[slot.gpu_profile], rate[slot.gpu_profile])
        for slot in fleet.slots
    ]
    longest = max(
        min(
            slot.busy_for_seconds
            + run.load_seconds[slot.gpu_profile]
            + run.compute_seconds[slot.gpu_profile]
            for slot in fleet.slots
        )
        for run in runs
    )
    return max(
        running, longest, _capacity_bound(starts, work), _pigeonhole(runs, fleet, least_load)
    )


def _pigeonhole(runs: Sequence[RunBound], fleet: Fleet, least_load: Mapping[str, float]) -> float:
    """Some slot runs at least ceil(n / slots) runs: it cannot end before its running job, its
    least load and the sum of that many of the smallest computes on its profile."""
    share = -(-len(runs) // len(fleet.slots))
    smallest = {
        profile: sum(sorted(run.compute_seconds[profile] for run in runs)[:share])
        for profile in fleet.profiles
    }
    return min(
        slot.busy_for_seconds + least_load[slot.gpu_profile] + smallest[slot.gpu_profile]
        for slot in fleet.slots
    )


def _capacity_bound(starts: Sequence[tuple[float, float]], work: float) -> float:
    """The smallest T with sum(rate * max(0, T - start)) >= work: the capacity grows linearly
    between the sorted start times, so walk them until it reaches `work`."""
    ordered = sorted(starts)
    done = 0.0  # capacity at time `at`
    rate = 0.0  # its growth per second from `at` on
    at = ordered[0][0]
    for start, slot_rate in ordered:
        reach = done + rate * (start - at)
        if rate > 0 and reach >= work:
            return at + (work - done) / rate
        done, at = reach, start
        rate += slot_rate
    return at + (work - done) / rate if rate > 0 else at
