"""Staged inputs are linked, not copied per run, and a work directory can be emptied keeping
its logs; on the local host and on a real OpenSSH server (whose remote root is a local folder,
so the test can look at it directly)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosmos_workflow.hosts.base import Host
from cosmos_workflow.hosts.local import LocalHost, link_or_copy
from cosmos_workflow.hosts.ssh import SSHHost
from tests.hosts.sshd import SSHServer
from tests.hosts.test_ssh import make_host

SHM = Path("/dev/shm")


@pytest.fixture
def local(tmp_path: Path) -> LocalHost:
    return LocalHost("local", tmp_path / "root")


@pytest.fixture
def ssh(sshd: SSHServer, tmp_path: Path) -> Iterator[SSHHost]:
    remote = make_host(sshd, tmp_path / "remote")
    yield remote
    remote.close()


def _video(path: Path, content: bytes = b"\x00video\xff" * 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_a_staged_input_is_the_source_file_itself(local: LocalHost, tmp_path: Path) -> None:
    source = _video(tmp_path / "inputs" / "color.mp4")
    workdir = local.job_dir("job_a_a1")
    local.stage(workdir, {}, {"run_1/input.mp4": source, "run_2/input.mp4": source})
    for rel in ("run_1/input.mp4", "run_2/input.mp4"):
        assert os.stat(Path(workdir, rel)).st_ino == source.stat().st_ino
    assert source.stat().st_nlink == 3
    local.remove(workdir)
    assert source.read_bytes() == b"\x00video\xff" * 100 and source.stat().st_nlink == 1


def test_staging_again_never_writes_through_a_link_into_the_source(
    local: LocalHost, tmp_path: Path
) -> None:
    first = _video(tmp_path / "first.mp4", b"first")
    second = _video(tmp_path / "second.mp4", b"second")
    workdir = local.job_dir("job_a_a1")
    local.stage(workdir, {}, {"input.mp4": first})
    local.stage(workdir, {}, {"input.mp4": second})
    assert first.read_bytes() == b"first"
    assert Path(workdir, "input.mp4").read_bytes() == b"second"


def test_across_filesystems_the_input_is_copied(tmp_path: Path) -> None:
    if not SHM.is_dir() or not os.access(SHM, os.W_OK):
        pytest.skip("no writable /dev/shm to stage across filesystems")
    with tempfile.TemporaryDirectory(dir=SHM) as other:
        if os.stat(other).st_dev == os.stat(tmp_path).st_dev:
            pytest.skip("/dev/shm is on the same filesystem as the test's folder")
        source = _video(Path(other) / "color.mp4")
        host = LocalHost("local", tmp_path / "root")
        workdir = host.job_dir("job_a_a1")
        host.stage(workdir, {}, {"input.mp4": source})
        staged = Path(workdir, "input.mp4")
        assert staged.read_bytes() == source.read_bytes()
        assert staged.stat().st_ino != source.stat().st_ino and source.stat().st_nlink == 1


def test_link_or_copy_raises_what_a_copy_cannot_fix(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        link_or_copy(tmp_path / "missing.mp4", tmp_path / "target.mp4")


@pytest.mark.ssh
def test_over_ssh_an_input_shared_by_runs_is_uploaded_once(ssh: SSHHost, tmp_path: Path) -> None:
    source = _video(tmp_path / "color.mp4")
    other = _video(tmp_path / "depth.mp4", b"depth")
    workdir = ssh.job_dir("job_a_a1")
    copies = {"run_1/input.mp4": source, "run_2/input.mp4": source, "run_2/depth.mp4": other}
    ssh.stage(workdir, {"spec.json": "{}"}, copies)
    first, linked = Path(workdir, "run_1/input.mp4"), Path(workdir, "run_2/input.mp4")
    assert not first.is_symlink() and first.read_bytes() == source.read_bytes()
    assert linked.is_symlink() and os.readlink(linked) == "../run_1/input.mp4"
    assert linked.read_bytes() == source.read_bytes()
    assert Path(workdir, "run_2/depth.mp4").read_bytes() == b"depth"
    ssh.stage(workdir, {}, copies)  # a retried stage (after a dropped connection) succeeds
    assert linked.resolve() == first.resolve()


def _attempt_dir(host: Host, outside: Path) -> Path:
    """A work directory as a killed attempt leaves it: inputs, partial outputs, logs, and a link
    to a folder outside it."""
    workdir = Path(host.job_dir("job_a_a1"))
    host.stage(
        str(workdir),
        {
            "spec.json": "{}",
            "outputs/video_0/output.mp4": "partial",
            "outputs/debug.log": "debug lines",
            ".cosmos/output.log": "the process output",
            ".cosmos/pid": "123",
        },
        {"inputs/input.mp4": _video(outside.parent / "input.mp4")},
    )
    (workdir / "escape").symlink_to(outside, target_is_directory=True)
    return workdir


@pytest.mark.parametrize("kind", ["local", pytest.param("ssh", marks=pytest.mark.ssh)])
def test_remove_keeping_logs_leaves_only_the_logs(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    host: Host = request.getfixturevalue(kind)
    outside = tmp_path / "outside"
    _video(outside / "keep.mp4", b"not the job's")
    workdir = _attempt_dir(host, outside)
    host.remove(str(workdir), keep_logs=True)
    left = sorted(p.relative_to(workdir).as_posix() for p in workdir.rglob("*"))
    assert left == [".cosmos", ".cosmos/output.log", "outputs", "outputs/debug.log"]
    assert (outside / "keep.mp4").read_bytes() == b"not the job's", "a link is not followed"
    assert (tmp_path / "input.mp4").is_file(), "the staged input's source stays"
    host.remove(str(workdir))
    assert not workdir.exists()


@pytest.mark.parametrize("kind", ["local", pytest.param("ssh", marks=pytest.mark.ssh)])
def test_remove_keeping_logs_of_a_directory_without_logs_or_that_is_gone(
    kind: str, request: pytest.FixtureRequest
) -> None:
    host: Host = request.getfixturevalue(kind)
    workdir = host.job_dir("job_b_a1")
    host.stage(workdir, {"spec.json": "{}", "sub/x.txt": "x"}, {})
    host.remove(workdir, keep_logs=True)
    assert not Path(workdir).exists()
    host.remove(workdir, keep_logs=True)  # nothing there: nothing to do
