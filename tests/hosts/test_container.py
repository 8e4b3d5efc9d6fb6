"""Container wrapping: the exact argv for docker and podman, and the env file that keeps the
container's variables (tokens among them) out of every argv."""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
from pathlib import Path

import pytest

from cosmos_workflow.backends.base import RenderedJob
from cosmos_workflow.config import HostConfig
from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.hosts.base import UNBUFFERED_ENV
from cosmos_workflow.hosts.container import (
    ENV_FILE,
    container_name,
    container_ref,
    env_file_text,
    wrap_in_container,
)
from cosmos_workflow.hosts.local import LocalHost
from cosmos_workflow.services.targets import HostChoice
from cosmos_workflow.worker.execute import host_command
from tests.hosts.helpers import Lines
from tests.hosts.sshd import SSHServer
from tests.hosts.test_ssh import make_host

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
        **extra,
    }
    return wrap_in_container(COMMAND, **options)


def test_docker_all_gpus() -> None:
    assert wrap() == [
        "docker", "run", "--rm", "--gpus", "all", "--ipc=host", "--name", "cosmos-job_0abc",
        "-v", f"{WORKDIR}:{WORKDIR}", "-w", "/workspace",
        "--env-file", f"{WORKDIR}/.cosmos/container.env",
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
        {"workdir": "relative/job_0abc"},
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
            gpus="all",
        )  # fmt: skip


def test_names_are_unique_per_job_and_kill_targets_exactly_one() -> None:
    assert container_name("job_a") != container_name("job_b")
    assert container_ref("docker", "job_0abc").kill_argv() == ["docker", "kill", "cosmos-job_0abc"]
    assert container_ref("podman", "job_0abc").kill_argv() == ["podman", "kill", "cosmos-job_0abc"]
    assert container_ref("docker", "job_0abc").name == wrap()[wrap().index("--name") + 1]
    with pytest.raises(InvalidInput):
        container_ref("docker", "../x")


def test_the_env_file_holds_one_verbatim_line_per_variable() -> None:
    env = {"HF_TOKEN": "hf_s3cr3t", "NOTE": "a b=c # not a comment", "EMPTY": "", "Q": "it's"}
    assert env_file_text(env) == (
        "HF_TOKEN=hf_s3cr3t\nNOTE=a b=c # not a comment\nEMPTY=\nQ=it's\n"
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KEY": "line one\nline two"}, "line break"),
        ({"KEY": "carriage\rreturn"}, "line break"),
        ({"KEY": '"quoted"'}, "start with a quote"),
        ({"KEY": "'quoted'"}, "start with a quote"),
        ({"BAD NAME": "x"}, "invalid environment variable name"),
        ({"A=B": "x"}, "invalid environment variable name"),
        ({"KEY": "nul\x00byte"}, "NUL"),
    ],
)
def test_values_the_runtimes_would_read_differently_are_refused(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        env_file_text(env)


# A stand-in for `docker`: records its argv, then runs the command after the image with only the
# env file's variables (and PATH), from the -w folder, as docker would inside the container.
FAKE_RUNTIME = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open({record!r}, "w") as handle:
    json.dump(sys.argv, handle)
assert args[:2] == ["run", "--rm"], args
takes_value = {{"--gpus", "--name", "-v", "-w", "--env-file", "--device"}}
i, options = 2, {{}}
while args[i].startswith("-"):
    if args[i] in takes_value:
        options[args[i]] = args[i + 1]
        i += 2
    else:
        i += 1
env = {{"PATH": os.environ["PATH"]}}
with open(options["--env-file"]) as handle:
    for line in handle.read().splitlines():
        name, _, value = line.partition("=")
        env[name] = value
os.chdir(options["-w"])
os.execvpe(args[i + 1], args[i + 1 :], env)
"""

SECRET = "hf_s3cr3t_value"


def test_a_secret_reaches_the_container_through_the_env_file_only(tmp_path: Path) -> None:
    bin_dir, record = tmp_path / "bin", tmp_path / "docker-argv.json"
    bin_dir.mkdir()
    runtime = bin_dir / "docker"
    runtime.write_text(FAKE_RUNTIME.format(python=sys.executable, record=str(record)))
    runtime.chmod(0o755)
    host = LocalHost("gpu1", tmp_path / "root")
    choice = HostChoice(
        config=HostConfig(
            name="gpu1",
            container="docker",
            image="nvcr.io/me/cosmos:latest",
            gpus=1,
            code_dir=str(tmp_path),
            env={"HF_TOKEN": SECRET},
        ),
        simulate=False,
        is_default=False,
    )
    probe = "import os; print('token=' + os.environ['HF_TOKEN'], 'mode=' + os.environ['MODE'])"
    rendered = RenderedJob(
        argv=(sys.executable, "-c", probe), cwd=str(tmp_path), env={"MODE": "transfer"}
    )
    workdir = host.job_dir("job_0abc_a1")
    host.stage(workdir, {}, {})

    # What the worker records as the attempt's argv, and what it runs.
    argv, cwd, container = host_command(choice, "job_0abc_a1", rendered, workdir, host)
    assert SECRET not in json.dumps(argv) and argv[argv.index("--env-file") + 1] == str(
        Path(workdir, ENV_FILE)
    )
    env_file = Path(workdir, ENV_FILE)
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    expected = {**UNBUFFERED_ENV, "MODE": "transfer", "HF_TOKEN": SECRET}
    assert env_file.read_text() == "".join(f"{k}={v}\n" for k, v in expected.items())
    assert ENV_FILE not in host.list_files(workdir)  # never collected as an output

    lines = Lines()
    result = host.run(
        argv,
        workdir=workdir,
        cwd=cwd,
        env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
        on_line=lines,
        cancel=threading.Event(),
        timeout_s=60,
        log_path=None,
        container=container,
    )
    assert result.exit_code == 0, lines.lines
    assert [line.strip() for line in lines.lines] == [f"token={SECRET} mode=transfer"]
    recorded = json.loads(record.read_text())
    assert recorded[1:] == argv[1:] and SECRET not in json.dumps(recorded)


def test_a_refused_variable_writes_no_env_file(tmp_path: Path) -> None:
    host = LocalHost("gpu1", tmp_path / "root")
    config = HostConfig(name="gpu1", container="podman", image="img", env={"KEY": "two\nlines"})
    choice = HostChoice(config=config, simulate=False, is_default=False)
    workdir = host.job_dir("job_0abc_a1")
    rendered = RenderedJob(argv=("python", "x.py"), cwd="/code")
    with pytest.raises(InvalidInput, match="line break"):
        host_command(choice, "job_0abc_a1", rendered, workdir, host)
    assert not Path(workdir, ENV_FILE).exists()


def test_write_private_replaces_a_wider_file_with_a_0600_one(tmp_path: Path) -> None:
    host = LocalHost("gpu1", tmp_path / "root")
    workdir = host.job_dir("job_0abc")
    host.stage(workdir, {ENV_FILE: "OLD=1\n"}, {})
    Path(workdir, ENV_FILE).chmod(0o644)
    old_umask = os.umask(0)  # a permissive umask must not widen it
    try:
        host.write_private(workdir, ENV_FILE, "NEW=2\n")
    finally:
        os.umask(old_umask)
    path = Path(workdir, ENV_FILE)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text() == "NEW=2\n"
    with pytest.raises(InvalidInput):
        host.write_private(workdir, "../escape.env", "X=1\n")


@pytest.mark.ssh
def test_write_private_over_ssh_makes_a_0600_file(sshd: SSHServer, tmp_path: Path) -> None:
    remote = make_host(sshd, tmp_path / "remote")
    try:
        workdir = remote.job_dir("job_0abc")
        remote.stage(workdir, {}, {})
        remote.write_private(workdir, ENV_FILE, f"HF_TOKEN={SECRET}\n")
    finally:
        remote.close()
    path = Path(workdir, ENV_FILE)  # the remote root is a local folder
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == f"HF_TOKEN={SECRET}\n"
