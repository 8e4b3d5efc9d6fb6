"""Run every benchmark, one after the other, each in its own process (so one's imports, pools
and child processes never colour another's figures).

    python -m benchmarks.run_all [--quick]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time

# Each benchmark module and the arguments that make it a quick smoke run.
BENCHMARKS: dict[str, tuple[str, ...]] = {
    "benchmarks.queue_throughput": ("--quick",),
    "benchmarks.worker_overhead": ("--quick",),
    "benchmarks.batching_gain": ("--quick",),
    "benchmarks.planner": ("--sizes", "1000"),
    "benchmarks.cli_analyze": ("--quick",),
    "benchmarks.lists": ("--quick",),
    "benchmarks.fleet": ("--quick",),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke sizes for every benchmark")
    args = parser.parse_args(argv)
    failed = []
    for module, quick in BENCHMARKS.items():
        if importlib.util.find_spec(module) is None:
            continue
        extra = list(quick) if args.quick else []
        command = [sys.executable, "-m", module, *extra]
        print(f"$ python -m {' '.join([module, *extra])}", flush=True)
        started = time.perf_counter()
        code = subprocess.run(command, check=False).returncode
        print(f"({module}: exit {code}, {time.perf_counter() - started:.0f} s wall)\n", flush=True)
        if code != 0:
            failed.append(module)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
