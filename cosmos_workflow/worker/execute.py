"""Execute one claimed job: render, stage, run with heartbeats, collect, record.

Every final write is guarded by the lease token: a worker that lost its lease writes nothing."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy import select

from cosmos_workflow import defaults
from cosmos_workflow.backends import get_backend
from cosmos_workflow.backends.base import BackendImpl, RenderedJob, RunOutcome
from cosmos_workflow.domain.controls import control_set_key
from cosmos_workflow.domain.errors import CosmosError
from cosmos_workflow.domain.ids import new_id
from cosmos_workflow.domain.params import JobKind
from cosmos_workflow.domain.states import FailureClass, JobStatus, RunStatus
from cosmos_workflow.domain.work import JobWork
from cosmos_workflow.hosts.base import UNBUFFERED_ENV, ContainerRef, Host, ProcessResult
from cosmos_workflow.hosts.container import container_ref, wrap_in_container
from cosmos_workflow.services import media
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.jobwork import load_job_work
from cosmos_workflow.services.targets import HostChoice
from cosmos_workflow.store import queue as store
from cosmos_workflow.store.models import AttemptRow, JobRow, PromptRow, RunRow
from cosmos_workflow.store.timings import add_timing, learn_limit
from cosmos_workflow.store.workers import worker_heartbeat
from cosmos_workflow.worker.timings import PhaseClock

log = logging.getLogger(__name__)

EVENT_FLUSH_SECONDS = 0.5
SIMULATOR = (sys.executable, "-m", "cosmos_workflow.simulator")


@dataclass
class RunState:
    """What the heartbeat thread and the output stream learn while the process runs."""

    cancel: threading.Event = field(default_factory=threading.Event)
    lease_lost: bool = False
    cancel_requested: bool = False
    lines: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    progress: dict[str, int | None] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class JobExecutor:
    def __init__(
        self, ctx: Context, choice: HostChoice, host: Host, worker_id: str, kill: threading.Event
    ) -> None:
        self.ctx = ctx
        self.choice = choice
        self.host = host
        self.worker_id = worker_id
        self.kill = kill

    def execute(self, claim: store.Claim) -> None:
        """Run a claimed job to its end; never raises for a job's own failure."""
        try:
            self._execute(claim)
        except CosmosError as exc:
            log.error("job=%s failed before it ran: %s", claim.job_id, exc.message)
            store.finish_job(
                self.ctx.db,
                claim.job_id,
                claim.lease_token,
                JobStatus.FAILED,
                runs=self._all_runs_failed(claim.job_id, exc.message, FailureClass.BAD_INPUT),
                error=exc.message,
                failure_class=FailureClass.BAD_INPUT,
            )

    def _all_runs_failed(
        self, job_id: str, message: str, failure: FailureClass
    ) -> dict[str, store.RunResult]:
        with self.ctx.db.read() as session:
            ids = session.query(RunRow.id).filter(
                RunRow.job_id == job_id, RunRow.status == RunStatus.RUNNING.value
            )
            return {
                run_id: store.RunResult(RunStatus.FAILED, error=message, failure_class=failure)
                for (run_id,) in ids
            }

    def _execute(self, claim: store.Claim) -> None:
        with self.ctx.db.read() as session:
            job = load_job_work(session, claim.job_id)
            predicted = session.scalar(
                select(JobRow.predicted_seconds).where(JobRow.id == claim.job_id)
            )
        backend = get_backend(job.backend)
        # One directory per attempt: a process orphaned by a killed worker never shares it.
        attempt_key = f"{job.job_id}_a{claim.attempt}"
        workdir = self.host.job_dir(attempt_key)
        rendered = backend.render(job, self.choice.target, workdir)
        self.host.stage(workdir, rendered.files, rendered.stage)
        argv, cwd, container = host_command(self.choice, attempt_key, rendered, workdir)
        env = host_environment(self.choice, rendered)
        log_path = self.ctx.settings.logs_dir / f"{job.job_id}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        attempt_id = self._start_attempt(job.job_id, argv)
        state = RunState()
        clock = PhaseClock(backend)
        heartbeat = threading.Thread(
            target=self._heartbeat,
            args=(claim, state),
            name=f"heartbeat-{job.job_id}",
            daemon=True,
        )
        heartbeat.start()
        try:
            result = self.host.run(
                argv,
                workdir=workdir,
                cwd=cwd,
                env=env,
                on_line=lambda line: _observe(line, state, clock),
                cancel=state.cancel,
                timeout_s=self.choice.config.timeout_seconds,
                log_path=log_path,
                container=container,
            )
        finally:
            state.cancel.set()
            heartbeat.join()
            self._flush_lines(job.job_id, state)
        self._end_attempt(attempt_id, result)
        if state.lease_lost:
            log.warning("job=%s: lease lost while running; another worker owns it", job.job_id)
            return
        self._record(claim, job, rendered, workdir, result, state, clock, backend, predicted)

    def _flush_lines(self, job_id: str, state: RunState) -> None:
        with state.lock:
            lines, state.pending = state.pending, []
            progress, state.progress = state.progress, {}
        if not lines and not progress:
            return
        with self.ctx.db.write() as session:
            if lines:
                store.record_event(session, "job.log", job_id=job_id, lines=lines[-200:])
            if progress:
                store.record_event(
                    session,
                    "job.progress",
                    job_id=job_id,
                    step=progress.get("step"),
                    total=progress.get("total"),
                    clip=progress.get("clip"),
                )

    def _heartbeat(self, claim: store.Claim, state: RunState) -> None:
        interval = defaults.heartbeat_seconds(self.ctx.settings.lease_seconds)
        next_renewal = time.monotonic() + interval
        while not state.cancel.wait(EVENT_FLUSH_SECONDS):
            self._flush_lines(claim.job_id, state)
            if self.kill.is_set():
                state.cancel.set()
                return
            if time.monotonic() < next_renewal:
                continue
            next_renewal = time.monotonic() + interval
            held, cancel = store.renew_lease(
                self.ctx.db, claim.job_id, claim.lease_token, self.ctx.settings.lease_seconds
            )
            worker_heartbeat(self.ctx.db, self.worker_id, claim.job_id)
            if not held:
                state.lease_lost = True
                state.cancel.set()
            elif cancel:
                state.cancel_requested = True
                state.cancel.set()

    def _start_attempt(self, job_id: str, argv: Sequence[str]) -> int:
        with self.ctx.db.write() as session:
            row = AttemptRow(
                job_id=job_id,
                worker_id=self.worker_id,
                host_name=self.choice.config.name,
                argv=list(argv),
                started_at=store.now(),
            )
            session.add(row)
            session.flush()
            return row.id

    def _end_attempt(self, attempt_id: int, result: ProcessResult) -> None:
        outcome = (
            "cancelled"
            if result.cancelled
            else "timed_out"
            if result.timed_out
            else "exited"
            if result.exit_code is not None
            else "killed"
        )
        with self.ctx.db.write() as session:
            row = session.get(AttemptRow, attempt_id)
            if row is not None:
                row.ended_at = store.now()
                row.exit_code = result.exit_code
                row.outcome = outcome

    # -- recording the outcome -------------------------------------------------------------

    def _record(
        self,
        claim: store.Claim,
        job: JobWork,
        rendered: RenderedJob,
        workdir: str,
        result: ProcessResult,
        state: RunState,
        clock: PhaseClock,
        backend: BackendImpl,
        predicted: float | None,
    ) -> None:
        db = self.ctx.db
        if state.cancel_requested:
            message = "cancelled by user"
            runs = {
                r.run_id: store.RunResult(
                    RunStatus.CANCELLED, error=message, failure_class=FailureClass.CANCELLED
                )
                for r in job.runs
            }
            store.finish_job(
                db,
                claim.job_id,
                claim.lease_token,
                JobStatus.CANCELLED,
                runs=runs,
                error=message,
                failure_class=FailureClass.CANCELLED,
            )
            return
        exit_code = result.exit_code if result.exit_code is not None else -1
        failure = None
        if result.timed_out:
            failure = FailureClass.CRASH
        elif exit_code != 0:
            failure = backend.classify_failure(exit_code, state.lines) or FailureClass.CRASH
        produced = self.host.list_files(workdir)
        texts = read_back(
            self.host, workdir, rendered, self.ctx.settings.logs_dir / f"{job.job_id}.read_back"
        )
        outcomes: dict[str, RunOutcome] = backend.collect(
            job, rendered, produced, state.lines, exit_code, texts
        )
        # Runs the process never reached go back to the queue; they are not this job's failures.
        # A crash or an out-of-memory split already gives every unfinished run another go.
        retried = failure in (FailureClass.CRASH, FailureClass.OUT_OF_MEMORY)
        not_reached = [
            r.run_id
            for r in job.runs
            if not retried and (outcome := outcomes.get(r.run_id)) and outcome.not_attempted
        ]
        attempted = replace(job, runs=tuple(r for r in job.runs if r.run_id not in not_reached))
        results = self._run_results(attempted, workdir, outcomes, clock)
        done = {run_id for run_id, r in results.items() if r.status == RunStatus.SUCCEEDED}
        unfinished = [r.run_id for r in attempted.runs if r.run_id not in done]
        self._record_timing(job, clock, predicted, bool(done) and failure is None)
        if failure is FailureClass.OUT_OF_MEMORY and unfinished:
            self._out_of_memory(claim, job, results, unfinished)
            return
        if failure is FailureClass.CRASH and unfinished:
            reason = self._crash_reason(result, state.lines)
            self._save_partial(claim, results, done)
            status = store.release_job(db, claim.job_id, claim.lease_token, reason)
            log.warning("job=%s crashed (%s): %s", claim.job_id, reason, status)
            return
        if failure is not None:
            message = _last_error_line(state.lines) or failure.value
            for run_id in unfinished:
                if results[run_id].failure_class is None:
                    results[run_id] = store.RunResult(
                        RunStatus.FAILED,
                        log_path=results[run_id].log_path,
                        error=message,
                        failure_class=failure,
                    )
        status = JobStatus.SUCCEEDED if not unfinished else JobStatus.FAILED
        error = None if not unfinished else f"{len(unfinished)} of {len(job.runs)} run(s) failed"
        store.finish_job(
            db,
            claim.job_id,
            claim.lease_token,
            status,
            runs=results,
            error=error,
            failure_class=failure,
            requeue=not_reached,
        )
        if status is JobStatus.SUCCEEDED:
            self.host.remove(workdir)

    def _run_results(
        self, job: JobWork, workdir: str, outcomes: dict[str, RunOutcome], clock: PhaseClock
    ) -> dict[str, store.RunResult]:
        log_path = str(self.ctx.settings.logs_dir / f"{job.job_id}.log")
        per_run = clock.compute_seconds_per_run(len(job.runs))
        results: dict[str, store.RunResult] = {}
        for run in job.runs:
            outcome = outcomes.get(run.run_id)
            if job.kind is JobKind.ENHANCE and outcome is not None and outcome.failure is None:
                results[run.run_id] = self._enhanced(run.run_id, outcome, log_path)
                continue
            if outcome is None or outcome.output is None:
                failure = outcome.failure if outcome and outcome.failure else None
                message = outcome.message if outcome else "no output was produced"
                results[run.run_id] = store.RunResult(
                    RunStatus.FAILED,
                    log_path=log_path,
                    error=message,
                    failure_class=failure or FailureClass.MISSING_OUTPUT,
                )
                continue
            results[run.run_id] = self._fetch_output(
                run.run_id, workdir, outcome.output, log_path, per_run
            )
        return results

    def _fetch_output(
        self, run_id: str, workdir: str, relpath: str, log_path: str, compute_seconds: float | None
    ) -> store.RunResult:
        dest = self.ctx.settings.outputs_dir / run_id
        fetched = self.host.fetch(workdir, [relpath], dest / "incoming")
        source = fetched.get(relpath)
        final = dest / "output.mp4"
        if source is not None:
            final.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(source), final)
            shutil.rmtree(dest / "incoming", ignore_errors=True)
        if source is None or not media.video_decodes(final):
            return store.RunResult(
                RunStatus.FAILED,
                log_path=log_path,
                error=f"the process ended but {relpath} is missing or does not decode",
                failure_class=FailureClass.MISSING_OUTPUT,
            )
        thumbnail = media.write_thumbnail(final, dest / "thumbnail.jpg")
        return store.RunResult(
            RunStatus.SUCCEEDED,
            output_path=str(final),
            thumbnail_path=str(thumbnail) if thumbnail else None,
            log_path=log_path,
            compute_seconds=compute_seconds,
        )

    def _enhanced(self, run_id: str, outcome: RunOutcome, log_path: str) -> store.RunResult:
        if not outcome.enhanced_prompt:
            return store.RunResult(
                RunStatus.FAILED,
                log_path=log_path,
                error="the upsampler printed no prompt",
                failure_class=FailureClass.MISSING_OUTPUT,
            )
        with self.ctx.db.write() as session:
            run = session.get(RunRow, run_id)
            parent = session.get(PromptRow, run.prompt_id) if run else None
            assert parent is not None
            prompt = PromptRow(
                id=new_id("pr"),
                input_id=parent.input_id,
                name=f"{parent.name or parent.id} (enhanced)",
                text=outcome.enhanced_prompt,
                negative=parent.negative,
                parent_prompt_id=parent.id,
                created_at=store.now(),
            )
            session.add(prompt)
            store.record_event(session, "prompt.created", prompt_id=prompt.id, parent=parent.id)
        return store.RunResult(RunStatus.SUCCEEDED, log_path=log_path, result_prompt_id=prompt.id)

    def _out_of_memory(
        self,
        claim: store.Claim,
        job: JobWork,
        results: dict[str, store.RunResult],
        unfinished: list[str],
    ) -> None:
        controls = control_set_key({c for r in job.runs for c in r.controls})
        profile = self.choice.config.gpu_profile
        with self.ctx.db.write() as session:
            learn_limit(
                session, profile, job.backend.value, controls, max(1, job.gpu_batch_size // 2)
            )
        if len(unfinished) < 2:
            message = "CUDA out of memory even for a single run on this GPU"
            results[unfinished[0]] = store.RunResult(
                RunStatus.FAILED,
                log_path=results[unfinished[0]].log_path,
                error=message,
                failure_class=FailureClass.OUT_OF_MEMORY,
            )
            store.finish_job(
                self.ctx.db,
                claim.job_id,
                claim.lease_token,
                JobStatus.FAILED,
                runs=results,
                error=message,
                failure_class=FailureClass.OUT_OF_MEMORY,
            )
            return
        middle = len(unfinished) // 2
        halves = [unfinished[:middle], unfinished[middle:]]
        done = {k: v for k, v in results.items() if v.status == RunStatus.SUCCEEDED}
        self._save_partial(claim, done, set(done))
        created = store.split_job(
            self.ctx.db,
            claim.job_id,
            claim.lease_token,
            halves,
            max(1, job.gpu_batch_size // 2),
            f"out of memory with {len(job.runs)} runs at GPU batch {job.gpu_batch_size}",
        )
        log.warning("job=%s out of memory; split into %s", claim.job_id, created)

    def _save_partial(
        self, claim: store.Claim, results: dict[str, store.RunResult], done: set[str]
    ) -> None:
        """Keep the runs that finished before a crash or split, so they never run again."""
        store.save_run_results(
            self.ctx.db, claim.job_id, claim.lease_token, {r: results[r] for r in done}
        )

    @staticmethod
    def _crash_reason(result: ProcessResult, lines: Sequence[str]) -> str:
        if result.timed_out:
            return "timed out"
        if result.exit_code is None:
            return f"killed by signal {result.signal}"
        detail = _last_error_line(lines)
        return f"exit code {result.exit_code}" + (f": {detail}" if detail else "")

    def _record_timing(
        self, job: JobWork, clock: PhaseClock, predicted: float | None, ok: bool
    ) -> None:
        phases = clock.phases()
        if not ok or phases is None or not job.runs or job.kind is not JobKind.INFERENCE:
            return
        first = job.runs[0]
        with self.ctx.db.write() as session:
            add_timing(
                session,
                job_id=job.job_id,
                backend=job.backend.value,
                gpu_profile=self.choice.config.gpu_profile,
                controls=control_set_key({c for r in job.runs for c in r.controls}),
                steps=first.params.steps,
                frames=first.video.frames,
                gpu_batch_size=job.gpu_batch_size,
                runs=len(job.runs),
                distilled=first.params.distilled,
                load_seconds=phases.load_seconds,
                compute_seconds=phases.compute_seconds,
                predicted_seconds=predicted,
                simulated=self.choice.simulate,
            )


def read_back(host: Host, workdir: str, rendered: RenderedJob, dest: Path) -> dict[str, str]:
    """The text of the files the backend asked to read after the process (those that exist),
    e.g. Transfer2.5's debug.log, which holds lines it never prints. `dest` is scratch space."""
    if not rendered.read_back:
        return {}
    try:
        fetched = host.fetch(workdir, rendered.read_back, dest)
        return {
            rel: path.read_text(encoding="utf-8", errors="replace")
            for rel, path in fetched.items()
            if path.is_file()
        }
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def host_command(
    choice: HostChoice, attempt_key: str, rendered: RenderedJob, workdir: str
) -> tuple[list[str], str | None, ContainerRef | None]:
    """The argv to run. Simulation swaps only the executable: the simulator receives the real
    argv and files. Containers wrap the real command per host configuration."""
    argv = list(rendered.argv)
    if choice.simulate:
        return [*SIMULATOR, *argv], workdir, None
    config = choice.config
    if config.container == "none" or not config.image:
        return argv, rendered.cwd, None
    wrapped = wrap_in_container(
        argv,
        runtime=config.container,
        image=config.image,
        job_id=attempt_key,
        workdir=workdir,
        cwd=rendered.cwd,
        gpus=config.gpus,
        env={**UNBUFFERED_ENV, **rendered.env, **config.env},
        mounts=[(config.code_dir, config.code_dir)],
    )
    return wrapped, workdir, container_ref(config.container, attempt_key)


def host_environment(choice: HostChoice, rendered: RenderedJob) -> dict[str, str]:
    """The backend's variables, the host's configured ones, and, when simulating, this
    process's COSMOS_SIM_* settings (time scale, profile, faults) for the simulator."""
    env = {**rendered.env, **choice.config.env}
    if choice.simulate:
        env.update({k: v for k, v in os.environ.items() if k.startswith("COSMOS_SIM_")})
    return env


def _last_error_line(lines: Sequence[str]) -> str | None:
    for line in reversed(lines):
        text = line.strip()
        if text and ("Error" in text or "error" in text or "CRITICAL" in text):
            return text[-500:]
    return None


def _observe(line: str, state: RunState, clock: PhaseClock) -> None:
    """Called for every output line as it arrives: timing marks, progress, pending log lines."""
    event = clock.observe(line)
    with state.lock:
        state.lines.append(line)
        state.pending.append(line)
        if event is not None and clock.progress is not None:
            state.progress = clock.progress
