"""What plans and estimates are made for: the fleet of configured slots, and the cost model
(defaults from published figures, replaced per (backend, GPU profile) by the newest calibration
fitted to measured timings).

A fleet may mix GPU profiles. Processes are formed for its slowest profile and smallest GPU
memory, so every batch fits every slot, and predicted per slot profile when scheduled; a job's
stored estimate (the queue's "predicted" column) is its time on the slowest profile. A batching
verification counts only where it holds on every profile of the fleet."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from pydantic import BaseModel, ConfigDict, Field

from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.domain.fleet import Fleet, Slot, host_slots
from cosmos_workflow.domain.params import Backend, default_params
from cosmos_workflow.domain.verdicts import VerdictKey
from cosmos_workflow.domain.work import QueuedRun, VideoInfo
from cosmos_workflow.planner.cost import CostModel, CostParams
from cosmos_workflow.planner.cost_defaults import default_cost_model
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.targets import choose_hosts, pace_of
from cosmos_workflow.store.db import now
from cosmos_workflow.store.session import Session
from cosmos_workflow.store.timings import latest_calibrations, learned_limits
from cosmos_workflow.store.verdicts import verified_keys
from cosmos_workflow.store.workers import SlotJob, running_on_slots

MAX_SLOTS = 4096  # a fleet described by its size (`--slots N`) holds at most this many
MAX_SLOT_GROUPS = 64


class SlotGroup(BaseModel):
    """Part of a fleet described in a request: `slots` identical slots of one GPU profile."""

    model_config = ConfigDict(extra="forbid", strict=True)

    gpu_profile: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    slots: int = Field(ge=1, le=MAX_SLOTS)
    gpu_memory_gb: float = Field(80.0, gt=0, le=4096)


@dataclass(frozen=True)
class PlanningTarget:
    """The fleet a plan is made for, and the profile and memory its processes are formed for."""

    fleet: Fleet
    simulated: frozenset[tuple[str, bool]]  # (GPU profile, runs the simulator) of its slots
    # Real seconds per predicted GPU second, by host: the time scale of a simulated host (a
    # host not listed runs in real time). Plans are GPU time; ETAs are wall-clock time.
    paces: Mapping[str, float] = field(default_factory=dict)

    def pace(self, slot: Slot) -> float:
        return self.paces.get(slot.host, 1.0)

    @property
    def gpu_profile(self) -> str:
        return slowest_profile(self.fleet.profiles)

    @property
    def gpu_memory_gb(self) -> float:
        return self.fleet.smallest_memory_gb

    def cost_model(self, session: Session) -> tuple[CostModel, bool]:
        """The cost model, and whether the planned profile uses calibrated parameters."""
        return calibrated_cost_model(session, self.gpu_profile)

    def verified_keys(self, session: Session) -> frozenset[VerdictKey]:
        """The stored verifications that hold on every slot of the fleet: measured on its GPU
        profile, and on the simulator exactly when that slot is simulated (a simulated verdict
        proves nothing about NVIDIA's real outputs, and a real one says nothing about the
        simulator's); keyed to the planned profile, as the planner reads them."""
        held: set[VerdictKey] | None = None
        for profile, simulated in sorted(self.simulated):
            keys = {
                replace(key, gpu_profile=self.gpu_profile)
                for key in verified_keys(session, simulated=simulated)
                if key.gpu_profile == profile
            }
            held = keys if held is None else held & keys
        return frozenset(held or ())

    def learned_limits(self, session: Session) -> dict[tuple[str, str], int]:
        """The largest GPU batches learned to fit, the smallest over the fleet's profiles."""
        limits: dict[tuple[str, str], int] = {}
        for profile in self.fleet.profiles:
            for key, size in learned_limits(session, profile).items():
                limits[key] = min(size, limits.get(key, size))
        return limits

    def with_busy_slots(
        self,
        session: Session,
        running: Sequence[SlotJob] | None = None,
        cost: CostModel | None = None,
    ) -> PlanningTarget:
        """The same fleet with each slot busy for the GPU time its running job has left
        (predicted, scaled to the slot's profile; on a simulated host the wall-clock time left
        is that GPU time times its pace); `running` and `cost` when the caller has them."""
        jobs = running_on_slots(session) if running is None else running
        model = cost if cost is not None else self.cost_model(session)[0]
        stamp = now()
        busy: dict[str, float] = {}
        for job in jobs:
            slot = self.fleet.slot(job.slot) if job.slot else None
            finish = self.finish_of(job, slot, model) if slot else None
            if slot is not None and finish is not None:
                pace = self.pace(slot)
                busy[slot.name] = max(0.0, finish - stamp) / pace if pace > 0 else 0.0
        return replace(self, fleet=self.fleet.with_busy(busy))

    def finish_of(self, job: SlotJob, slot: Slot, cost: CostModel) -> float | None:
        """When a running job is predicted to end on its slot (Unix seconds): its stored
        prediction, made for the planned profile, scaled to the slot's, at the slot's pace."""
        if job.started_at is None or job.predicted_seconds is None:
            return None
        scale = profile_scale(cost, job.backend, slot.gpu_profile, self.gpu_profile)
        return job.started_at + job.predicted_seconds * scale * self.pace(slot)


def planning_target(
    ctx: Context,
    host_name: str | None = None,
    *,
    slots: int | None = None,
    groups: Sequence[SlotGroup] | None = None,
) -> PlanningTarget:
    """Every slot of the configured hosts (or of one host); or a fleet the caller describes:
    `slots` identical slots of the configured fleet's slowest profile and smallest memory, or
    `groups` of slots per GPU profile. A described fleet's slots are all free."""
    choices = choose_hosts(ctx.settings, [host_name] if host_name else [], simulate=False)
    fleet = Fleet.of(slot for choice in choices for slot in choice.slots)
    simulated = frozenset((c.config.gpu_profile, c.simulate) for c in choices)
    paces = {c.config.name: pace_of(c, ctx.settings.sim_time_scale) for c in choices if c.simulate}
    if slots is not None and groups is not None:
        raise InvalidInput("give slots or a fleet description, not both", field="fleet")
    if slots is not None:
        check_slots(slots)
        profile = slowest_profile(fleet.profiles)
        return PlanningTarget(Fleet.uniform(slots, profile, fleet.smallest_memory_gb), simulated)
    if groups is not None:
        return _described(groups, simulated)
    return PlanningTarget(fleet, simulated, paces)


def _described(
    groups: Sequence[SlotGroup], simulated: frozenset[tuple[str, bool]]
) -> PlanningTarget:
    """Slots per described group, named `<profile>-<group>/<index>`. Their verifications are
    those of the configured hosts' kind (real or simulated)."""
    total = sum(group.slots for group in groups)
    if not groups or len(groups) > MAX_SLOT_GROUPS or total > MAX_SLOTS:
        raise InvalidInput(
            f"a fleet description holds 1 to {MAX_SLOT_GROUPS} groups and at most {MAX_SLOTS} "
            "slots in all",
            field="fleet",
        )
    slots = [
        slot
        for number, group in enumerate(groups)
        for slot in host_slots(
            f"{group.gpu_profile}-{number}",
            [(index,) for index in range(group.slots)],
            group.gpu_profile,
            group.gpu_memory_gb,
        )
    ]
    kinds = {is_simulated for _, is_simulated in simulated}
    profiles = {group.gpu_profile for group in groups}
    return PlanningTarget(Fleet.of(slots), frozenset((p, k) for p in profiles for k in kinds))


def check_slots(slots: object) -> None:
    if isinstance(slots, bool) or not isinstance(slots, int) or not 1 <= slots <= MAX_SLOTS:
        raise InvalidInput(f"slots must be a whole number from 1 to {MAX_SLOTS}", field="slots")


def profile_scale(cost: CostModel, backend: str, profile: str, planned: str) -> float:
    """A job's seconds on `profile` over its seconds on the `planned` profile (the one its
    stored prediction is for), by the cost model's reference run of its backend."""
    if profile == planned:
        return 1.0
    kind = Backend(backend)
    run = replace(REFERENCE_RUN, params=default_params(kind), negative_prompt=None)
    base = cost.predict(kind, planned, [run]).total_seconds
    return cost.predict(kind, profile, [run]).total_seconds / base if base > 0 else 1.0


def slowest_profile(profiles: Iterable[str]) -> str:
    """The profile on which a reference run (Transfer1, one edge control, 121 frames, 35 steps)
    takes longest by the default cost model; the first listed on a tie."""
    return _slowest(tuple(profiles))


@functools.cache
def _slowest(profiles: tuple[str, ...]) -> str:
    model = default_cost_model()
    return max(
        profiles, key=lambda p: model.predict(Backend.TRANSFER1, p, [REFERENCE_RUN]).total_seconds
    )


REFERENCE_RUN = QueuedRun(
    run_id="reference",
    job_id="reference",
    priority=0,
    queue_index=0,
    weights={Control.EDGE: 0.5},
    params=default_params(Backend.TRANSFER1),
    negative_prompt="",
    video=VideoInfo(frames=121, fps=24.0, width=1280, height=704),
)


def calibrated_cost_model(session: Session, gpu_profile: str) -> tuple[CostModel, bool]:
    model = default_cost_model()
    calibrated = False
    for (backend, profile), row in latest_calibrations(session).items():
        model = model.with_params(Backend(backend), profile, CostParams.from_dict(row.params))
        calibrated = calibrated or profile == gpu_profile
    return model, calibrated
