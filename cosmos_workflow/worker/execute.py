"""Execute one claimed job: render, stage, run, collect and record, under one supervisor.

Failure classes (domain.states.FailureClass) decide what happens next:

- bad input (our validation, NVIDIA's argument errors): final, the runs fail;
- a crash (the process died, a host or transfer error, any unexpected exception here): the
  attempt is closed, its process killed, and the lease rules retry or quarantine the job;
- out of memory: the batch is split in two and the limit learned;
- a lost lease: nothing is written, the process is stopped (another worker owns the job);
- the worker stopping (its stop grace ran out): the process is ended and the job given back
  without charging an attempt, as is a lease that could not be renewed (the database, not the
  job, failed);
- a fatal error (the database unreachable past its limit): FatalError stops the worker.

Every write after the claim happens in one lease-guarded transaction (store.jobs.lease_held):
results, outputs moved into place, learned limits, timings, enhanced prompts. A lost lease
leaves no trace."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from cosmos_workflow import defaults
from cosmos_workflow.backends import get_backend
from cosmos_workflow.backends.base import BackendImpl, RenderedJob, RunOutcome
from cosmos_workflow.domain.controls import control_set_key
from cosmos_workflow.domain.errors import FatalError, InvalidInput
from cosmos_workflow.domain.guardrails import guardrail_posture
from cosmos_workflow.domain.params import Backend, JobKind
from cosmos_workflow.domain.states import AttemptEnd, FailureClass, JobStatus, RunStatus
from cosmos_workflow.domain.work import JobWork
from cosmos_workflow.hosts.base import UNBUFFERED_ENV, ContainerRef, Host, ProcessRef, ProcessResult
from cosmos_workflow.hosts.container import (
    ENV_FILE,
    container_ref,
    env_file_text,
    wrap_in_container,
)
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.jobwork import load_job_work
from cosmos_workflow.services.targets import HostChoice, simulated_time_scale
from cosmos_workflow.simulator.runtime import DEFAULT_TIME_SCALE, TIME_SCALE_ENV
from cosmos_workflow.store import attempts, jobs
from cosmos_workflow.store.db import TRANSIENT_ERRORS, now
from cosmos_workflow.store.events import record_event
from cosmos_workflow.store.runs import RunResult, record_results, set_runs_status
from cosmos_workflow.store.timings import add_timing, job_prediction, learn_limit
from cosmos_workflow.worker import outputs
from cosmos_workflow.worker.reaper import clear_workdir
from cosmos_workflow.worker.supervisor import AttemptSupervisor
from cosmos_workflow.worker.timings import PhaseClock

log = logging.getLogger(__name__)

SIMULATOR = (sys.executable, "-m", "cosmos_workflow.simulator")
VISIBLE_DEVICES = "CUDA_VISIBLE_DEVICES"
SIMULATED_GPU_DIR = "COSMOS_SIM_GPU_DIR"  # read by the simulator (simulator/devices.py)
STOPPED = "the worker stopped before the job finished"


@dataclass
class Output:
    """What the output stream learns while the process runs (read by the supervisor's flush)."""

    lines: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    progress: dict[str, int | None] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Attempt:
    """One execution of a claimed job; `key` names its work directory, its incoming output
    folders and (as COSMOS_ATTEMPT) its processes, so nothing of it mixes with another's."""

    claim: jobs.Claim
    key: str
    workdir: str | None = None
    attempt_id: int | None = None
    process: ProcessRef | None = None
    fetched: list[outputs.FetchedOutput] = field(default_factory=list)
    supervisor: AttemptSupervisor | None = None


Write = Callable[[jobs.HeldJob], None]
T = TypeVar("T")


class JobExecutor:
    def __init__(
        self,
        ctx: Context,
        choice: HostChoice,
        host: Host,
        worker_id: str,
        kill: threading.Event,
        *,
        gpu_dir: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.choice = choice
        self.host = host
        self.worker_id = worker_id
        self.kill = kill
        self.gpu_dir = gpu_dir  # simulated hosts: where the simulator locks devices

    def execute(self, claim: jobs.Claim) -> None:
        """Run a claimed job to its end. A job's own failure never escapes; FatalError does."""
        # The lease names the attempt too: a released claim gives its attempt number back, and
        # the next claim must not share the work directory or the process marker.
        attempt = Attempt(claim, key=f"{claim.job_id}_a{claim.attempt}_{claim.lease_token[:6]}")
        output = Output()
        supervisor = AttemptSupervisor(
            self.ctx.db,
            claim,
            worker_id=self.worker_id,
            lease_seconds=self.ctx.settings.lease_seconds,
            outage_seconds=self.ctx.settings.database_outage_seconds,
            kill=self.kill,
            flush=lambda: self._flush_lines(claim.job_id, output),
        )
        attempt.supervisor = supervisor
        with supervisor:
            try:
                self._run(attempt, supervisor, output)
            except jobs.LeaseLost:
                log.warning("job=%s: lease lost; its result is dropped", claim.job_id)
            except FatalError:
                raise
            except InvalidInput as exc:
                log.error("job=%s refused: %s", claim.job_id, exc.message)
                self._fail_all(attempt, supervisor, exc.message, FailureClass.BAD_INPUT)
            except Exception as exc:  # a crash: a host, transfer or database error, or a bug
                log.exception("job=%s: attempt %d crashed", claim.job_id, claim.attempt)
                self._crashed(attempt, supervisor, _one_line(exc))
            finally:
                outputs.discard(attempt.fetched)  # promoted ones are gone already
        if supervisor.fatal:
            raise FatalError(f"worker {self.worker_id}: {supervisor.fatal}")

    # -- one attempt -------------------------------------------------------------------------

    def _run(self, attempt: Attempt, supervisor: AttemptSupervisor, output: Output) -> None:
        claim = attempt.claim
        with self.ctx.db.read() as session:
            job = load_job_work(session, claim.job_id)
            predicted = job_prediction(session, claim.job_id)
        backend = get_backend(job.backend)
        workdir = attempt.workdir = self.host.job_dir(attempt.key)
        rendered = backend.render(job, self.choice.target, workdir)
        _check_passable(rendered)
        self.host.stage(workdir, rendered.files, rendered.stage)
        argv, cwd, container = host_command(self.choice, attempt.key, rendered, workdir, self.host)
        log_path = self.ctx.settings.logs_dir / f"{job.job_id}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        attempt.process = ProcessRef(
            host_name=self.choice.config.name,
            machine=socket.gethostname(),
            workdir=workdir,
            marker=attempt.key,
            container=container,
        )
        attempt.attempt_id = self._start_attempt(attempt, argv, job.backend)
        clock = PhaseClock(backend)
        result = self.host.run(
            argv,
            workdir=workdir,
            cwd=cwd,
            env=host_environment(
                self.choice,
                rendered,
                self.gpu_dir,
                sim_time_scale=self.ctx.settings.sim_time_scale,
            ),
            on_line=lambda line: _observe(line, output, clock),
            cancel=supervisor.stop,
            timeout_s=self.choice.config.timeout_seconds,
            log_path=log_path,
            container=container,
            marker=attempt.key,
            on_start=lambda pgid: self._started(attempt, pgid),
        )
        released = supervisor.releasing and result.cancelled and not supervisor.cancel_requested
        outcome = AttemptEnd.RELEASED if released else _outcome(result)
        self._end_attempt(attempt, outcome, result.exit_code)
        if supervisor.fatal:
            return
        if supervisor.lease_lost or released:
            reason = "the lease was lost" if supervisor.lease_lost else STOPPED
            self._guarded(attempt, lambda held: _release(held, reason, charged=False))
            clear_workdir(self.host, workdir, claim.job_id)
            return
        if supervisor.cancel_requested and result.cancelled:
            self._cancelled(attempt)
            clear_workdir(self.host, workdir, claim.job_id)
            return
        recording = Recording(job, rendered, result, output.lines, clock, backend, predicted)
        self._record(attempt, supervisor, recording)

    def _started(self, attempt: Attempt, pgid: int) -> None:
        attempt_id = attempt.attempt_id
        assert attempt_id is not None and attempt.process is not None
        attempt.process = replace(attempt.process, process_group=pgid)
        self._write(lambda: attempts.set_process_group(self.ctx.db, attempt_id, pgid))

    def _start_attempt(self, attempt: Attempt, argv: Sequence[str], backend: Backend) -> int:
        ref = attempt.process
        assert ref is not None
        process = attempts.AttemptProcess(
            host_name=ref.host_name,
            machine=ref.machine,
            workdir=ref.workdir,
            marker=ref.marker,
            container_runtime=ref.container.runtime if ref.container else None,
            container_name=ref.container.name if ref.container else None,
        )
        return self._write(
            lambda: attempts.start_attempt(
                self.ctx.db,
                job_id=attempt.claim.job_id,
                worker_id=self.worker_id,
                lease_token=attempt.claim.lease_token,
                argv=argv,
                process=process,
                # What this slot's host asks of the guardrails and what the model applies.
                guardrails=guardrail_posture(backend, self.choice.target.disable_guardrails),
            )
        )

    def _end_attempt(self, attempt: Attempt, outcome: str, exit_code: int | None) -> None:
        if attempt.attempt_id is None:
            return
        attempt_id = attempt.attempt_id
        self._write(lambda: attempts.end_attempt(self.ctx.db, attempt_id, outcome, exit_code))

    # -- endings that are not results --------------------------------------------------------

    def _cancelled(self, attempt: Attempt) -> None:
        self._end_running_runs(
            attempt, JobStatus.CANCELLED, RunStatus.CANCELLED, "cancelled by user"
        )

    def _fail_all(
        self,
        attempt: Attempt,
        supervisor: AttemptSupervisor,
        message: str,
        failure: FailureClass,
    ) -> None:
        """A final failure of every run still running (bad input found before the process)."""
        self._end_process(attempt, AttemptEnd.REFUSED)
        if supervisor.may_write:
            self._end_running_runs(attempt, JobStatus.FAILED, RunStatus.FAILED, message, failure)

    def _end_running_runs(
        self,
        attempt: Attempt,
        status: JobStatus,
        run_status: RunStatus,
        message: str,
        failure: FailureClass = FailureClass.CANCELLED,
    ) -> None:
        def write(held: jobs.HeldJob) -> None:
            set_runs_status(
                held.session,
                held.job.id,
                run_status,
                only=[RunStatus.RUNNING],
                error=message,
                failure_class=failure.value,
                finished_at=now(),
            )
            jobs.finish(held, status, error=message, failure_class=failure)

        self._guarded(attempt, write)

    def _crashed(self, attempt: Attempt, supervisor: AttemptSupervisor, reason: str) -> None:
        """End whatever still runs of the attempt, close it, and let the lease rules decide."""
        self._end_process(attempt, AttemptEnd.CRASHED)
        if supervisor.may_write:
            self._guarded(attempt, lambda held: _release(held, reason))

    def _end_process(self, attempt: Attempt, outcome: str) -> None:
        if attempt.process is None:
            return
        try:
            ended = self.host.end_process(attempt.process)
        except Exception as exc:  # the host is unreachable: the orphan sweep tries again
            log.warning("job=%s: could not end its process: %s", attempt.claim.job_id, exc)
            return
        if ended:
            self._end_attempt(attempt, outcome, None)

    # -- recording the outcome -----------------------------------------------------------------

    def _record(self, attempt: Attempt, supervisor: AttemptSupervisor, rec: Recording) -> None:
        job, result, backend = rec.job, rec.result, rec.backend
        exit_code = result.exit_code if result.exit_code is not None else -1
        failure = None
        if result.timed_out:
            failure = FailureClass.CRASH
        elif exit_code != 0:
            failure = backend.classify_failure(exit_code, rec.lines) or FailureClass.CRASH
        assert attempt.workdir is not None
        produced = self.host.list_files(attempt.workdir)
        scratch = self.ctx.settings.logs_dir / f"{attempt.key}.read_back"
        texts = read_back(self.host, attempt.workdir, rec.rendered, scratch)
        outcomes = backend.collect(job, rec.rendered, produced, rec.lines, exit_code, texts)
        not_reached = _not_reached(job, outcomes, failure)
        attempted = replace(job, runs=tuple(r for r in job.runs if r.run_id not in not_reached))
        results = self._run_results(attempt, supervisor, attempted, outcomes, rec.clock)
        done = {run_id for run_id, r in results.items() if r.status == RunStatus.SUCCEEDED}
        unfinished = [r.run_id for r in attempted.runs if r.run_id not in done]
        timing = self._timing(job, rec, bool(done) and failure is None)
        finished = {run_id: results[run_id] for run_id in done}
        if failure is FailureClass.OUT_OF_MEMORY and unfinished:
            self._out_of_memory(attempt, job, results, unfinished, finished)
            return
        if failure is FailureClass.CRASH and unfinished:
            reason = _crash_reason(result, rec.lines)
            log.warning("job=%s crashed (%s)", job.job_id, reason)
            self._guarded(
                attempt, lambda held: _release(held, reason, requeue=not_reached), finished
            )
            return
        if failure is not None:
            message = _last_error_line(rec.lines) or failure.value
            for run_id in unfinished:
                if results[run_id].failure_class is None:
                    results[run_id] = replace(
                        results[run_id],
                        status=RunStatus.FAILED,
                        error=message,
                        failure_class=failure,
                    )
        status = JobStatus.SUCCEEDED if not unfinished else JobStatus.FAILED
        error = None if not unfinished else f"{len(unfinished)} of {len(job.runs)} run(s) failed"

        def write(held: jobs.HeldJob) -> None:
            if timing is not None:
                timing(held)
            # A crash between two samples fails none of the runs it ran: the job succeeded.
            failure_class = None if status is JobStatus.SUCCEEDED else failure
            jobs.finish(held, status, error=error, failure_class=failure_class, requeue=not_reached)

        if self._guarded(attempt, write, results) and status is JobStatus.SUCCEEDED:
            self.host.remove(attempt.workdir)

    def _run_results(
        self,
        attempt: Attempt,
        supervisor: AttemptSupervisor,
        job: JobWork,
        outcomes: dict[str, RunOutcome],
        clock: PhaseClock,
    ) -> dict[str, RunResult]:
        log_path = str(self.ctx.settings.logs_dir / f"{job.job_id}.log")
        per_run = clock.compute_seconds_per_run(len(job.runs))
        results: dict[str, RunResult] = {}
        for run in job.runs:
            if not supervisor.may_write:
                raise jobs.LeaseLost(job.job_id)  # stop fetching: another worker owns the job
            outcome = outcomes.get(run.run_id)
            results[run.run_id] = self._run_result(attempt, job, run.run_id, outcome, log_path)
            if results[run.run_id].status is RunStatus.SUCCEEDED:
                results[run.run_id] = replace(results[run.run_id], compute_seconds=per_run)
        return results

    def _run_result(
        self,
        attempt: Attempt,
        job: JobWork,
        run_id: str,
        outcome: RunOutcome | None,
        log_path: str,
    ) -> RunResult:
        if job.kind is JobKind.ENHANCE and outcome is not None and outcome.failure is None:
            if not outcome.enhanced_prompt:
                return _failed(log_path, "the upsampler printed no prompt")
            return RunResult(
                RunStatus.SUCCEEDED, log_path=log_path, enhanced_prompt=outcome.enhanced_prompt
            )
        if outcome is None or outcome.output is None:
            failure = outcome.failure if outcome and outcome.failure else None
            message = outcome.message if outcome else "no output was produced"
            return _failed(log_path, message, failure or FailureClass.MISSING_OUTPUT)
        assert attempt.workdir is not None
        fetched = outputs.fetch_output(
            self.host,
            attempt.workdir,
            outcome.output,
            self.ctx.settings.outputs_dir,
            run_id,
            attempt.key,
        )
        if fetched is None:
            return _failed(
                log_path, f"the process ended but {outcome.output} is missing or does not decode"
            )
        attempt.fetched.append(fetched)
        thumbnail = fetched.final_thumbnail
        return RunResult(
            RunStatus.SUCCEEDED,
            output_path=str(fetched.final_video),
            thumbnail_path=str(thumbnail) if thumbnail else None,
            log_path=log_path,
        )

    def _out_of_memory(
        self,
        attempt: Attempt,
        job: JobWork,
        results: dict[str, RunResult],
        unfinished: list[str],
        finished: dict[str, RunResult],
    ) -> None:
        controls = control_set_key({c for r in job.runs for c in r.controls})
        profile = self.choice.config.gpu_profile
        smaller = max(1, job.gpu_batch_size // 2)

        def learn(held: jobs.HeldJob) -> None:
            learn_limit(held.session, profile, job.backend.value, controls, smaller)

        if len(unfinished) < 2:
            message = "CUDA out of memory even for a single run on this GPU"
            results[unfinished[0]] = _failed(
                results[unfinished[0]].log_path, message, FailureClass.OUT_OF_MEMORY
            )

            def fail(held: jobs.HeldJob) -> None:
                learn(held)
                jobs.finish(
                    held, JobStatus.FAILED, error=message, failure_class=FailureClass.OUT_OF_MEMORY
                )

            self._guarded(attempt, fail, results)
            return
        middle = len(unfinished) // 2
        halves = [unfinished[:middle], unfinished[middle:]]
        reason = f"out of memory with {len(job.runs)} runs at GPU batch {job.gpu_batch_size}"

        def split(held: jobs.HeldJob) -> None:
            learn(held)
            created = jobs.split(held, halves, smaller, reason)
            log.warning("job=%s out of memory; split into %s", job.job_id, created)

        self._guarded(attempt, split, finished)

    def _timing(self, job: JobWork, rec: Recording, ok: bool) -> Write | None:
        """The measured timing to store with the result (only clean inference runs count)."""
        phases = rec.clock.phases()
        if not ok or phases is None or not job.runs or job.kind is not JobKind.INFERENCE:
            return None
        first = job.runs[0]
        gpu_profile = self.choice.config.gpu_profile
        simulated = self.choice.simulate

        def write(held: jobs.HeldJob) -> None:
            add_timing(
                held.session,
                job_id=job.job_id,
                backend=job.backend.value,
                gpu_profile=gpu_profile,
                controls=control_set_key({c for r in job.runs for c in r.controls}),
                steps=first.params.steps,
                frames=first.video.frames,
                gpu_batch_size=job.gpu_batch_size,
                runs=len(job.runs),
                distilled=first.params.distilled,
                load_seconds=phases.load_seconds,
                compute_seconds=phases.compute_seconds,
                predicted_seconds=rec.predicted,
                simulated=simulated,
            )

        return write

    # -- writing -------------------------------------------------------------------------------

    def _guarded(
        self,
        attempt: Attempt,
        write: Write,
        results: dict[str, RunResult] | None = None,
    ) -> bool:
        """The final write: outputs moved into place, `results` and `write`, all in the one
        transaction that checks the lease. False (and nothing written) when the lease was lost."""
        claim = attempt.claim
        promoted = {o.run_id for o in attempt.fetched if results and o.run_id in results}

        if attempt.supervisor is not None:
            attempt.supervisor.final_write()

        def transaction() -> bool:
            try:
                with jobs.lease_held(self.ctx.db, claim.job_id, claim.lease_token) as held:
                    for fetched in attempt.fetched:
                        if fetched.run_id in promoted:
                            outputs.promote(fetched)
                    record_results(held, results or {})
                    write(held)
            except jobs.LeaseLost:
                log.warning("job=%s: lease lost; its result is dropped", claim.job_id)
                return False
            attempt.fetched = [o for o in attempt.fetched if o.run_id not in promoted]
            return True

        return self._write(transaction)

    def _write(self, step: Callable[[], T]) -> T:
        """Run a database step, riding out an unreachable database for as long as the worker
        may (settings.database_outage_seconds); past that, FatalError stops the worker."""
        deadline = time.monotonic() + self.ctx.settings.database_outage_seconds
        while True:
            try:
                return step()
            except TRANSIENT_ERRORS as exc:
                if time.monotonic() >= deadline:
                    raise FatalError(
                        f"the database was unreachable for more than "
                        f"{self.ctx.settings.database_outage_seconds:g}s: {_one_line(exc)}"
                    ) from exc
                log.warning("database unreachable (%s); retrying", _one_line(exc))
                time.sleep(defaults.WRITE_RETRY_SECONDS)

    def _flush_lines(self, job_id: str, output: Output) -> None:
        with output.lock:
            lines, output.pending = output.pending, []
            progress, output.progress = output.progress, {}
        if not lines and not progress:
            return
        try:
            with self.ctx.db.write() as session:
                if lines:
                    record_event(session, "job.log", job_id=job_id, lines=lines[-200:])
                if progress:
                    record_event(
                        session,
                        "job.progress",
                        job_id=job_id,
                        step=progress.get("step"),
                        total=progress.get("total"),
                        clip=progress.get("clip"),
                    )
        except BaseException:
            with output.lock:  # not lost: sent with the next flush
                output.pending[:0] = lines
                output.progress = output.progress or progress
            raise


@dataclass(frozen=True)
class Recording:
    """What is known once the process ended, for recording its outcome."""

    job: JobWork
    rendered: RenderedJob
    result: ProcessResult
    lines: list[str]
    clock: PhaseClock
    backend: BackendImpl
    predicted: float | None


def _release(
    held: jobs.HeldJob, reason: str, *, charged: bool = True, requeue: Sequence[str] = ()
) -> None:
    status = jobs.release(held, reason, charged=charged, requeue=requeue)
    log.warning("job=%s released (%s): now %s", held.job.id, reason, status.value)


def _not_reached(
    job: JobWork, outcomes: Mapping[str, RunOutcome], failure: FailureClass | None
) -> list[str]:
    """Runs the process never reached: they go back to the queue uncharged, in a job of their
    own; they are not this job's failures.

    A crash is charged to the run it happened in (a process that dies in sample k, as Cosmos 3
    and Transfer2.5 do, never starts the samples after it). When the process reached no run at
    all (it died loading the model), the crash is the process's own and the whole job is
    charged, or a process that always dies would be requeued for ever. An out-of-memory split
    already gives every unfinished run another go."""
    if failure is FailureClass.OUT_OF_MEMORY:
        return []
    skipped = [r.run_id for r in job.runs if (o := outcomes.get(r.run_id)) and o.not_attempted]
    if failure is FailureClass.CRASH and len(skipped) == len(job.runs):
        return []
    return skipped


def _failed(
    log_path: str | None, message: str, failure: FailureClass = FailureClass.MISSING_OUTPUT
) -> RunResult:
    return RunResult(RunStatus.FAILED, log_path=log_path, error=message, failure_class=failure)


def _outcome(result: ProcessResult) -> AttemptEnd:
    if result.cancelled:
        return AttemptEnd.CANCELLED
    if result.timed_out:
        return AttemptEnd.TIMED_OUT
    return AttemptEnd.EXITED if result.exit_code is not None else AttemptEnd.KILLED


def _crash_reason(result: ProcessResult, lines: Sequence[str]) -> str:
    if result.timed_out:
        return "timed out"
    if result.exit_code is None:
        return f"killed by signal {result.signal}"
    detail = _last_error_line(lines)
    return f"exit code {result.exit_code}" + (f": {detail}" if detail else "")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}"


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


def _check_passable(rendered: RenderedJob) -> None:
    """A NUL cannot reach a process (Popen raises ValueError): text stored before input refused
    it fails its job as bad input here, instead of crashing every attempt that claims it."""
    texts = [*rendered.argv, *rendered.env, *rendered.env.values()]
    if any("\x00" in text for text in texts):
        raise InvalidInput(
            "the job's command holds a NUL character, which no process can receive; "
            "recreate its prompt without it"
        )


def host_command(
    choice: HostChoice, attempt_key: str, rendered: RenderedJob, workdir: str, host: Host
) -> tuple[list[str], str | None, ContainerRef | None]:
    """The argv to run. Simulation swaps only the executable: the simulator receives the real
    argv and files. Containers wrap the real command per host configuration; their environment
    goes into an env file in the work directory (written here), never into the argv."""
    argv = list(rendered.argv)
    if choice.simulate:
        return [*SIMULATOR, *argv], workdir, None
    config = choice.config
    if not containerized(choice) or not config.image:
        return argv, rendered.cwd, None
    env_text = env_file_text({**UNBUFFERED_ENV, **rendered.env, **config.env})
    wrapped = wrap_in_container(
        argv,
        runtime=config.container,
        image=config.image,
        job_id=attempt_key,
        workdir=workdir,
        cwd=rendered.cwd,
        gpus=list(choice.devices),
        mounts=[(config.code_dir, config.code_dir)],
    )
    host.write_private(workdir, ENV_FILE, env_text)
    return wrapped, workdir, container_ref(config.container, attempt_key)


def host_environment(
    choice: HostChoice,
    rendered: RenderedJob,
    gpu_dir: str | None = None,
    *,
    sim_time_scale: float = DEFAULT_TIME_SCALE,
) -> dict[str, str]:
    """The backend's variables, the host's configured ones, the slot's devices, and, when
    simulating, this process's COSMOS_SIM_* settings (profile, faults), the time scale
    (`simulated_time_scale`, from the `sim_time_scale` setting) and the simulated machine's
    device folder for the simulator.

    The job is pinned with CUDA_VISIBLE_DEVICES (over any configured value: two jobs must never
    share a device). A container is pinned by its `--gpus` devices instead, which it sees
    renumbered from 0, so the variable is not set for it."""
    env = {**rendered.env, **choice.config.env}
    if choice.slot is not None and not containerized(choice):
        env[VISIBLE_DEVICES] = choice.slot.visible_devices
    if choice.simulate:
        env.update({k: v for k, v in os.environ.items() if k.startswith("COSMOS_SIM_")})
        env[TIME_SCALE_ENV] = repr(simulated_time_scale(choice, sim_time_scale))
        if gpu_dir is not None:
            env[SIMULATED_GPU_DIR] = gpu_dir
    return env


def containerized(choice: HostChoice) -> bool:
    """Whether its jobs run in a container (never when simulating: the simulator runs bare)."""
    config = choice.config
    return not choice.simulate and config.container != "none" and bool(config.image)


def _last_error_line(lines: Sequence[str]) -> str | None:
    for line in reversed(lines):
        text = line.strip()
        if text and ("Error" in text or "error" in text or "CRITICAL" in text):
            return text[-500:]
    return None


def _observe(line: str, output: Output, clock: PhaseClock) -> None:
    """Called for every output line as it arrives: timing marks, progress, pending log lines."""
    event = clock.observe(line)
    with output.lock:
        output.lines.append(line)
        output.pending.append(line)
        if event is not None and clock.progress is not None:
            output.progress = clock.progress
