"""GPU pinning on a simulated multi-GPU host: devices and torchrun's port held as real ones are.

The process tests run the upsampler entry point, the simulator's quickest: it only needs its
input to be a file, and its model load keeps a process alive for 40 simulated seconds, which at
COSMOS_SIM_TIME_SCALE 1 is long enough to hold a device while another process tries it."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from cosmos_workflow.backends import get_backend
from cosmos_workflow.domain.params import Backend
from cosmos_workflow.domain.states import FailureClass
from cosmos_workflow.simulator import devices
from cosmos_workflow.simulator.main import split_launcher
from cosmos_workflow.simulator.runtime import SimulatedExit
from tests.simulator.conftest import REPO, simulate

UPSAMPLER = "cosmos_transfer1/auxiliary/upsampler/inference/upsampler_pipeline.py"
BUSY = "RuntimeError: CUDA error: CUDA-capable device(s) is/are busy or unavailable"
ORDINAL = "RuntimeError: CUDA error: invalid device ordinal"
NO_GPUS = "RuntimeError: No CUDA GPUs are available"
IN_USE = (
    "torch.distributed.DistNetworkError: The server socket has failed to listen on any local "
    "network address. port: {port}, useIpv6: False, code: -98, name: EADDRINUSE, "
    "message: address already in use"
)
HOLD_SCALE = "1"  # real seconds per simulated second: the 40 s load outlasts any test
SHORT_SCALE = "0.1"  # a holder that finishes by itself, in about 4 s


# -- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "count", "visible"),
    [
        (None, 2, ["0", "1"]),
        ("3", 1, ["3"]),
        (" 4 , 5 ", 2, ["4", "5"]),
        ("03", 1, ["3"]),  # read as a number: the same device as "3"
        ("1a", 1, ["1"]),  # strtoul stops at the first non-digit
        ("", 1, []),
        ("a,,b", 1, []),
        ("0,a,1", 3, ["0"]),  # the list ends at the first entry that is not a number
        ("0,,1", 2, ["0"]),
        ("-1,0", 2, []),  # a negative id ends it too
        ("1,1", 2, []),  # a repeated id hides every device
        ("GPU-aa,GPU-bb", 2, ["GPU-aa", "GPU-bb"]),
        ("GPU-aa,0", 2, ["GPU-aa"]),
    ],
)
def test_visible_devices_read_as_cuda_does(
    value: str | None, count: int, visible: list[str]
) -> None:
    assert devices.visible_devices(value, count) == visible


def test_each_local_rank_takes_the_visible_device_of_its_rank(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert devices.used_devices(["4", "5"], 1) == ["4"]
    assert devices.used_devices(["4", "5"], 2) == ["4", "5"]
    with pytest.raises(SimulatedExit) as beyond:
        devices.used_devices(["4"], 2)
    assert beyond.value.code == 1 and ORDINAL in capsys.readouterr().err
    with pytest.raises(SimulatedExit):
        devices.used_devices([], 1)
    assert NO_GPUS in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "port"),
    [
        ([], 29500),  # torchrun's default master port
        (["--master_port", "29601"], 29601),
        (["--master-port=29602"], 29602),
        (["--master-port", "29603", "--nnodes", "1"], 29603),
        (["--rdzv_endpoint", "localhost:29604"], 29604),  # static: the endpoint wins
        (["--standalone"], None),  # a c10d rendezvous on a free port
        (["--standalone", "--master_port", "29605"], None),
        (["--rdzv-backend=c10d", "--rdzv_endpoint", "localhost:29606"], None),  # not simulated
        (["--node_rank", "1", "--master_port", "29607"], None),  # a client of node 0's port
        (["--log-dir", "logs", "--tee", "3", "--master_port", "29608"], 29608),
    ],
)
def test_torchrun_rendezvous_port(flags: list[str], port: int | None) -> None:
    launch = split_launcher(["torchrun", "--nproc_per_node", "2", *flags, UPSAMPLER, "--x"])
    assert (launch.script, launch.args, launch.nproc) == (UPSAMPLER, ["--x"], 2)
    assert launch.bound_port == port


def test_a_plain_process_binds_no_port() -> None:
    launch = split_launcher(["python", "-u", UPSAMPLER, "--prompt", "p"])
    assert (launch.nproc, launch.torchrun, launch.bound_port) == (1, False, None)


def test_a_failed_claim_releases_what_it_held(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gpus = tmp_path / "gpus"
    env = {devices.GPU_DIR_ENV: str(gpus), devices.VISIBLE_ENV: "0,1"}
    gpus.mkdir()
    with lock_held(gpus / "device-1.lock"):
        with pytest.raises(SimulatedExit), devices.pinned(2, 29500, env):
            pytest.fail("device 1 is held: the body must not run")
        assert BUSY in capsys.readouterr().err
        assert not is_held(gpus / "device-0.lock")
        assert not is_held(gpus / "port-29500.lock")


# -- real simulator processes ----------------------------------------------------------------


def upsampler(workdir: Path, *launcher: str) -> list[str]:
    """A torchrun (or python) launch of the upsampler; `launcher` is its own flags."""
    video = workdir / "input.mp4"
    video.write_bytes(b"only its existence is checked")
    head = list(launcher) if launcher[:1] == ("python",) else ["torchrun", *launcher]
    return [*head, UPSAMPLER, "--prompt", "a red cube", "--input_video", str(video)]


def host_env(gpus: Path | None, visible: str) -> dict[str, str]:
    """What the worker gives one slot's process; a one-process torchrun needs OMP_NUM_THREADS
    in the upsampler (torchrun sets it only for several processes)."""
    env = {devices.VISIBLE_ENV: visible, "OMP_NUM_THREADS": "1"}
    if gpus is not None:
        env[devices.GPU_DIR_ENV] = str(gpus)
    return env


def run(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    unset = [] if devices.GPU_DIR_ENV in env else [devices.GPU_DIR_ENV]
    return simulate(argv, cwd, env=env, unset=unset)


@contextmanager
def holder(
    argv: Sequence[str], cwd: Path, env: dict[str, str], lock: Path, scale: str = HOLD_SCALE
) -> Iterator[subprocess.Popen[str]]:
    """A simulator process running in the background, once it holds `lock`; SIGKILLed at the
    end unless it has finished."""
    full_env = {
        **os.environ,
        "COSMOS_SIM_TIME_SCALE": scale,
        "COSMOS_SIM_SEED": "1",
        "PYTHONPATH": str(REPO),
        **env,
    }
    command = [sys.executable, "-m", "cosmos_workflow.simulator", *argv]
    process = subprocess.Popen(
        command, cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_until_held(lock, process)
        yield process
    finally:
        process.kill()
        process.communicate(timeout=30)


def wait_until_held(lock: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while not is_held(lock):
        if process.poll() is not None:
            _, err = process.communicate()
            pytest.fail(f"the holder ended ({process.returncode}) before holding {lock}: {err}")
        if time.monotonic() > deadline:
            pytest.fail(f"{lock} was never held")
        time.sleep(0.05)


def is_held(lock: Path) -> bool:
    """Whether another open file holds the flock (this one is dropped again at once)."""
    if not lock.exists():
        return False
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
    return False


@contextmanager
def lock_held(lock: Path) -> Iterator[None]:
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield


def test_two_processes_on_one_device_the_second_is_refused(tmp_path: Path) -> None:
    gpus = tmp_path / "gpus"  # not there yet: the first process creates it
    first = upsampler(tmp_path, "--nproc_per_node", "1", "--master_port", "29610")
    with holder(first, tmp_path, host_env(gpus, "3"), gpus / "device-3.lock") as alive:
        second = upsampler(tmp_path, "--nproc_per_node", "1", "--master_port", "29611")
        refused = run(second, tmp_path, host_env(gpus, "3"))
        assert refused.returncode == 1
        assert BUSY in refused.stderr
        assert "Upsampled prompt:" not in refused.stdout  # nothing ran on the busy device
        assert alive.poll() is None
        # A one-process run uses the first visible device: busy as "3,4", free as "4,3" (where
        # it goes on to the upsampler's own end without torchrun, KeyError: 'RANK').
        plain = upsampler(tmp_path, "python")
        assert BUSY in run(plain, tmp_path, host_env(gpus, "3,4")).stderr
        other = run(plain, tmp_path, host_env(gpus, "4,3"))
        assert BUSY not in other.stderr and "KeyError: 'RANK'" in other.stderr


def test_two_processes_on_different_devices_both_run(tmp_path: Path) -> None:
    gpus = tmp_path / "gpus"
    first = upsampler(tmp_path, "--nproc_per_node", "2", "--master_port", "29620")
    env = host_env(gpus, "4,5")
    with holder(first, tmp_path, env, gpus / "device-5.lock", SHORT_SCALE) as alive:
        second = upsampler(tmp_path, "--nproc_per_node", "1", "--master_port", "29621")
        done = run(second, tmp_path, host_env(gpus, "6"))
        assert done.returncode == 0, done.stderr
        assert alive.poll() is None  # they ran at the same time
        out, err = alive.communicate(timeout=30)
    assert alive.returncode == 0, err
    assert "Upsampled prompt:" in out and "Upsampled prompt:" in done.stdout


def test_a_device_freed_by_a_killed_process_is_taken_again(tmp_path: Path) -> None:
    gpus = tmp_path / "gpus"
    argv = upsampler(tmp_path, "--nproc_per_node", "1", "--master_port", "29630")
    with holder(argv, tmp_path, host_env(gpus, "2"), gpus / "device-2.lock") as alive:
        alive.kill()  # SIGKILL: the process cannot release anything itself
        alive.wait(timeout=30)
    assert not is_held(gpus / "device-2.lock")
    again = run(argv, tmp_path, host_env(gpus, "2"))
    assert again.returncode == 0, again.stderr


def test_more_processes_than_visible_devices(tmp_path: Path) -> None:
    gpus = tmp_path / "gpus"
    argv = upsampler(tmp_path, "--nproc_per_node", "2", "--master_port", "29640")
    beyond = run(argv, tmp_path, host_env(gpus, "3"))
    assert beyond.returncode == 1
    assert ORDINAL in beyond.stderr
    assert 'File "torch/cuda/__init__.py", line 476, in set_device' in beyond.stderr
    for visible in ("", "a,,b"):
        none = run(upsampler(tmp_path, "python"), tmp_path, host_env(gpus, visible))
        assert none.returncode == 1 and NO_GPUS in none.stderr


def test_two_torchrun_launches_on_one_master_port(tmp_path: Path) -> None:
    gpus = tmp_path / "gpus"
    first = upsampler(tmp_path, "--nproc_per_node", "1", "--master_port", "29650")
    with holder(first, tmp_path, host_env(gpus, "0"), gpus / "port-29650.lock"):
        same = run(first, tmp_path, host_env(gpus, "1"))
        assert same.returncode == 1
        assert IN_USE.format(port=29650) in same.stderr
        assert BUSY not in same.stderr  # the agent fails before any worker touches a GPU
        assert not is_held(gpus / "device-1.lock")
        other = upsampler(tmp_path, "--nproc_per_node", "1", "--master_port", "29651")
        assert run(other, tmp_path, host_env(gpus, "1")).returncode == 0
        standalone = upsampler(tmp_path, "--standalone", "--nproc_per_node", "1")
        assert run(standalone, tmp_path, host_env(gpus, "1")).returncode == 0


def test_default_master_port_is_29500(tmp_path: Path) -> None:
    gpus = tmp_path / "gpus"
    gpus.mkdir()
    with lock_held(gpus / "port-29500.lock"):
        taken = run(upsampler(tmp_path, "--nproc_per_node", "1"), tmp_path, host_env(gpus, "0"))
    assert taken.returncode == 1 and IN_USE.format(port=29500) in taken.stderr


def test_without_a_gpu_dir_nothing_is_checked(tmp_path: Path) -> None:
    gpus = tmp_path / "gpus"
    argv = upsampler(tmp_path, "--nproc_per_node", "1")
    with holder(argv, tmp_path, host_env(gpus, "0"), gpus / "device-0.lock"):
        same = run(argv, tmp_path, host_env(None, "0"))  # same device, same port
        assert same.returncode == 0, same.stderr
        for visible in ("", "a,,b"):
            assert run(argv, tmp_path, host_env(None, visible)).returncode == 0
    beyond = upsampler(tmp_path, "--nproc_per_node", "4")
    assert run(beyond, tmp_path, host_env(None, "0")).returncode == 0
    assert sorted(p.name for p in gpus.iterdir()) == ["device-0.lock", "port-29500.lock"]


@pytest.mark.parametrize("backend", [Backend.TRANSFER1, Backend.TRANSFER2_5])
def test_backends_retry_a_busy_device_or_a_taken_port(backend: Backend) -> None:
    """Each is a crash, retried by the queue: never bad input (final) nor out of memory (which
    would split the batch)."""
    classify = get_backend(backend).classify_failure
    for error in (BUSY, IN_USE.format(port=29500), ORDINAL, NO_GPUS):
        lines = ["Traceback (most recent call last):", error]
        assert classify(1, lines) is FailureClass.CRASH, error
