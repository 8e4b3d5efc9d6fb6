"""Simulated cosmos_transfer1/auxiliary/upsampler/inference/upsampler_pipeline.py.

Its `__main__` reads RANK (line 48), then deletes fifteen torchrun variables one by one
(50-69): the first that is missing ends the process with a KeyError. torchrun gives a worker all
of them except OMP_NUM_THREADS, which it sets only for nproc_per_node > 1 when the environment
lacks it (pytorch torch/distributed/run.py `config_from_args`). So `python upsampler_pipeline.py`
dies on RANK, and a one-process torchrun dies on OMP_NUM_THREADS unless the environment sets it.
The result is printed with a bare `print("Upsampled prompt:", ...)` (line 42): no log prefix."""

from __future__ import annotations

import argparse
import os

from cosmos_workflow.simulator import profiles
from cosmos_workflow.simulator.runtime import Runtime, out_of_memory, raise_traceback

WHERE = "cosmos_transfer1/auxiliary/upsampler/inference/upsampler_pipeline.py"
DIST_KEYS = (
    "RANK",
    "LOCAL_RANK",
    "WORLD_SIZE",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
    "ROLE_RANK",
    "ROLE_NAME",
    "OMP_NUM_THREADS",
    "MASTER_ADDR",
    "MASTER_PORT",
    "TORCHELASTIC_USE_AGENT_STORE",
    "TORCHELASTIC_MAX_RESTARTS",
    "TORCHELASTIC_RUN_ID",
    "TORCH_NCCL_ASYNC_ERROR_HANDLING",
    "TORCHELASTIC_ERROR_FILE",
)
UPSAMPLE_TOKENS = 300  # vLLM generates at most 300 tokens (reference 1.11)
TOKENS_PER_S = 60  # assumption: one GPU, Pixtral-12B


def _worker_env(torchrun: bool, nproc: int) -> set[str]:
    """Names in the entry point's environment: the launcher's own plus torchrun's."""
    names = set(os.environ)
    if torchrun:
        names |= {key for key in DIST_KEYS if key != "OMP_NUM_THREADS"}
        if nproc > 1:
            names.add("OMP_NUM_THREADS")
    return names


def _rank(torchrun: bool, nproc: int) -> int:
    env = _worker_env(torchrun, nproc)
    if "RANK" not in env:
        raise_traceback([(WHERE, 48, "<module>")], "KeyError: 'RANK'")
    for key in DIST_KEYS:
        if key not in env:
            raise_traceback([(WHERE, 69, "<module>")], f"KeyError: '{key}'")
    return int(os.environ.get("RANK", "0"))


def run_upsampler(script_argv: list[str], torchrun: bool, nproc: int, rt: Runtime) -> None:
    parser = argparse.ArgumentParser(prog="upsampler_pipeline.py")
    parser.add_argument("--prompt", type=str, required=False)
    parser.add_argument("--input_video", type=str, required=True)
    parser.add_argument("--checkpoint_dir", type=str, default="checkpoints")
    parser.add_argument("--offload_prompt_upsampler", action="store_true")
    # parse_args runs inside main(), after the environment keys are gone (lines 36, 71-72).
    if _rank(torchrun, nproc) != 0:
        return
    args = parser.parse_args(script_argv)
    profile = profiles.current_profile()
    memory = rt.faults.memory_gb if rt.faults.memory_gb is not None else profile.memory_gb
    rt.advance(profiles.T1_UPSAMPLER_GB / profiles.LOAD_GB_PER_S)
    if memory < profiles.T1_UPSAMPLER_GB:
        out_of_memory(profiles.T1_UPSAMPLER_GB - memory, memory, WHERE)
    if not os.path.isfile(args.input_video):
        raise_traceback(
            [(WHERE, 72, "<module>"), (WHERE, 40, "main")],
            f"FileNotFoundError: [Errno 2] No such file or directory: '{args.input_video}'",
        )
    rt.advance(UPSAMPLE_TOKENS / TOKENS_PER_S)
    prompt = (args.prompt or "").strip().rstrip(".")
    upsampled = (
        f"{prompt}. The scene is rendered in rich, photorealistic detail with natural lighting, "
        "coherent motion and sharp textures throughout."
    )
    print("Upsampled prompt:", upsampled, flush=True)
