"""Planning from the command line against listing: `cosmos batch analyze` on a queue of N runs,
process start included, against `cosmos queue list --limit N` on the same queue, both as real
`cosmos` processes, median of several runs each; analysis under the default output rule and
with `--allow-output-changes`.

    python -m benchmarks.cli_analyze [--quick] [--runs N] [--repeat K]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import make_context, quiet_logging, ratio_line, seed_prompts
from cosmos_workflow.services import queue

CONTROL_SETS = (
    {"edge": 0.5},
    {"depth": 0.5},
    {"seg": 0.6},
    {"depth": 0.4, "seg": 0.4},
    {"vis": 0.3, "edge": 0.4},
    {"edge": 0.7, "depth": 0.3},
)


def fill_queue(home: Path, runs: int) -> None:
    """`runs` one-run jobs over six control sets, two step counts and two priorities."""
    ctx = make_context(home)
    prompt_ids = seed_prompts(ctx, 20)
    chooser = random.Random(7)
    requests = [
        queue.build_request(
            [chooser.choice(prompt_ids)],
            chooser.choice(CONTROL_SETS),
            {"steps": chooser.choice([35, 20])},
            priority=chooser.choice([0, 0, 0, 5]),
        )
        for _ in range(runs)
    ]
    queue.enqueue_many(ctx, requests)
    ctx.db.dispose()


def median_seconds(argv: list[str], env: dict[str, str], repeat: int) -> tuple[float, str]:
    times, output = [], ""
    for _ in range(repeat):
        started = time.perf_counter()
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - started)
        output = result.stdout
    return statistics.median(times), output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 runs, 1 repetition")
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    runs, repeat = (1_000, 1) if args.quick else (args.runs, args.repeat)
    quiet_logging()
    with tempfile.TemporaryDirectory(prefix="cosmos-bench-cli-") as folder:
        home = Path(folder) / "home"
        fill_queue(home, runs)
        env = {
            **os.environ,
            "COSMOS_HOME": str(home),
            "COSMOS_INPUT_ROOTS": json.dumps([folder]),
            "COSMOS_DATABASE_URL": f"sqlite:///{home / 'cosmos.db'}",
        }
        cosmos = [sys.executable, "-m", "cosmos_workflow.cli.main"]
        listed, _ = median_seconds(
            [*cosmos, "queue", "list", "--limit", str(runs), "--json"], env, repeat
        )
        planned, out = median_seconds(
            [*cosmos, "batch", "analyze", "--mode", "auto", "--json"], env, repeat
        )
        plan = json.loads(out)
        loose, out = median_seconds(
            [*cosmos, "batch", "analyze", "--mode", "auto", "--allow-output-changes", "--json"],
            env,
            repeat,
        )
        allowed = json.loads(out)
    print(f"cli analyze: {os.cpu_count()} CPUs, SQLite, {runs} queued runs, median of {repeat}")
    print(f"cosmos queue list --limit {runs} --json      {listed:6.2f} s")
    print(
        f"cosmos batch analyze --mode auto --json   {planned:6.2f} s  "
        f"({plan['runs']} runs -> {len(plan['batches'])} batches, predicted speedup "
        f"{plan['speedup']:.2f}x)"
    )
    print(
        f"  ... --allow-output-changes --json        {loose:6.2f} s  "
        f"({len(allowed['batches'])} batches, predicted speedup {allowed['speedup']:.2f}x)"
    )
    print(ratio_line("analyze vs list", planned, listed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
