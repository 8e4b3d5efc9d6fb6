"""GPU pinning on a simulated multi-GPU host: a process holds its devices and torchrun's port.

On a multi-GPU host one worker runs several jobs at once, each pinned by CUDA_VISIBLE_DEVICES to
its own devices. A real GPU in exclusive-process compute mode (the usual setting of shared
datacenter GPUs) refuses a second process, and torchrun's static rendezvous binds its master port
on the machine, so a slot that is wrongly pinned fails there; it never silently shares. The
simulator fails the same way when COSMOS_SIM_GPU_DIR names a directory standing for the host's
GPUs: each device and port in use is an exclusive, non-blocking `flock` on a file in it, held for
the life of the process. The kernel drops a flock when its process dies, on SIGKILL too, so no
stale claim outlives a process. Without COSMOS_SIM_GPU_DIR nothing is checked.

Cited from PyTorch 2.6.0 (the release's sources, tag v2.6.0 of pytorch/pytorch): the parsing of
CUDA_VISIBLE_DEVICES is torch/cuda/__init__.py `_parse_visible_devices` (643-712); the tracebacks
name the frames a real failure passes through."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from cosmos_workflow.simulator.runtime import raise_traceback

GPU_DIR_ENV = "COSMOS_SIM_GPU_DIR"
VISIBLE_ENV = "CUDA_VISIBLE_DEVICES"
UUID_PREFIXES = ("GPU-", "MIG-")
LEADING_NUMBER = re.compile(r"[+-]?[0-9]+")
Frame = tuple[str, int, str]

# torch.cuda.set_device(local_rank) is where a torchrun worker first touches its device (a
# one-process run may first touch it elsewhere: the frame stands for that first touch); with no
# device at all the lazy CUDA initialisation under it raises (torch/cuda/__init__.py 476, 319).
SET_DEVICE: Frame = ("torch/cuda/__init__.py", 476, "set_device")
LAZY_INIT: Frame = ("torch/cuda/__init__.py", 319, "_lazy_init")
# torchrun's agent creates the static rendezvous' TCPStore, the listening socket, before it starts
# any worker (the console script's own frame is left out: its path is the machine's).
AGENT_FRAMES: list[Frame] = [
    ("torch/distributed/elastic/multiprocessing/errors/__init__.py", 355, "wrapper"),
    ("torch/distributed/run.py", 918, "main"),
    ("torch/distributed/run.py", 909, "run"),
    ("torch/distributed/launcher/api.py", 138, "__call__"),
    ("torch/distributed/launcher/api.py", 260, "launch_agent"),
    ("torch/distributed/elastic/metrics/api.py", 137, "wrapper"),
    ("torch/distributed/elastic/agent/server/api.py", 711, "run"),
    ("torch/distributed/elastic/agent/server/api.py", 864, "_invoke_run"),
    ("torch/distributed/elastic/metrics/api.py", 137, "wrapper"),
    ("torch/distributed/elastic/agent/server/api.py", 683, "_initialize_workers"),
    ("torch/distributed/elastic/metrics/api.py", 137, "wrapper"),
    ("torch/distributed/elastic/agent/server/api.py", 500, "_rendezvous"),
    ("torch/distributed/elastic/rendezvous/static_tcp_rendezvous.py", 67, "next_rendezvous"),
]


def visible_devices(value: str | None, count: int) -> list[str]:
    """The device ids CUDA_VISIBLE_DEVICES leaves visible, as CUDA reads it. Unset: every device
    of the machine, of which the first `count` are all a process can ask for. Each entry is read
    like strtoul (`1a` is 1), the list ends at the first entry that is not a number, and a
    repeated id hides every device; so `""` and `"a,,b"` leave none. A list of UUIDs (`GPU-...`,
    `MIG-...`) ends at the first entry without that prefix."""
    if value is None:
        return [str(index) for index in range(count)]
    for prefix in UUID_PREFIXES:
        if value.startswith(prefix):
            return _uuids(value, prefix)
    ids: list[str] = []
    for entry in value.split(","):
        number = _leading_number(entry.strip())
        if number is None:
            break
        if str(number) in ids:
            return []
        ids.append(str(number))
    return ids


def _leading_number(text: str) -> int | None:
    """The number `text` starts with, read like strtoul (an optional sign, then digits); None
    when it starts with none or is negative: either ends the list."""
    match = LEADING_NUMBER.match(text)
    if match is None or int(match.group()) < 0:
        return None
    return int(match.group())


def _uuids(value: str, prefix: str) -> list[str]:
    ids: list[str] = []
    for entry in value.split(","):
        if entry in ids:
            return []
        if not entry.startswith(prefix):
            break
        ids.append(entry)
    return ids


def used_devices(visible: list[str], nproc: int) -> list[str]:
    """Local ranks 0..nproc-1 each take the visible device of their rank. Fails as torch does:
    without any device, and with a rank beyond the visible devices."""
    if not visible:
        raise_traceback([SET_DEVICE, LAZY_INIT], "RuntimeError: No CUDA GPUs are available")
    if nproc > len(visible):
        raise_traceback([SET_DEVICE], "RuntimeError: CUDA error: invalid device ordinal")
    return visible[:nproc]


@contextlib.contextmanager
def pinned(nproc: int, port: int | None, env: Mapping[str, str] = os.environ) -> Iterator[None]:
    """Hold torchrun's port (when it binds one) and the process's devices while the body runs.
    The port comes first: the agent binds it before any worker touches a GPU. On failure,
    whatever was already held is released on the way out."""
    folder = env.get(GPU_DIR_ENV)
    if not folder:
        yield
        return
    gpus = Path(folder)
    gpus.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as held:
        if port is not None:
            held.enter_context(_port(gpus, port))
        for device in used_devices(visible_devices(env.get(VISIBLE_ENV), nproc), nproc):
            held.enter_context(_device(gpus, device))
        yield


@contextlib.contextmanager
def _port(gpus: Path, port: int) -> Iterator[None]:
    with _flock(gpus / f"port-{port}.lock") as taken:
        if not taken:
            raise_traceback(
                AGENT_FRAMES,
                "torch.distributed.DistNetworkError: The server socket has failed to listen on "
                f"any local network address. port: {port}, useIpv6: False, code: -98, "
                "name: EADDRINUSE, message: address already in use",
            )
        yield


@contextlib.contextmanager
def _device(gpus: Path, device: str) -> Iterator[None]:
    # A MIG name may hold "/"; the lock file stays one name in the folder.
    with _flock(gpus / f"device-{device.replace('/', '_')}.lock") as taken:
        if not taken:
            raise_traceback(
                [SET_DEVICE],
                "RuntimeError: CUDA error: CUDA-capable device(s) is/are busy or unavailable",
            )
        yield


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[bool]:
    """An exclusive, non-blocking flock on `path`, held until the block ends (or the process
    dies); yields whether it was had. The holder's pid is written in for whoever looks."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield True
    finally:
        os.close(fd)
