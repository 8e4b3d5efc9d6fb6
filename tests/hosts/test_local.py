"""The local host against real child processes."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest

from cosmos_workflow.domain.errors import ExecutionError, InvalidInput
from cosmos_workflow.hosts.base import ContainerRef
from cosmos_workflow.hosts.local import LocalHost
from tests.hosts.helpers import (
    INTERLEAVED,
    PYTHON,
    STUBBORN,
    WAIT_FOR_GO,
    Lines,
    group_gone,
    process_gone,
)


@pytest.fixture
def host(tmp_path: Path) -> LocalHost:
    return LocalHost("local", tmp_path / "root", kill_grace_s=0.5)


def run(host: LocalHost, argv: list[str], workdir: str, **options: object) -> tuple:
    lines = options.pop("lines", None) or Lines()
    settings: dict = {
        "cwd": None,
        "env": {},
        "cancel": threading.Event(),
        "timeout_s": None,
        "log_path": None,
        **options,
    }
    result = host.run(argv, workdir=workdir, on_line=lines, **settings)
    return result, lines.lines


def test_job_dir_is_under_root_and_refuses_unsafe_ids(host: LocalHost) -> None:
    assert host.job_dir("job_abc") == f"{host.root}/job_abc"
    for bad in ("", "../x", "Job", "a/b", "x" * 65):
        with pytest.raises(InvalidInput):
            host.job_dir(bad)


def test_stage_writes_files_and_copies(host: LocalHost, tmp_path: Path) -> None:
    source = tmp_path / "video.bin"
    source.write_bytes(b"\x00\x01video")
    workdir = host.job_dir("job_a")
    host.stage(workdir, {"spec.json": '{"a": 1}', "sub/dir/p.txt": "prompt"}, {"in/v.bin": source})
    assert Path(workdir, "spec.json").read_text() == '{"a": 1}'
    assert Path(workdir, "sub/dir/p.txt").read_text() == "prompt"
    assert Path(workdir, "in/v.bin").read_bytes() == b"\x00\x01video"
    assert host.list_files(workdir) == {"spec.json", "sub/dir/p.txt", "in/v.bin"}


@pytest.mark.parametrize("bad", ["../escape.txt", "/etc/evil", "a/../../escape", "", "."])
def test_stage_refuses_paths_that_leave_the_workdir(host: LocalHost, bad: str) -> None:
    workdir = host.job_dir("job_a")
    with pytest.raises(InvalidInput):
        host.stage(workdir, {"ok.txt": "fine", bad: "x"}, {})
    assert not Path(workdir).exists()  # refused before anything was written
    assert not (Path(host.root).parent / "escape.txt").exists()


def test_stage_refuses_a_symlink_leading_out(host: LocalHost, tmp_path: Path) -> None:
    workdir = host.job_dir("job_a")
    host.stage(workdir, {"a.txt": "a"}, {})
    outside = tmp_path / "outside"
    outside.mkdir()
    Path(workdir, "link").symlink_to(outside)
    with pytest.raises(InvalidInput):
        host.stage(workdir, {"link/x.txt": "x"}, {})
    assert list(outside.iterdir()) == []


def test_workdir_must_be_one_job_dir(host: LocalHost) -> None:
    for bad in (host.root, "/", f"{host.root}/job_a/sub", f"{host.root}/../job_a"):
        with pytest.raises(InvalidInput):
            host.remove(bad)


def test_remove_deletes_only_its_own_job(host: LocalHost) -> None:
    first, second = host.job_dir("job_a"), host.job_dir("job_b")
    host.stage(first, {"out/a.mp4": "a"}, {})
    host.stage(second, {"out/b.mp4": "b"}, {})
    host.remove(first)
    assert not Path(first).exists()
    assert host.list_files(second) == {"out/b.mp4"}


def test_fetch_copies_existing_files_and_folders(host: LocalHost, tmp_path: Path) -> None:
    workdir = host.job_dir("job_a")
    host.stage(workdir, {"out/r1/video.mp4": "v1", "out/r1/log.txt": "l", "single.txt": "s"}, {})
    dest = tmp_path / "dest"
    fetched = host.fetch(workdir, ["out/r1", "single.txt", "out/missing.mp4"], dest)
    assert fetched == {"out/r1": dest / "out/r1", "single.txt": dest / "single.txt"}
    assert (dest / "out/r1/video.mp4").read_text() == "v1"
    assert (dest / "single.txt").read_text() == "s"
    with pytest.raises(InvalidInput):
        host.fetch(workdir, ["../job_b/x"], dest)


def test_first_line_arrives_while_the_process_still_runs(host: LocalHost, tmp_path: Path) -> None:
    workdir = host.job_dir("job_a")
    host.stage(workdir, {}, {})
    go = tmp_path / "go"
    lines = Lines()
    lines.on("first", go.touch)
    log = tmp_path / "logs" / "job_a.log"
    argv = [PYTHON, "-c", WAIT_FOR_GO, str(go)]
    result, seen = run(host, argv, workdir, lines=lines, log_path=log)
    assert seen == ["first", "second"]
    assert result.exit_code == 0 and result.succeeded
    assert log.read_text() == "first\nsecond\n"
    assert result.ended_at >= result.started_at


def test_stdout_and_stderr_are_interleaved_in_printed_order(host: LocalHost) -> None:
    workdir = host.job_dir("job_a")
    host.stage(workdir, {}, {})
    result, seen = run(host, [PYTHON, "-c", INTERLEAVED], workdir)
    assert seen == ["out 0", "err 0", "out 1", "err 1", "out 2", "err 2"]
    assert result.exit_code == 0


def test_carriage_returns_split_progress_lines(host: LocalHost) -> None:
    workdir = host.job_dir("job_a")
    host.stage(workdir, {}, {})
    _, seen = run(host, ["printf", "10%%\\r50%%\\r100%%\\ndone"], workdir)
    assert seen == ["10%", "50%", "100%", "done"]


def test_cwd_env_and_exit_code(host: LocalHost) -> None:
    workdir = host.job_dir("job_a")
    host.stage(workdir, {"sub/keep.txt": "k"}, {})
    script = 'pwd; echo "$GREETING"; exit 7'
    result, seen = run(
        host, ["sh", "-c", script], workdir, cwd=f"{workdir}/sub", env={"GREETING": "a $b c"}
    )
    assert seen == [f"{workdir}/sub", "a $b c"]
    assert result.exit_code == 7 and result.signal is None and not result.succeeded


def test_death_by_signal_is_reported(host: LocalHost) -> None:
    workdir = host.job_dir("job_a")
    host.stage(workdir, {}, {})
    result, _ = run(host, ["sh", "-c", "kill -9 $$"], workdir)
    assert result.exit_code is None and result.signal == signal.SIGKILL


def test_cancel_kills_the_group_even_when_sigterm_is_ignored(host: LocalHost) -> None:
    workdir = host.job_dir("job_a")
    host.stage(workdir, {}, {})
    cancel = threading.Event()
    lines = Lines()
    lines.on("ready", cancel.set)
    result, seen = run(host, ["sh", "-c", STUBBORN], workdir, cancel=cancel, lines=lines)
    assert seen == ["ready"]
    assert result.cancelled and not result.timed_out and result.exit_code is None
    assert result.signal == signal.SIGKILL  # SIGTERM was ignored
    child = int(Path(workdir, "child.pid").read_text())
    grandchild = int(Path(workdir, "grandchild.pid").read_text())
    assert process_gone(child) and process_gone(grandchild) and group_gone(child)


def test_timeout_stops_the_process(host: LocalHost) -> None:
    workdir = host.job_dir("job_a")
    host.stage(workdir, {}, {})
    result, _ = run(host, ["sh", "-c", "echo $$ > pid; exec sleep 30"], workdir, timeout_s=0.3)
    assert result.timed_out and not result.cancelled
    assert result.signal == signal.SIGTERM
    assert group_gone(int(Path(workdir, "pid").read_text()))


def test_processes_left_behind_are_stopped_when_the_command_ends(host: LocalHost) -> None:
    workdir = host.job_dir("job_a")
    host.stage(workdir, {}, {})
    result, _ = run(host, ["sh", "-c", "sleep 60 > /dev/null & echo $! > orphan.pid"], workdir)
    assert result.exit_code == 0
    assert process_gone(int(Path(workdir, "orphan.pid").read_text()))


def test_cancel_kills_the_named_container(host: LocalHost, tmp_path: Path) -> None:
    """The runtime is a stand-in executable recording its arguments: the host must call
    `<runtime> kill <exact name>` besides killing the local client process."""
    record = tmp_path / "runtime-calls"
    runtime = tmp_path / "fake-runtime"
    runtime.write_text(f'#!/bin/sh\necho "$@" >> {record}\n')
    runtime.chmod(0o755)
    workdir = host.job_dir("job_a")
    host.stage(workdir, {}, {})
    cancel = threading.Event()
    lines = Lines()
    lines.on("ready", cancel.set)
    container = ContainerRef(runtime=str(runtime), name="cosmos-job_a")
    argv = ["sh", "-c", "echo ready; exec sleep 30"]
    result, _ = run(host, argv, workdir, cancel=cancel, lines=lines, container=container)
    assert result.cancelled
    assert record.read_text() == "kill cosmos-job_a\n"


def test_a_missing_executable_is_an_execution_error(host: LocalHost) -> None:
    workdir = host.job_dir("job_a")
    host.stage(workdir, {}, {})
    with pytest.raises(ExecutionError, match="no-such-program"):
        run(host, ["no-such-program-xyz"], workdir)


def test_a_failing_line_callback_does_not_stop_the_job(host: LocalHost, tmp_path: Path) -> None:
    workdir = host.job_dir("job_a")
    host.stage(workdir, {}, {})
    log = tmp_path / "job.log"

    def broken(line: str) -> None:
        raise RuntimeError("listener bug")

    result = host.run(
        ["sh", "-c", "echo a; echo b"],
        workdir=workdir,
        cwd=None,
        env={},
        on_line=broken,
        cancel=threading.Event(),
        timeout_s=None,
        log_path=log,
    )
    assert result.exit_code == 0
    assert log.read_text() == "a\nb\n"
