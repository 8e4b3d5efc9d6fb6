"""Every benchmark runs end to end with --quick in its own process, exits 0 and prints its ratio
lines. No timing is asserted: the figures belong in docs/benchmarks.md, not in a test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

EXPECTED_RATIOS = {
    "benchmarks.queue_throughput": (
        "ratio sqlite enqueue_many vs single enqueue: ",
        "ratio sqlite import_jobs vs single enqueue: ",
        "ratio sqlite claim+finish 4 workers vs 1 worker: ",
    ),
    "benchmarks.worker_overhead": (
        "ratio worker wall per job vs bare simulator start: ",
        "ratio simulator process vs bare simulator start: ",
    ),
    "benchmarks.batching_gain": (
        "ratio uniform controls measured speedup: ",
        "ratio uniform controls predicted speedup: ",
        "ratio many control sets measured speedup: ",
        "ratio distilled edge measured speedup: ",
        "ratio distilled edge predicted speedup: ",
        "ratio control-mix sweep, Transfer2.5 measured speedup: ",
        "ratio control-mix sweep, Cosmos 3 measured speedup: ",
        "ratio control-mix sweep, Cosmos 3 predicted speedup: ",
    ),
    "benchmarks.cli_analyze": ("ratio analyze vs list: ",),
    "benchmarks.lists": (
        "ratio sqlite runs page of 50, 1,000 vs 100 jobs of history: ",
        "ratio sqlite live view, 1,000 vs 100 jobs of history: ",
    ),
    "benchmarks.soak": ("ratio attempts per job: ",),
    "benchmarks.fleet": (
        "ratio 16 one-run jobs 4 slots fleet plan drain vs as queued: ",
        "ratio 16 one-run jobs 4 slots fleet plan drain vs GPU-seconds plan: ",
    ),
}


# Lines that prove a benchmark checked what it measured, besides timing it.
EXPECTED_CHECKS = {
    "benchmarks.queue_throughput": "each claimed once, all succeeded after one attempt",
    "benchmarks.soak": "checked: every run ended exactly once (0 run twice, 0 lost",
    "benchmarks.fleet": "check: on one slot the fleet plan is the GPU-seconds plan: yes",
}


def run_quick(module: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", module, "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"{module} exited {result.returncode}:\n{result.stderr}"
    return result.stdout


def ratio_values(stdout: str, prefixes: tuple[str, ...]) -> list[float]:
    values = []
    for prefix in prefixes:
        lines = [line for line in stdout.splitlines() if line.startswith(prefix)]
        assert len(lines) == 1, f"expected one line starting {prefix!r} in:\n{stdout}"
        values.append(float(lines[0].removeprefix(prefix).removesuffix("x")))
    return values


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("module", sorted(EXPECTED_RATIOS))
def test_benchmark_quick_run_prints_its_ratios(module: str) -> None:
    stdout = run_quick(module)
    values = ratio_values(stdout, EXPECTED_RATIOS[module])
    assert all(value > 0 for value in values), stdout
    assert EXPECTED_CHECKS.get(module, "") in stdout
