"""The notifier a worker process runs: a thread that tails the events table from the newest id
at its start, turns the ends it finds into notifications, claims each one in the database and
hands those it won to the targets' senders.

What is told, from which events:

- run_failed: a `run.status` event with status failed (a run's own end), or a `runs.status`
  one (a job's runs failed together, when it was quarantined);
- job_finished: a `job.status` event into succeeded, failed or cancelled;
- sweep_finished: after a job's end (or a move of its runs), each sweep of its runs that has no
  queued or running run left. Its key counts the sweep's runs, so a sweep finishes once, and
  again only after a retry added runs to it;
- queue_drained: after a job's end, no job queued or running. Its key is the id of the newest
  job status change, read with the check in one statement: two workers that finish the last two
  jobs together both find the same id, and one message goes.

A poll that fails (the database is unreachable) is logged and done again from the same place at
the next turn; the worker's jobs never wait for it. On PostgreSQL an event id can become visible
after a higher one (its transaction committed later): ids skipped by the tail are looked for
again for `GAP_WAIT_SECONDS`."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from cosmos_workflow.config import NotifyConfig
from cosmos_workflow.domain.states import JOB_MOVES, UNFINISHED_RUNS
from cosmos_workflow.notify.messages import Notification, counted, one_line, overall
from cosmos_workflow.notify.send import Sender
from cosmos_workflow.store import notifications as store
from cosmos_workflow.store.events import newest_event_id
from cosmos_workflow.store.sweeps import status_counts, sweep_names

if TYPE_CHECKING:
    from cosmos_workflow.services.context import Context
    from cosmos_workflow.store.models import EventRow
    from cosmos_workflow.store.session import Session

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
TAIL_LIMIT = 1000
GAP_WAIT_SECONDS = 30.0
MAX_GAPS = 1000
# How long a stopping worker lets its senders deliver what is queued.
FLUSH_SECONDS = 10.0
# A job's end: a status it never leaves (succeeded, failed, cancelled).
ENDED_JOBS = frozenset(status for status, moves in JOB_MOVES.items() if not moves)
WATCHED = frozenset({"job.status", "run.status", "runs.status"})


def target_key(target: NotifyConfig) -> str:
    """A target's part of a claim key: a digest of its URL and format, so workers whose
    configurations list targets in another order agree, and the key holds no secret."""
    return hashlib.sha256(f"{target.format}\n{target.url}".encode()).hexdigest()[:12]


def start_notifier(ctx: Context) -> Notifier | None:
    """The worker's notifier, started; None when cosmos.toml has no `[[notify]]` entry."""
    if not ctx.settings.notify:
        return None
    return Notifier(ctx, [Sender(target) for target in ctx.settings.notify]).start()


class Notifier:
    """Tails the events and notifies each sender's target of the events it asked for."""

    def __init__(
        self, ctx: Context, senders: Sequence[Sender], *, poll_s: float = POLL_SECONDS
    ) -> None:
        self.ctx = ctx
        self.senders = [(sender, target_key(sender.target)) for sender in senders]
        self.wanted = {event for sender in senders for event in sender.target.on}
        self.poll_s = poll_s
        self.after: int | None = None  # the newest event id handled; None until first read
        self.missing: dict[int, float] = {}  # skipped ids -> when first skipped (monotonic)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="notify-watch", daemon=True)

    def start(self) -> Notifier:
        self._begin()
        for sender, _key in self.senders:
            sender.start()
            target = sender.target
            log.info("notify %s (%s): on %s", target.where, target.format, ", ".join(target.on))
        self._thread.start()
        return self

    def stop(self, flush_s: float = FLUSH_SECONDS) -> None:
        """One last poll (the worker's final ends), then up to `flush_s` seconds in all for the
        senders to deliver what is queued."""
        deadline = time.monotonic() + flush_s
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(flush_s)
        for sender, _key in self.senders:
            sender.close(max(0.0, deadline - time.monotonic()))

    def _begin(self) -> None:
        if self.after is not None:
            return
        try:
            with self.ctx.db.read() as session:
                self.after = newest_event_id(session)
        except Exception as error:
            log.warning("notify: cannot read the events yet (%s); trying again", _short(error))

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.poll_safely()
        self.poll_safely()

    def poll_safely(self) -> None:
        try:
            while self.poll():
                pass
        except Exception as error:  # the next turn starts again from the same place
            log.warning("notify: reading the events failed (%s); trying again", _short(error))

    def poll(self) -> bool:
        """Handle the events since the last poll; True when more may be waiting."""
        self._begin()
        if self.after is None:
            return False
        with self.ctx.db.read() as session:
            seen = store.tail(session, self.after, self.missing.keys(), TAIL_LIMIT)
            rows = store.events_by_id(session, [i for i, kind in seen if kind in WATCHED])
            notes = self.notes(session, rows)
        self._send(notes)
        self._advance([i for i, _kind in seen])
        return len(seen) == TAIL_LIMIT

    def _advance(self, ids: list[int]) -> None:
        assert self.after is not None
        clock = time.monotonic()
        found = set(ids)
        for event_id in found:
            self.missing.pop(event_id, None)
        top = max(found, default=self.after)
        skipped = (i for i in range(self.after + 1, top) if i not in found)
        for event_id in skipped:
            if len(self.missing) >= MAX_GAPS:
                break
            self.missing[event_id] = clock
        self.after = max(self.after, top)
        for event_id, since in list(self.missing.items()):
            if clock - since > GAP_WAIT_SECONDS:
                del self.missing[event_id]

    def _send(self, notes: list[Notification]) -> None:
        """Claim each (note, target) pair; hand the ones won to their senders, in order."""
        keys: dict[str, int] = {}
        pairs: list[tuple[str, Sender, Notification]] = []
        for note in notes:
            for sender, target in self.senders:
                if note.event in sender.target.on:
                    key = f"{note.event}:{note.subject}:{target}"
                    keys[key] = note.event_id
                    pairs.append((key, sender, note))
        if not keys:
            return
        with self.ctx.db.write() as session:
            won = store.claim(session, keys)
        for key, sender, note in pairs:
            if key in won:
                sender.submit(note)

    def notes(self, session: Session, rows: Sequence[EventRow]) -> list[Notification]:
        """What these events tell, in the order runs, jobs, sweeps, the queue."""
        ended = [r for r in rows if r.kind == "job.status" and _status(r) in ENDED_JOBS]
        moved = [r for r in rows if r.kind == "runs.status"]
        notes: list[Notification] = []
        if "run_failed" in self.wanted:
            notes += self._failed_runs(session, rows)
        if "job_finished" in self.wanted:
            notes += self._finished_jobs(session, ended)
        if "sweep_finished" in self.wanted and (ended or moved):
            notes += self._finished_sweeps(session, [*ended, *moved])
        if "queue_drained" in self.wanted and ended:
            notes += self._drained(session, ended[-1])
        return notes

    def _failed_runs(self, session: Session, rows: Sequence[EventRow]) -> list[Notification]:
        own = [r for r in rows if r.kind == "run.status" and _status(r) == "failed" and r.run_id]
        together = [r for r in rows if r.kind == "runs.status" and _status(r) == "failed"]
        runs = store.run_ends(session, {r.run_id for r in own if r.run_id})
        names = sweep_names(session, [run.sweep_id for run in runs.values()])
        notes = [
            _run_failed(row, runs[row.run_id], names)
            for row in own
            if row.run_id and row.run_id in runs
        ]
        return notes + [_runs_failed(row) for row in together if row.job_id]

    def _finished_jobs(self, session: Session, ended: Sequence[EventRow]) -> list[Notification]:
        jobs = store.job_ends(session, {r.job_id for r in ended if r.job_id})
        names = sweep_names(session, [s for job in jobs.values() for s in job.sweep_ids])
        return [
            _job_finished(row, jobs[row.job_id], names)
            for row in ended
            if row.job_id and row.job_id in jobs
        ]

    def _finished_sweeps(self, session: Session, rows: Sequence[EventRow]) -> list[Notification]:
        sweep_ids = store.sweep_ids_of_jobs(session, {r.job_id for r in rows if r.job_id})
        counts = status_counts(session, sorted(sweep_ids))
        done = {s: c for s, c in counts.items() if c and not UNFINISHED_RUNS.intersection(c)}
        names = sweep_names(session, done)
        last = rows[-1]
        return [_sweep_finished(last, s, names.get(s, s), c) for s, c in sorted(done.items())]

    def _drained(self, session: Session, last: EventRow) -> list[Notification]:
        moment = store.drained_at(session)
        if moment is None:
            return []
        return [
            Notification(
                event="queue_drained",
                subject=str(moment),
                status="drained",
                title="Queue drained",
                message="The queue is empty: no job is queued or running.",
                occurred_at=last.created_at,
                event_id=moment,
            )
        ]


def _status(row: EventRow) -> str:
    data: dict[str, Any] = row.data or {}
    return str(data.get("status", ""))


def _in_sweep(sweep_ids: Iterable[str | None], names: dict[str, str]) -> str:
    shown = [names.get(s, s) for s in sweep_ids if s]
    return f" (sweep {', '.join(shown)})" if shown else ""


def _run_failed(row: EventRow, run: store.RunEnd, names: dict[str, str]) -> Notification:
    error = one_line(run.error or (row.data or {}).get("error"))
    prompt = f" of prompt {run.prompt_name!r}" if run.prompt_name else ""
    where = _in_sweep([run.sweep_id], names)
    return Notification(
        event="run_failed",
        subject=run.run_id,
        status="failed",
        title=f"Run failed: {run.run_id}{where}",
        message=f"Run {run.run_id}{prompt} (job {run.job_id}) failed"
        + (f": {error}" if error else "."),
        occurred_at=run.finished_at or row.created_at,
        event_id=row.id,
        job_id=run.job_id,
        run_id=run.run_id,
        sweep_id=run.sweep_id,
        sweep_name=names.get(run.sweep_id) if run.sweep_id else None,
        error=error,
    )


def _runs_failed(row: EventRow) -> Notification:
    count = int((row.data or {}).get("runs", 0))
    return Notification(
        event="run_failed",
        subject=f"{row.job_id}/{row.id}",
        status="failed",
        title=f"{count} run(s) failed: job {row.job_id}",
        message=f"{count} run(s) of job {row.job_id} failed with their job.",
        occurred_at=row.created_at,
        event_id=row.id,
        job_id=row.job_id,
        counts={"failed": count},
    )


def _job_finished(row: EventRow, job: store.JobEnd, names: dict[str, str]) -> Notification:
    status = _status(row)
    error = one_line(job.error)
    where = _in_sweep(job.sweep_ids, names)
    return Notification(
        event="job_finished",
        subject=job.job_id,
        status=status,
        title=f"Job {status}: {job.job_id}{where}",
        message=f"Job {job.job_id} {status}: {counted(job.runs)}."
        + (f" Error: {error}" if error else ""),
        occurred_at=job.finished_at or row.created_at,
        event_id=row.id,
        job_id=job.job_id,
        sweep_id=job.sweep_ids[0] if len(job.sweep_ids) == 1 else None,
        sweep_name=names.get(job.sweep_ids[0]) if len(job.sweep_ids) == 1 else None,
        counts=job.runs,
        error=error,
    )


def _sweep_finished(
    last: EventRow, sweep_id: str, name: str, counts: dict[str, int]
) -> Notification:
    status = overall(counts)
    return Notification(
        event="sweep_finished",
        # The run count: a retry that adds runs to a finished sweep makes a new end.
        subject=f"{sweep_id}/{sum(counts.values())}",
        status=status,
        title=f"Sweep {name} finished",
        message=f"Sweep {name} finished ({status}): {counted(counts)}.",
        occurred_at=last.created_at,
        event_id=last.id,
        sweep_id=sweep_id,
        sweep_name=name,
        counts=counts,
    )


def _short(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
