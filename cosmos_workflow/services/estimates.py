"""The cost model the planner and ETAs use: defaults from published figures, replaced per
(backend, GPU profile) by the newest calibration fitted to measured timings."""

from __future__ import annotations

from dataclasses import dataclass

from cosmos_workflow.domain.params import Backend
from cosmos_workflow.domain.verdicts import VerdictKey
from cosmos_workflow.planner.cost import CostModel, CostParams
from cosmos_workflow.planner.cost_defaults import default_cost_model
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.targets import choose_host
from cosmos_workflow.store.session import Session
from cosmos_workflow.store.timings import latest_calibrations
from cosmos_workflow.store.verdicts import verified_keys


@dataclass(frozen=True)
class PlanningTarget:
    """The GPU a plan is made for: the configured host (the default one when none is)."""

    gpu_profile: str
    gpu_memory_gb: float
    simulated: bool  # the host runs the simulator: only simulated verifications hold there

    def cost_model(self, session: Session) -> tuple[CostModel, bool]:
        """The cost model, and whether this target's profile uses calibrated parameters."""
        return calibrated_cost_model(session, self.gpu_profile)

    def verified_keys(self, session: Session) -> frozenset[VerdictKey]:
        """The stored verifications that hold for this target: its GPU profile, and measured on
        the simulator exactly when the target is simulated (a simulated verdict proves nothing
        about NVIDIA's real outputs, and a real one says nothing about the simulator's)."""
        return frozenset(
            key
            for key in verified_keys(session, simulated=self.simulated)
            if key.gpu_profile == self.gpu_profile
        )


def planning_target(ctx: Context, host_name: str | None = None) -> PlanningTarget:
    config = choose_host(ctx.settings, host_name, simulate=False).config
    return PlanningTarget(
        gpu_profile=config.gpu_profile,
        gpu_memory_gb=config.gpu_memory_gb,
        simulated=config.simulate,
    )


def calibrated_cost_model(session: Session, gpu_profile: str) -> tuple[CostModel, bool]:
    model = default_cost_model()
    calibrated = False
    for (backend, profile), row in latest_calibrations(session).items():
        model = model.with_params(Backend(backend), profile, CostParams.from_dict(row.params))
        calibrated = calibrated or profile == gpu_profile
    return model, calibrated
