"""Soak: worker processes SIGKILLed at random moments while they run real simulator jobs, with a
new worker started after each kill, then the ledger of what counts checked.

What counts (the ledger, shared with tests/faults, which import it from here because benchmarks
import nothing from tests/):

- run twice: a run whose terminal status (succeeded/failed/cancelled) was recorded more than
  once (`run.status` events), a job that reached the final write more than once (terminal
  `job.status` events), an enhanced prompt that no run points at (a second attempt's result);
  in fault-free runs also more than one attempt (AttemptRow) per job;
- lost: a run or job not terminal at the end, a succeeded video run without a decoding output
  file, a succeeded enhance run without its enhanced prompt;
- output overwritten: a succeeded run whose output (or thumbnail) file was written or moved into
  place after the run's `finished_at` (its mtime or ctime is later: a later attempt replaced it);
- processes left: a live simulator process (zombies excluded) whose environment holds this
  home's COSMOS_HOME or the COSMOS_ATTEMPT marker of one of this database's attempts;
- ran beside: two attempts of one job whose simulator processes were seen alive at the same
  moment (ProcessWatch scans /proc while the workers run; on a local host a retry must never
  start before the process it replaces was ended).

    python -m benchmarks.soak [--quick] [--kills N] [--workers N] [--database sqlite|postgres]
        [--jobs N] [--seed N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from benchmarks.common import (
    Unavailable,
    database,
    postgres_version,
    quiet_logging,
    ratio_line,
    seed_prompts,
    sqlite_version,
)
from cosmos_workflow.config import load_settings
from cosmos_workflow.demo.samples import Scene
from cosmos_workflow.services import media, queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.db import Database
from cosmos_workflow.store.models import AttemptRow, EventRow, JobRow, PromptRow, RunRow

ROOT = Path(__file__).resolve().parents[1]
TERMINAL_RUNS = frozenset({"succeeded", "failed", "cancelled"})
FINAL_JOBS = frozenset({"succeeded", "failed", "cancelled"})  # what a final write records
UNFINISHED_JOBS = frozenset({"queued", "running"})
SIMULATOR_MODULE = b"cosmos_workflow.simulator"
# A file system clock may lag time.time() by a tick, never lead it; this only absorbs float
# rounding of the stored times.
CLOCK_SLACK_S = 0.001


# -- the ledger ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveProcess:
    pid: int
    marker: str | None
    cmdline: str


@dataclass
class Ledger:
    """What a database and the machine's processes say happened, and what of it is wrong."""

    jobs: int = 0
    runs: int = 0
    attempts: int = 0
    run_statuses: Counter[str] = field(default_factory=Counter)
    job_statuses: Counter[str] = field(default_factory=Counter)
    runs_twice: list[str] = field(default_factory=list)
    jobs_twice: list[str] = field(default_factory=list)
    stray_results: list[str] = field(default_factory=list)
    extra_attempts: list[str] = field(default_factory=list)  # jobs with more than one attempt
    lost: list[str] = field(default_factory=list)
    overwritten: list[str] = field(default_factory=list)
    processes_left: list[LiveProcess] = field(default_factory=list)

    @property
    def run_twice(self) -> int:
        return len(self.runs_twice) + len(self.jobs_twice) + len(self.stray_results)

    def problems(self, *, fault_free: bool = False) -> list[str]:
        """Every violation, one line each (empty: exactly once, nothing lost or left)."""
        found = []
        for label, items in (
            ("runs whose terminal status was recorded more than once", self.runs_twice),
            ("jobs that reached the final write more than once", self.jobs_twice),
            ("enhanced prompts no run points at (a second result)", self.stray_results),
            ("lost (not terminal, or succeeded without its output)", self.lost),
            ("outputs replaced after their run finished", self.overwritten),
        ):
            if items:
                found.append(f"{len(items)} {label}: {_some(items)}")
        if fault_free and self.extra_attempts:
            found.append(
                f"{len(self.extra_attempts)} jobs ran more than once without a fault: "
                f"{_some(self.extra_attempts)}"
            )
        if self.processes_left:
            shown = [f"pid {p.pid} ({p.marker}): {p.cmdline[:160]}" for p in self.processes_left]
            found.append(f"{len(shown)} simulator processes left: {_some(shown)}")
        return found

    def summary(self) -> str:
        return (
            f"{self.jobs} jobs ({dict(self.job_statuses)}), {self.runs} runs "
            f"({dict(self.run_statuses)}), {self.attempts} attempts; run twice {self.run_twice}, "
            f"lost {len(self.lost)}, overwritten {len(self.overwritten)}, "
            f"processes left {len(self.processes_left)}"
        )

    def report(self, *, fault_free: bool = False) -> str:
        return "\n".join([self.summary(), *self.problems(fault_free=fault_free)])


def _some(items: Iterable[object], limit: int = 5) -> str:
    items = list(items)
    shown = ", ".join(str(i) for i in items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def read_ledger(db: Database, home: Path, *, settle_s: float = 3.0) -> Ledger:
    """Read the ledger of one database, and the simulator processes of `home` and of this
    database's attempts still alive (each gets `settle_s` to finish dying)."""
    ledger = Ledger()
    with db.read() as session:
        jobs = session.execute(select(JobRow.id, JobRow.status)).all()
        runs = session.execute(
            select(
                RunRow.id,
                RunRow.kind,
                RunRow.status,
                RunRow.output_path,
                RunRow.thumbnail_path,
                RunRow.finished_at,
                RunRow.result_prompt_id,
            )
        ).all()
        attempts = session.execute(select(AttemptRow.job_id, AttemptRow.marker)).all()
        events = session.execute(
            select(EventRow.kind, EventRow.job_id, EventRow.run_id, EventRow.data).where(
                EventRow.kind.in_(["run.status", "job.status"])
            )
        ).all()
        derived = set(
            session.scalars(select(PromptRow.id).where(PromptRow.parent_prompt_id.is_not(None)))
        )
    ledger.jobs, ledger.runs, ledger.attempts = len(jobs), len(runs), len(attempts)
    ledger.job_statuses.update(status for _, status in jobs)
    ledger.run_statuses.update(run.status for run in runs)
    run_ends: Counter[str] = Counter()
    job_ends: Counter[str] = Counter()
    for kind, job_id, run_id, data in events:
        status = (data or {}).get("status")
        if kind == "run.status" and run_id and status in TERMINAL_RUNS:
            run_ends[run_id] += 1
        elif kind == "job.status" and job_id and status in FINAL_JOBS:
            job_ends[job_id] += 1
    ledger.runs_twice = sorted(r for r, n in run_ends.items() if n > 1)
    ledger.jobs_twice = sorted(j for j, n in job_ends.items() if n > 1)
    pointed = {run.result_prompt_id for run in runs if run.result_prompt_id}
    ledger.stray_results = sorted(derived - pointed)
    per_job = Counter(job_id for job_id, _ in attempts)
    ledger.extra_attempts = sorted(j for j, n in per_job.items() if n > 1)
    ledger.lost = [f"job {j} {status}" for j, status in jobs if status in UNFINISHED_JOBS]
    for run in runs:
        if run.status not in TERMINAL_RUNS:
            ledger.lost.append(f"run {run.id} {run.status}")
        elif run.status == "succeeded":
            problem = _missing_result(run.kind, run.output_path, run.result_prompt_id, derived)
            if problem:
                ledger.lost.append(f"run {run.id}: {problem}")
            elif _changed_after(run.finished_at, run.output_path, run.thumbnail_path):
                ledger.overwritten.append(run.id)
    markers = {marker for _, marker in attempts if marker}
    ledger.processes_left = settle(home, markers, settle_s)
    return ledger


def _missing_result(
    kind: str, output_path: str | None, prompt_id: str | None, derived: set[str]
) -> str | None:
    if kind == "enhance":
        return None if prompt_id in derived else "succeeded without its enhanced prompt"
    if not output_path:
        return "succeeded without an output path"
    if not media.video_decodes(Path(output_path)):
        return f"its output {output_path} is missing or does not decode"
    return None


def _changed_after(finished_at: float | None, *paths: str | None) -> bool:
    """Was a file written (mtime) or moved into place (ctime) after the run finished?"""
    if finished_at is None:
        return True
    for path in paths:
        if not path:
            continue
        try:
            info = os.stat(path)
        except FileNotFoundError:
            continue
        if max(info.st_mtime, info.st_ctime) > finished_at + CLOCK_SLACK_S:
            return True
    return False


def live_simulators(home: Path, markers: Iterable[str] = ()) -> list[LiveProcess]:
    """Live (non-zombie) processes running the simulator whose environment holds
    COSMOS_HOME=<home> or COSMOS_ATTEMPT=<one of markers>."""
    wanted_home = f"COSMOS_HOME={home}".encode()
    wanted_markers = {f"COSMOS_ATTEMPT={m}".encode() for m in markers}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            stat = (entry / "stat").read_text()
            if stat[stat.rindex(")") + 2 :].split()[0] == "Z":
                continue
            cmdline = (entry / "cmdline").read_bytes()
            if SIMULATOR_MODULE not in cmdline:
                continue
            environ = set((entry / "environ").read_bytes().split(b"\0"))
        except (OSError, ValueError, IndexError):  # gone meanwhile, or not ours to read
            continue
        if wanted_home in environ or environ & wanted_markers:
            marker = next(
                (
                    v.decode()[len("COSMOS_ATTEMPT=") :]
                    for v in environ
                    if v.startswith(b"COSMOS_ATTEMPT=")
                ),
                None,
            )
            text = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
            found.append(LiveProcess(int(entry.name), marker, text))
    return found


def settle(home: Path, markers: Iterable[str], timeout_s: float) -> list[LiveProcess]:
    """The simulator processes still alive after up to `timeout_s` (a process being ended gets
    its grace)."""
    markers = set(markers)
    deadline = time.monotonic() + timeout_s
    while True:
        alive = live_simulators(home, markers)
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.1)


class ProcessWatch(threading.Thread):
    """Scans /proc every `interval_s` while workers run: which attempts' simulator processes
    were alive when, and which jobs had two attempts' processes alive at the same moment."""

    def __init__(self, db: Database, home: Path, interval_s: float = 0.2) -> None:
        super().__init__(name="process-watch", daemon=True)
        self.db = db
        self.home = home
        self.interval_s = interval_s
        self.seen: dict[str, list[float]] = {}  # marker -> [first seen, last seen]
        self.beside: dict[str, set[str]] = {}  # job -> markers seen alive together
        self.scans = 0
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.wait(self.interval_s):
            try:
                self.scan()
            except Exception:  # the database may be the fault under test: scan again next tick
                continue

    def scan(self) -> None:
        with self.db.read() as session:
            jobs = {
                marker: job_id
                for marker, job_id in session.execute(
                    select(AttemptRow.marker, AttemptRow.job_id)
                ).all()
                if marker
            }
        alive: dict[str, set[str]] = {}
        now = time.monotonic()
        for process in live_simulators(self.home, jobs):
            if process.marker in jobs:
                self.seen.setdefault(process.marker, [now, now])[1] = now
                alive.setdefault(jobs[process.marker], set()).add(process.marker)
        for job_id, markers in alive.items():
            if len(markers) > 1:
                self.beside.setdefault(job_id, set()).update(markers)
        self.scans += 1

    def lifetime(self, marker: str) -> float:
        """Seconds between the first and the last scan that saw this attempt's process."""
        first, last = self.seen[marker]
        return last - first

    def ran_beside(self) -> list[str]:
        return [f"job {job} ({', '.join(sorted(m))})" for job, m in sorted(self.beside.items())]

    def stop(self) -> None:
        self._stopping.set()
        self.join()


# -- the kill soak -------------------------------------------------------------------------------

# A small input: what a job costs is the simulator process, not the size of its video.
SOAK_SCENE = Scene("soak", 12, (120, 120, 200), ("edge",))
PROMPTS = 4


@dataclass(frozen=True)
class SoakPlan:
    """`kills` SIGKILLs of `workers` worker processes at random moments (a gap drawn from
    `gap_s` between kills, a random victim), a new worker started after each kill."""

    jobs: int
    kills: int
    workers: int = 2
    seed: int = 0
    time_scale: float = 0.004  # a one-run job takes about 2-3 s here
    lease_seconds: float = 2.0
    gap_s: tuple[float, float] = (0.3, 2.2)
    drain_timeout_s: float = 240.0

    @property
    def max_attempts(self) -> int:
        # Enough that no job is quarantined however often it is hit (the setting's most is
        # 100): every run must succeed.
        return min(self.kills + 3, 100)


@dataclass
class SoakResult:
    plan: SoakPlan
    ledger: Ledger
    jobs: int
    runs: int
    kills: int
    starts: int
    wall_s: float
    drained: bool
    stop_codes: list[int | None]  # exit codes of the workers stopped at the end (SIGTERM)
    logs: Path
    ran_beside: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        found = list(self.ledger.problems())
        if self.ran_beside:
            found.append(
                f"{len(self.ran_beside)} jobs ran beside a retry: {_some(self.ran_beside)}"
            )
        if not self.drained:
            found.append(f"the queue did not drain within {self.plan.drain_timeout_s:g}s")
        if set(self.ledger.run_statuses) - {"succeeded"}:
            found.append(f"runs did not all succeed: {dict(self.ledger.run_statuses)}")
        if any(code != 0 for code in self.stop_codes):
            found.append(f"workers stopped at the end exited {self.stop_codes} (see {self.logs})")
        return found

    def describe(self) -> str:
        return (
            f"seed {self.plan.seed}: {self.kills} kills, {self.starts} worker starts, "
            f"{self.ledger.summary()}, ran beside a retry {len(self.ran_beside)}, "
            f"wall {self.wall_s:.1f}s; worker logs in {self.logs}"
        )


def soak_context(env: Mapping[str, str], plan: SoakPlan) -> Context:
    """A context on the soak's home and database whose jobs may be attempted often enough."""
    home = Path(env["COSMOS_HOME"])
    settings = load_settings(
        home=home,
        database_url=env["COSMOS_DATABASE_URL"],
        input_roots=[home],
        max_attempts=plan.max_attempts,
        hosts=[],
    )
    return Context(settings)


def enqueue_soak_jobs(ctx: Context, jobs: int) -> None:
    """`jobs` video jobs (every fourth one a two-run batch) in one transaction."""
    prompt_ids = seed_prompts(ctx, PROMPTS, SOAK_SCENE)
    requests = []
    for index in range(jobs):
        first = index % PROMPTS
        chosen = [prompt_ids[first]]
        if index % 4 == 3:
            chosen.append(prompt_ids[(first + 1) % PROMPTS])
        requests.append(queue.build_request(chosen, {"edge": 0.5}, {"seed": index}))
    queue.enqueue_many(ctx, requests)


class Workers:
    """`cosmos worker --simulate` processes, each logging to its own file."""

    def __init__(self, env: Mapping[str, str], logs: Path) -> None:
        self.env = dict(env)
        self.logs = logs
        logs.mkdir(parents=True, exist_ok=True)
        self.started = 0
        self.live: list[subprocess.Popen[bytes]] = []

    def start(self, *extra: str) -> subprocess.Popen[bytes]:
        self.started += 1
        log = (self.logs / f"worker-{self.started:02d}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "cosmos_workflow.cli.main", "worker", "--simulate", *extra],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.live.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        self.live.remove(process)

    def stop_all(self, timeout_s: float = 60) -> list[int | None]:
        """SIGTERM (finish the running job, then exit) to each; their exit codes."""
        for process in self.live:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes: list[int | None] = []
        for process in self.live:
            try:
                codes.append(process.wait(timeout=timeout_s))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                codes.append(None)
        self.live.clear()
        return codes


def unfinished(db: Database) -> int:
    with db.read() as session:
        jobs = session.scalars(select(JobRow.id).where(JobRow.status.in_(UNFINISHED_JOBS))).all()
    return len(jobs)


def run_soak(env: Mapping[str, str], plan: SoakPlan, logs: Path) -> SoakResult:
    """Enqueue, run `plan.workers` workers, kill one `plan.kills` times (replacing it each
    time), wait for the queue to drain, stop the workers and read the ledger."""
    logs.mkdir(parents=True, exist_ok=True)
    ctx = soak_context(env, plan)
    try:
        enqueue_soak_jobs(ctx, plan.jobs)
        with ctx.db.read() as session:
            runs = len(session.scalars(select(RunRow.id)).all())
        worker_env = {
            **os.environ,
            **env,
            "COSMOS_SIM_TIME_SCALE": str(plan.time_scale),
            "COSMOS_LEASE_SECONDS": str(plan.lease_seconds),
            "COSMOS_MAX_ATTEMPTS": str(plan.max_attempts),
        }
        rng = random.Random(plan.seed)
        workers = Workers(worker_env, logs)
        watch = ProcessWatch(ctx.db, Path(env["COSMOS_HOME"]))
        watch.start()
        started = time.perf_counter()
        try:
            for _ in range(plan.workers):
                workers.start()
            for _ in range(plan.kills):
                time.sleep(rng.uniform(*plan.gap_s))
                workers.kill(rng.choice(workers.live))
                workers.start()
            deadline = time.monotonic() + plan.drain_timeout_s
            while (left := unfinished(ctx.db)) and time.monotonic() < deadline:
                time.sleep(0.5)
        finally:
            codes = workers.stop_all()
            watch.stop()
        wall = time.perf_counter() - started
        ledger = read_ledger(ctx.db, Path(env["COSMOS_HOME"]))
    finally:
        ctx.db.dispose()
    return SoakResult(
        plan=plan,
        ledger=ledger,
        jobs=plan.jobs,
        runs=runs,
        kills=plan.kills,
        starts=workers.started,
        wall_s=wall,
        drained=left == 0,
        stop_codes=codes,
        logs=logs,
        ran_beside=watch.ran_beside(),
    )


# -- the benchmark -------------------------------------------------------------------------------

FULL = {"kills": 100, "workers": 2}
QUICK = {"kills": 3, "workers": 2}


def soak_env(folder: Path, database_url: str) -> dict[str, str]:
    """The environment of a throwaway home: its own database, no config file, no hosts."""
    home = folder / "home"
    home.mkdir(parents=True, exist_ok=True)
    config = folder / "no-config.toml"
    config.write_text("")
    return {
        "COSMOS_HOME": str(home),
        "COSMOS_DATABASE_URL": database_url,
        "COSMOS_INPUT_ROOTS": json.dumps([str(folder)]),
        "COSMOS_CONFIG": str(config),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few kills, for a smoke run")
    parser.add_argument("--kills", type=int, default=None, help="SIGKILLs (default 100)")
    parser.add_argument("--workers", type=int, default=None, help="workers kept running (2)")
    parser.add_argument(
        "--jobs", type=int, default=None, help="jobs (default kills + 10; --quick: kills + 3)"
    )
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    args = parser.parse_args(argv)
    quiet_logging()
    sizes = QUICK if args.quick else FULL
    kills = args.kills if args.kills is not None else sizes["kills"]
    plan = SoakPlan(
        jobs=args.jobs or kills + (3 if args.quick else 10),
        kills=kills,
        workers=args.workers or sizes["workers"],
        seed=args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31),
    )
    version = sqlite_version() if args.database == "sqlite" else postgres_version()
    print(
        f"soak: {os.cpu_count()} CPUs, {args.database} {version}, {plan.workers} workers, "
        f"{plan.kills} kills, {plan.jobs} jobs, seed {plan.seed}, simulator time scale "
        f"{plan.time_scale:g}, lease {plan.lease_seconds:g} s",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="cosmos-soak-") as tmp:
        folder = Path(tmp)
        try:
            with database(args.database, folder) as url:
                result = run_soak(soak_env(folder, url), plan, folder / "logs")
        except Unavailable as exc:
            print(f"{args.database}: skipped ({exc})")
            return 0
        problems = result.problems()
        if problems:  # the logs go with the temporary folder: show their ends
            for log in sorted(result.logs.glob("*.log"))[-3:]:
                print(f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}")
    ledger = result.ledger
    rows = (
        ("jobs", result.jobs),
        ("runs", result.runs),
        ("kills", result.kills),
        ("worker starts", result.starts),
        ("attempts", ledger.attempts),
        ("run twice", ledger.run_twice),
        ("lost", len(ledger.lost)),
        ("overwritten", len(ledger.overwritten)),
        ("processes left", len(ledger.processes_left)),
        ("ran beside a retry", len(result.ran_beside)),
    )
    for label, count in rows:
        print(f"{label:<24}{count:>8}")
    print(f"{'wall time':<24}{result.wall_s:>8.1f} s")
    print(ratio_line("attempts per job", ledger.attempts, result.jobs))
    if problems:
        print("FAILED: " + "; ".join(problems))
        return 1
    print(
        f"checked: every run ended exactly once ({ledger.run_twice} run twice, "
        f"{len(ledger.lost)} lost, {len(ledger.overwritten)} overwritten, "
        f"{len(ledger.processes_left)} processes left, {len(result.ran_beside)} ran beside a "
        "retry)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
