"""Phase timings of one model process, read from its own log clock.

Load = first log line to the start of sampling; compute = start of sampling to the last line.
The process's own timestamps are used when its lines carry them (real runs: the GPU host's clock;
the simulator: its simulated clock), else the times the lines arrived here."""

from __future__ import annotations

import time
from dataclasses import dataclass

from cosmos_workflow.backends.base import (
    BackendImpl,
    LogEvent,
    Progress,
    SamplingStarted,
    split_log_line,
)


@dataclass(frozen=True)
class Phases:
    load_seconds: float
    compute_seconds: float


class _Marks:
    def __init__(self) -> None:
        self.first: float | None = None
        self.sampling: float | None = None
        self.last: float | None = None

    def line(self, at: float) -> None:
        self.first = at if self.first is None else self.first
        self.last = at

    def phases(self) -> Phases | None:
        if self.first is None or self.sampling is None or self.last is None:
            return None
        return Phases(max(0.0, self.sampling - self.first), max(0.0, self.last - self.sampling))


class PhaseClock:
    def __init__(self, backend: BackendImpl) -> None:
        self.backend = backend
        self.logged = _Marks()
        self.arrived = _Marks()
        self.progress: dict[str, int | None] | None = None

    def observe(self, line: str) -> LogEvent | None:
        now = time.time()
        stamp = split_log_line(line).at
        self.arrived.line(now)
        if stamp is not None:
            self.logged.line(stamp)
        event = self.backend.parse_line(line)
        if isinstance(event, SamplingStarted | Progress):
            if self.arrived.sampling is None:
                self.arrived.sampling = now
            if self.logged.sampling is None:
                self.logged.sampling = event.at or stamp or self.logged.last
        if isinstance(event, Progress):
            self.progress = {"step": event.step, "total": event.total, "clip": event.clip}
        return event

    def phases(self) -> Phases | None:
        return self.logged.phases() or self.arrived.phases()

    def compute_seconds_per_run(self, runs: int) -> float | None:
        phases = self.phases()
        if phases is None or runs < 1:
            return None
        return round(phases.compute_seconds / runs, 3)
