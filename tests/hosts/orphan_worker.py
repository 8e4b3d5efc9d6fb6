"""A stand-in worker for the orphan tests, run as its own process so a test can SIGKILL it.

It runs one command on a host with an attempt marker and writes the process group id that
`on_start` reports to a file, then follows the command until it is killed. Usage:
`python orphan_worker.py '<json>'` with keys host ("local" or "ssh"), root, workdir, argv, marker,
pgid_file, and for ssh also target, port, key_path, known_hosts."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

from cosmos_workflow.hosts.base import Host
from cosmos_workflow.hosts.local import LocalHost
from cosmos_workflow.hosts.ssh import SSHHost


def make_host(spec: dict[str, Any]) -> Host:
    if spec["host"] == "local":
        return LocalHost("local", Path(spec["root"]))
    return SSHHost(
        "gpu-box",
        spec["target"],
        root=spec["root"],
        port=spec["port"],
        key_path=Path(spec["key_path"]),
        known_hosts=Path(spec["known_hosts"]),
        poll_interval_s=0.05,
    )


def record(path: Path, pgid: int) -> None:
    """Written whole, then renamed: the test never reads half a number."""
    partial = path.with_suffix(".partial")
    partial.write_text(str(pgid))
    partial.replace(path)


def main() -> None:
    spec = json.loads(sys.argv[1])
    pgid_file = Path(spec["pgid_file"])
    make_host(spec).run(
        spec["argv"],
        workdir=spec["workdir"],
        cwd=None,
        env={},
        on_line=lambda line: None,
        cancel=threading.Event(),
        timeout_s=None,
        log_path=None,
        marker=spec["marker"],
        on_start=lambda pgid: record(pgid_file, pgid),
    )


if __name__ == "__main__":
    main()
