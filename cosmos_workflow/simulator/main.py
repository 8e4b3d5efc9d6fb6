"""`cosmos-sim REAL_ARGV...`: run NVIDIA's command line against the simulator instead of a GPU.

The real argv is received verbatim (a launcher such as `torchrun ...` or `python`, the entry point
script, its arguments); the entry point is recognised by its script path."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

from cosmos_workflow.simulator.runtime import Runtime, SimulatedExit

TRANSFER1_SCRIPT = "cosmos_transfer1/diffusion/inference/transfer.py"
UPSAMPLER_SCRIPT = "cosmos_transfer1/auxiliary/upsampler/inference/upsampler_pipeline.py"
TRANSFER2_5_SCRIPT = "examples/inference.py"
TORCHRUN_VALUE_FLAGS = {
    "--nproc_per_node",
    "--nnodes",
    "--node_rank",
    "--master_port",
    "--master_addr",
    "--rdzv_backend",
    "--rdzv_endpoint",
    "--rdzv_id",
    "--max_restarts",
}


@dataclass(frozen=True, slots=True)
class Launch:
    script: str
    args: list[str]
    nproc: int
    torchrun: bool


def split_launcher(argv: Sequence[str]) -> Launch:
    """Strip `torchrun [flags]` or `python` and return the script, its args and the world size."""
    if not argv:
        raise ValueError("usage: cosmos-sim REAL_COMMAND [ARGS...]")
    rest = list(argv)
    launcher = rest.pop(0)
    nproc, torchrun = 1, launcher.endswith("torchrun")
    if torchrun:
        while rest and rest[0].startswith("--"):
            flag = rest.pop(0)
            name, _, value = flag.partition("=")
            # torchrun takes both spellings, --nproc_per_node and --nproc-per-node.
            name = "--" + name[2:].replace("-", "_")
            if not value and name in TORCHRUN_VALUE_FLAGS:
                value = rest.pop(0) if rest else ""
            if name == "--nproc_per_node":
                nproc = int(value)
    elif launcher.rsplit("/", 1)[-1].startswith("python"):
        while rest and rest[0].startswith("-") and not rest[0].endswith(".py"):
            rest.pop(0)
    else:
        rest.insert(0, launcher)
    if not rest:
        raise ValueError("no entry point script in the command")
    return Launch(rest[0], rest[1:], nproc, torchrun)


def simulate(argv: Sequence[str]) -> int:
    try:
        launch = split_launcher(argv)
    except ValueError as exc:
        print(f"cosmos-sim: {exc}", file=sys.stderr)
        return 2
    try:
        runtime = Runtime()
    except ValueError as exc:
        print(f"cosmos-sim: {exc}", file=sys.stderr)
        return 2
    try:
        _dispatch(launch, runtime)
    except SimulatedExit as end:
        return end.code
    return 0


def _dispatch(launch: Launch, runtime: Runtime) -> None:
    if launch.script.endswith(TRANSFER1_SCRIPT):
        from cosmos_workflow.simulator.transfer1 import run_transfer

        run_transfer(launch.args, launch.nproc, runtime)
    elif launch.script.endswith(UPSAMPLER_SCRIPT):
        from cosmos_workflow.simulator.upsampler import run_upsampler

        run_upsampler(launch.args, launch.torchrun, launch.nproc, runtime)
    elif launch.script.endswith(TRANSFER2_5_SCRIPT):
        from cosmos_workflow.simulator.transfer2_5 import run_inference

        run_inference(launch.args, launch.nproc, runtime)
    else:
        print(f"cosmos-sim: no simulation for entry point {launch.script}", file=sys.stderr)
        raise SimulatedExit(2)


def run() -> None:
    sys.exit(simulate(sys.argv[1:]))
