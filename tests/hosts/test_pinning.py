"""Pinning a job to its slot: CUDA_VISIBLE_DEVICES for bare processes, the slot's devices for a
container (and no variable inside it), a torchrun port per slot on a multi-slot host, and host
configurations that cannot be cut into slots refused at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosmos_workflow.backends import get_backend
from cosmos_workflow.backends.base import RenderedJob
from cosmos_workflow.config import HostConfig
from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.errors import ConfigError
from cosmos_workflow.domain.params import Backend, JobKind, default_params
from cosmos_workflow.domain.work import JobWork, RunWork, VideoInfo
from cosmos_workflow.hosts.local import LocalHost
from cosmos_workflow.services.targets import HostChoice
from cosmos_workflow.worker.execute import host_command, host_environment


def _choice(slot: int = 1, **config: object) -> HostChoice:
    host = HostConfig(name="node", gpus=[2, 3, 4, 5], gpus_per_job=2, **config)  # type: ignore[arg-type]
    choice = HostChoice(host, simulate=False, is_default=False)
    return choice.on_slot(choice.slots[slot])


def test_slots_take_consecutive_devices() -> None:
    choice = _choice()
    assert [(s.name, s.devices) for s in choice.slots] == [("node/0", (2, 3)), ("node/1", (4, 5))]
    assert HostConfig(name="x", gpus=3).slot_devices == [(0,), (1,), (2,)]


def test_a_bare_process_gets_its_slots_devices_over_the_hosts_own_value() -> None:
    choice = _choice(env={"CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7", "HF_HOME": "/hf"})
    env = host_environment(choice, RenderedJob(argv=("python",), cwd=".", env={"A": "1"}))
    assert env["CUDA_VISIBLE_DEVICES"] == "4,5"
    assert env["HF_HOME"] == "/hf" and env["A"] == "1"


def test_a_container_gets_the_devices_as_gpus_and_no_variable(tmp_path: Path) -> None:
    choice = _choice(container="docker", image="cosmos:latest", code_dir=str(tmp_path))
    host = LocalHost("node", tmp_path / "root")
    workdir = host.job_dir("job_0abc_a1")
    host.stage(workdir, {}, {})
    rendered = RenderedJob(argv=("python", "x.py"), cwd=str(tmp_path))
    argv, _, _ = host_command(choice, "job_0abc_a1", rendered, workdir, host)
    assert argv[argv.index("--gpus") + 1] == '"device=4,5"'
    assert "CUDA_VISIBLE_DEVICES" not in host_environment(choice, rendered)
    assert "CUDA_VISIBLE_DEVICES" not in (Path(workdir) / ".cosmos" / "container.env").read_text()


def _job(backend: Backend) -> JobWork:
    run = RunWork(
        run_id="run_1",
        prompt="a street",
        negative_prompt=None,
        weights={Control.EDGE: 0.5},
        params=default_params(backend),
        video_path=Path("/in/color.mp4"),
        video=VideoInfo(frames=121, fps=24.0, width=1280, height=704),
        control_paths={},
    )
    return JobWork("job_1", JobKind.INFERENCE, backend, (run,))


@pytest.mark.parametrize("backend", [Backend.TRANSFER1, Backend.TRANSFER2_5])
def test_torchrun_gets_a_port_per_slot_on_a_multi_slot_host(backend: Backend) -> None:
    argv = get_backend(backend).render(_job(backend), _choice().target, ".").argv
    assert argv[0] == "torchrun"
    assert argv[argv.index("--master_port") + 1] == "29501"
    single = HostChoice(HostConfig(name="one", gpus_per_job=1), simulate=False, is_default=False)
    lone = single.on_slot(single.slots[0]).target
    assert "--master_port" not in get_backend(backend).render(_job(backend), lone, ".").argv


@pytest.mark.parametrize(
    ("gpus", "per_job", "message"),
    [
        (3, 2, "do not divide into jobs of gpus_per_job = 2"),
        ([0, 0], 1, "device ids repeat"),
        ([], 1, "a device list holds 1 to 64"),
        (0, 1, "expected a GPU count from 1 to 64"),
        ([-1], 1, "device ids are whole numbers from 0 to 1023"),
        ("two", 1, "expected a whole number (a GPU count) or a list of device ids"),
        (True, 1, "expected a whole number (a GPU count) or a list of device ids"),
    ],
)
def test_hosts_that_cannot_be_cut_into_slots_are_refused(
    gpus: object, per_job: int, message: str
) -> None:
    from cosmos_workflow.config import load_settings

    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings(hosts=[{"name": "h", "gpus": gpus, "gpus_per_job": per_job}])
