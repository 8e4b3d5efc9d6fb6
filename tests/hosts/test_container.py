"""Container wrapping: the exact argv for docker and podman."""

from __future__ import annotations

import pytest

from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.hosts.container import (
    container_name,
    container_ref,
    wrap_in_container,
)

WORKDIR = "/data/cosmos/job_0abc"
COMMAND = ["python", "-m", "cosmos_transfer1.diffusion.inference.transfer", "--seed", "1"]


def wrap(runtime: str = "docker", gpus: object = "all", **extra: object) -> list[str]:
    options: dict = {
        "runtime": runtime,
        "image": "nvcr.io/me/cosmos-transfer1:latest",
        "job_id": "job_0abc",
        "workdir": WORKDIR,
        "cwd": "/workspace",
        "gpus": gpus,
        "env": {"HF_HOME": "/cache/hf", "NOTE": "a b=c"},
        **extra,
    }
    return wrap_in_container(COMMAND, **options)


def test_docker_all_gpus() -> None:
    assert wrap() == [
        "docker", "run", "--rm", "--gpus", "all", "--ipc=host", "--name", "cosmos-job_0abc",
        "-v", f"{WORKDIR}:{WORKDIR}", "-w", "/workspace",
        "-e", "HF_HOME=/cache/hf", "-e", "NOTE=a b=c",
        "nvcr.io/me/cosmos-transfer1:latest", *COMMAND,
    ]  # fmt: skip


def test_docker_gpu_count_and_indices() -> None:
    assert wrap(gpus=2)[3:5] == ["--gpus", "2"]
    assert wrap(gpus=[0, 2])[3:5] == ["--gpus", '"device=0,2"']
    assert wrap(gpus=[3])[3:5] == ["--gpus", '"device=3"']


def test_podman_uses_cdi_devices() -> None:
    assert wrap("podman")[:7] == [
        "podman", "run", "--rm", "--device", "nvidia.com/gpu=all", "--ipc=host", "--name",
    ]  # fmt: skip
    assert wrap("podman", gpus=[1, 3])[3:7] == [
        "--device", "nvidia.com/gpu=1", "--device", "nvidia.com/gpu=3",
    ]  # fmt: skip
    assert wrap("podman", gpus=2)[3:7] == [
        "--device", "nvidia.com/gpu=0", "--device", "nvidia.com/gpu=1",
    ]  # fmt: skip


def test_zero_gpus_adds_no_gpu_flag() -> None:
    assert wrap(gpus=0)[:5] == ["docker", "run", "--rm", "--ipc=host", "--name"]


def test_extra_mounts_follow_the_workdir() -> None:
    argv = wrap(mounts=[("/models/ckpt", "/workspace/checkpoints")])
    start = argv.index("-v")
    assert argv[start : start + 4] == [
        "-v", f"{WORKDIR}:{WORKDIR}", "-v", "/models/ckpt:/workspace/checkpoints",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "bad",
    [
        {"runtime": "lxc"},
        {"gpus": -1},
        {"gpus": []},
        {"gpus": [0, 0]},
        {"gpus": "2"},
        {"gpus": True},
        {"cwd": "relative/dir"},
        {"mounts": [("/a:b", "/c")]},
        {"mounts": [("relative", "/c")]},
        {"env": {"BAD NAME": "x"}},
        {"env": {"A=B": "x"}},
        {"image": "--privileged"},
        {"job_id": "job; rm -rf /"},
    ],
)
def test_bad_options_are_refused(bad: dict) -> None:
    runtime = bad.pop("runtime", "docker")
    with pytest.raises(InvalidInput):
        wrap(runtime, **({"gpus": "all"} | bad))


def test_an_empty_command_is_refused() -> None:
    with pytest.raises(InvalidInput):
        wrap_in_container(
            [], runtime="docker", image="img", job_id="job_a", workdir=WORKDIR, cwd="/w",
            gpus="all", env={},
        )  # fmt: skip


def test_names_are_unique_per_job_and_kill_targets_exactly_one() -> None:
    assert container_name("job_a") != container_name("job_b")
    assert container_ref("docker", "job_0abc").kill_argv() == ["docker", "kill", "cosmos-job_0abc"]
    assert container_ref("podman", "job_0abc").kill_argv() == ["podman", "kill", "cosmos-job_0abc"]
    assert container_ref("docker", "job_0abc").name == wrap()[wrap().index("--name") + 1]
    with pytest.raises(InvalidInput):
        container_ref("docker", "../x")
