"""A small finished sweep, made through the real services and a real simulated worker."""

from __future__ import annotations

import os
from pathlib import Path

from cosmos_workflow.config import load_settings
from cosmos_workflow.domain.sweeps import parse_axis
from cosmos_workflow.services import sweeps
from cosmos_workflow.services.context import Context
from cosmos_workflow.worker.loop import run_worker
from tests.services.helpers import seed_prompts

# depth x seg x 2 seeds: 4 combinations, of which depth=0 seg=0 asks for no control and is
# skipped, so each seed's grid has one empty cell.
AXES = ("depth=0,0.4", "seg=0,0.6")
SEEDS = "1,2"


def with_host(ctx: Context, code_dir: str = "/opt/cosmos-transfer") -> Context:
    """A context whose configuration declares one simulated host with an absolute checkout, so
    `cosmos job render` (and so the export's command) can render its jobs."""
    Path(os.environ["COSMOS_CONFIG"]).write_text(
        f'[[hosts]]\nname = "gpu1"\nsimulate = true\ncode_dir = "{code_dir}"\n'
    )
    ctx.db.dispose()
    return Context(load_settings())


def queue_small_sweep(ctx: Context, name: str = "look", prompts: int = 1) -> sweeps.SweepView:
    prompt_ids = seed_prompts(ctx, prompts)
    request = sweeps.build_sweep(
        prompt_ids, [parse_axis(a) for a in AXES], seeds=SEEDS, name=name, params={"steps": 5}
    )
    result = sweeps.queue_sweep(ctx, request)
    assert result.sweep is not None
    return result.sweep


def finish_all(ctx: Context) -> int:
    ctx.settings.sim_time_scale = 0.0
    return run_worker(ctx, simulate=True, exit_when_idle=True)
