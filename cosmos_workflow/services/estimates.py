"""The cost model the planner and ETAs use: defaults from published figures, replaced per
(backend, GPU profile) by the newest calibration fitted to measured timings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from cosmos_workflow.domain.params import Backend
from cosmos_workflow.planner.cost import CostModel, CostParams
from cosmos_workflow.planner.cost_defaults import default_cost_model
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.targets import choose_host
from cosmos_workflow.store.timings import latest_calibrations


@dataclass(frozen=True)
class PlanningTarget:
    """The GPU a plan is made for: the configured host (the default one when none is)."""

    gpu_profile: str
    gpu_memory_gb: float

    def cost_model(self, session: Session) -> tuple[CostModel, bool]:
        """The cost model, and whether this target's profile uses calibrated parameters."""
        return calibrated_cost_model(session, self.gpu_profile)


def planning_target(ctx: Context, host_name: str | None = None) -> PlanningTarget:
    config = choose_host(ctx.settings, host_name, simulate=False).config
    return PlanningTarget(gpu_profile=config.gpu_profile, gpu_memory_gb=config.gpu_memory_gb)


def calibrated_cost_model(session: Session, gpu_profile: str) -> tuple[CostModel, bool]:
    model = default_cost_model()
    calibrated = False
    for (backend, profile), row in latest_calibrations(session).items():
        model = model.with_params(Backend(backend), profile, CostParams.from_dict(row.params))
        calibrated = calibrated or profile == gpu_profile
    return model, calibrated
