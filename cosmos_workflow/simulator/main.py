"""`cosmos-sim REAL_ARGV...`: run NVIDIA's command line against the simulator instead of a GPU.

The real argv is received verbatim (a launcher such as `torchrun ...` or `python`, the entry point
script or `-m MODULE`, its arguments); the entry point is recognised by its script path or module
name."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

from cosmos_workflow.simulator import devices
from cosmos_workflow.simulator.runtime import Runtime, SimulatedExit

TRANSFER1_SCRIPT = "cosmos_transfer1/diffusion/inference/transfer.py"
UPSAMPLER_SCRIPT = "cosmos_transfer1/auxiliary/upsampler/inference/upsampler_pipeline.py"
TRANSFER2_5_SCRIPT = "examples/inference.py"
COSMOS3_MODULE = "cosmos_framework.scripts.inference"
COSMOS3_SCRIPT = "cosmos_framework/scripts/inference.py"
# python's own options that take a value (`python --help`); `-m MODULE` ends python's options.
PYTHON_VALUE_OPTIONS = {"-W", "-X", "-c"}
# torchrun's long options that take a value (torch/distributed/run.py `get_args_parser`, torch
# 2.6.0); the others (--standalone, --module, --no_python, --run_path) are bare flags.
TORCHRUN_VALUE_FLAGS = {
    "--nproc_per_node",
    "--nnodes",
    "--node_rank",
    "--master_port",
    "--master_addr",
    "--rdzv_backend",
    "--rdzv_endpoint",
    "--rdzv_id",
    "--rdzv_conf",
    "--max_restarts",
    "--monitor_interval",
    "--start_method",
    "--role",
    "--log_dir",
    "--redirects",
    "--tee",
    "--local_ranks_filter",
    "--local_addr",
    "--logs_specs",
}
DEFAULT_MASTER_PORT = 29500  # torch/distributed/run.py 609-611 (torch 2.6.0)


@dataclass(frozen=True, slots=True)
class Launch:
    script: str
    args: list[str]
    nproc: int
    torchrun: bool
    # torchrun's rendezvous: what decides whether and where its agent listens.
    master_port: int = DEFAULT_MASTER_PORT
    standalone: bool = False
    rdzv_backend: str = "static"
    rdzv_endpoint: str = ""
    node_rank: int = 0
    # `python -m MODULE` / `torchrun -m MODULE`: `script` is the module's dotted name.
    module: bool = False

    @property
    def bound_port(self) -> int | None:
        """The port torchrun's agent listens on, or None. The static rendezvous (the default,
        torch/distributed/run.py 450) listens on node rank 0 (run.py 809;
        elastic/rendezvous/static_tcp_rendezvous.py 65-74), at `--rdzv_endpoint` when given,
        else at `--master_port` (run.py 719-722). `--standalone` switches to a c10d rendezvous
        on port 0, a free port (run.py 892-895). Other backends, and an endpoint without a
        port, are not simulated: no port is held."""
        if not self.torchrun or self.standalone or self.rdzv_backend != "static":
            return None
        if self.node_rank != 0:
            return None
        if not self.rdzv_endpoint:
            return self.master_port
        port = self.rdzv_endpoint.rpartition(":")[2]
        return int(port) if port.isdigit() else None


def split_launcher(argv: Sequence[str]) -> Launch:
    """Strip `torchrun [flags]` or `python [options]` and return the script (or `-m` module),
    its args, the world size and the torchrun flags that decide its rendezvous."""
    if not argv:
        raise ValueError("usage: cosmos-sim REAL_COMMAND [ARGS...]")
    rest = list(argv)
    launcher = rest.pop(0)
    if launcher.endswith("torchrun"):
        flags = _torchrun_flags(rest)
        module = "--module" in flags or _pop_module_flag(rest)
        return _launch(rest, flags, module)
    module = False
    if launcher.rsplit("/", 1)[-1].startswith("python"):
        module = _python_options(rest)
    else:
        rest.insert(0, launcher)
    return _launch(rest, None, module)


def _python_options(rest: list[str]) -> bool:
    """Pop python's options off the front of `rest`; True when `-m` named a module, which is
    then first in `rest` (everything after it is the module's own argv)."""
    while rest and rest[0].startswith("-") and not rest[0].endswith(".py"):
        option = rest.pop(0)
        if option == "-m":
            return True
        if option in PYTHON_VALUE_OPTIONS and rest:
            rest.pop(0)
    return False


def _pop_module_flag(rest: list[str]) -> bool:
    """torchrun's `-m`, the short spelling of `--module` (torch/distributed/run.py)."""
    if rest and rest[0] == "-m":
        rest.pop(0)
        return True
    return False


def _torchrun_flags(rest: list[str]) -> dict[str, str]:
    """Pop torchrun's own flags off the front of `rest`: name (underscore spelling) -> value,
    "" for a bare flag such as --standalone."""
    flags: dict[str, str] = {}
    while rest and rest[0].startswith("--"):
        name, _, value = rest.pop(0).partition("=")
        # torchrun takes both spellings, --nproc_per_node and --nproc-per-node.
        name = "--" + name[2:].replace("-", "_")
        if not value and name in TORCHRUN_VALUE_FLAGS:
            value = rest.pop(0) if rest else ""
        flags[name] = value
    return flags


def _launch(rest: list[str], torchrun: dict[str, str] | None, module: bool = False) -> Launch:
    """The launch of `rest` (the script or module first); `torchrun` holds the launcher's flags,
    None for a plain process."""
    if not rest:
        raise ValueError("no entry point script in the command")
    if torchrun is None:
        return Launch(rest[0], rest[1:], 1, False, module=module)
    return Launch(
        rest[0],
        rest[1:],
        int(torchrun.get("--nproc_per_node", "1")),
        True,
        master_port=int(torchrun.get("--master_port", DEFAULT_MASTER_PORT)),
        standalone="--standalone" in torchrun,
        rdzv_backend=torchrun.get("--rdzv_backend", "static"),
        rdzv_endpoint=torchrun.get("--rdzv_endpoint", ""),
        node_rank=int(torchrun.get("--node_rank", "0")),
        module=module,
    )


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
        # Where the real process binds torchrun's port and initialises CUDA: before any model
        # loads and before anything is written.
        with devices.pinned(launch.nproc, launch.bound_port):
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
    elif _is_cosmos3(launch):
        from cosmos_workflow.simulator.cosmos3 import run_inference as run_cosmos3

        # WORLD_SIZE is set by torchrun only (inference/args.py 1397 reads 0 without it).
        run_cosmos3(launch.args, launch.nproc if launch.torchrun else 0, runtime)
    elif launch.script.endswith(TRANSFER2_5_SCRIPT):
        from cosmos_workflow.simulator.transfer2_5 import run_inference

        run_inference(launch.args, launch.nproc, runtime)
    else:
        print(f"cosmos-sim: no simulation for entry point {launch.script}", file=sys.stderr)
        raise SimulatedExit(2)


def _is_cosmos3(launch: Launch) -> bool:
    if launch.module:
        return launch.script == COSMOS3_MODULE
    return launch.script.endswith(COSMOS3_SCRIPT)


def run() -> None:
    sys.exit(simulate(sys.argv[1:]))
