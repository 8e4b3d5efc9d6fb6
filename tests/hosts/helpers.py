"""Small helpers shared by the host tests: child programs and process inspection."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path

PYTHON = sys.executable

# Prints a line, waits until the test creates `go` (at most 20 s), prints again: if output were
# only delivered after exit, the test's callback could never create `go` and the child would say so.
WAIT_FOR_GO = """
import os, sys, time
print("first")
deadline = time.monotonic() + 20
while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:
    time.sleep(0.02)
print("second" if os.path.exists(sys.argv[1]) else "go never came")
for index in range(int(sys.argv[2]) if len(sys.argv) > 2 else 0):
    print(f"line {index}")
sys.exit(int(sys.argv[3]) if len(sys.argv) > 3 else 0)
"""

INTERLEAVED = """
import sys
for index in range(3):
    print(f"out {index}", flush=True)
    print(f"err {index}", file=sys.stderr, flush=True)
"""

# A shell that ignores SIGTERM, with a grandchild that inherits the ignored SIGTERM.
STUBBORN = (
    "trap '' TERM; echo $$ > child.pid; sleep 60 & echo $! > grandchild.pid; echo ready; wait"
)


class Lines:
    """Collects streamed lines; can run an action when a given line arrives."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.actions: dict[str, list[Callable[[], object]]] = {}
        self.lock = threading.Lock()

    def on(self, line: str, action: Callable[[], object]) -> None:
        self.actions.setdefault(line, []).append(action)

    def __call__(self, line: str) -> None:
        with self.lock:
            self.lines.append(line)
        for action in self.actions.get(line, []):
            action()


def process_gone(pid: int) -> bool:
    """True when no live process has this pid (a zombie nobody reaps counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2 :].split()[0] == "Z"


def group_gone(pgid: int) -> bool:
    """True when no live process belongs to this process group."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            return False
    return True


def marked_pids(marker: str) -> set[int]:
    """Pids of the live processes whose environment holds COSMOS_ATTEMPT=<marker>; the test's own
    look, independent of the hosts' code."""
    wanted = f"COSMOS_ATTEMPT={marker}".encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if wanted in (entry / "environ").read_bytes().split(b"\0"):
                found.add(int(entry.name))
        except OSError:
            continue
    return found
