"""The simulator's clock, its loguru-shaped log, its fault settings and its exits.

The clock is simulated: it starts at the real start time and advances by simulated seconds. Real
sleeping is the simulated time times COSMOS_SIM_TIME_SCALE (real seconds per simulated second;
DEFAULT_TIME_SCALE when unset, 1 plays it in real time), so log timestamps always measure
simulated GPU seconds, however fast the run is played.

Log lines are shaped like NVIDIA's loguru format, `[time|LEVEL|path:line:function] message`
(cosmos_transfer1/utils/log.py 59, 94; cosmos_transfer2/_src/imaginaire/utils/log.py 90, 109).
Besides stdout a process may add log files with their own level and filter, as Transfer2.5's
cosmos_oss/init.py 93-114 adds console.log and debug.log."""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, NoReturn

TIME_SCALE_ENV = "COSMOS_SIM_TIME_SCALE"
# Real seconds per simulated GPU second unless configured (`sim_time_scale` in cosmos.toml,
# COSMOS_SIM_TIME_SCALE). At 0.01 a 35-step Transfer1 run (about 10 simulated minutes on an H100,
# load included) plays in about 6 s and a five-run batch in under half a minute, yet its log and
# progress lines still arrive over seconds, so a live view, a cancel or a stop has a running
# process to act on. Real time (1) would make the quick start last half an hour; 0 would not
# wait at all.
DEFAULT_TIME_SCALE = 0.01
# Slower than real time is for watching a timeout or a stop; past this (a 10-minute run lasting
# a week) it is a typo.
MAX_TIME_SCALE = 1000.0
SEED_ENV = "COSMOS_SIM_SEED"
FAULTS_ENV = "COSMOS_SIM_FAULTS"
PROFILE_ENV = "COSMOS_SIM_PROFILE"
# loguru's level numbers: a sink prints a record whose number is at least the sink's.
LEVELS = {
    "TRACE": 5,
    "DEBUG": 10,
    "INFO": 20,
    "SUCCESS": 25,
    "WARNING": 30,
    "ERROR": 40,
    "CRITICAL": 50,
}
LogFilter = Callable[[str, str], bool]  # (where, level) -> does this sink take the line?


class SimulatedExit(Exception):
    """Ends the simulated process with an exit code, after its messages are printed."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


FAULT_KEYS = (
    "crash_after_steps",
    "guardrail_block",
    "video_guardrail_block",
    "oom_above_batch_size",
    "memory_gb",
)


@dataclass
class Faults:
    """COSMOS_SIM_FAULTS, a JSON object. Items are named by their 1-based position in the
    process (Transfer1: the line of the batch file, or 1 for a single run; Transfer2.5: the sample
    position) or, for Transfer2.5, by sample name. `guardrail_block` blocks the prompt (text
    guardrail), `video_guardrail_block` the generated video (video guardrail)."""

    crash_after_steps: int | None = None
    guardrail_block: list[int | str] = field(default_factory=list)
    video_guardrail_block: list[int | str] = field(default_factory=list)
    oom_above_batch_size: int | None = None
    memory_gb: float | None = None

    @classmethod
    def from_env(cls) -> Faults:
        text = os.environ.get(FAULTS_ENV, "").strip()
        if not text:
            return cls()
        data: dict[str, Any] = json.loads(text)
        unknown = sorted(set(data) - set(FAULT_KEYS))
        if unknown:
            known = sorted(FAULT_KEYS)
            raise ValueError(f"{FAULTS_ENV}: unknown fault(s) {unknown}; known: {known}")
        return cls(
            crash_after_steps=data.get("crash_after_steps"),
            guardrail_block=list(data.get("guardrail_block", [])),
            video_guardrail_block=list(data.get("video_guardrail_block", [])),
            oom_above_batch_size=data.get("oom_above_batch_size"),
            memory_gb=data.get("memory_gb"),
        )

    def blocks(self, index: int, name: str | None = None) -> bool:
        """Does the text guardrail block this item's prompt?"""
        return _named(self.guardrail_block, index, name)

    def blocks_video(self, index: int, name: str | None = None) -> bool:
        """Does the video guardrail block this item's generated video?"""
        return _named(self.video_guardrail_block, index, name)


def time_scale(text: str | None) -> float:
    """COSMOS_SIM_TIME_SCALE's value (DEFAULT_TIME_SCALE when unset or empty): a number from 0
    to MAX_TIME_SCALE, else ValueError that names the variable."""
    if text is None or not text.strip():
        return DEFAULT_TIME_SCALE
    try:
        scale = float(text)
    except ValueError:
        scale = math.nan
    if not 0 <= scale <= MAX_TIME_SCALE:  # NaN and infinities fail too
        raise ValueError(
            f"{TIME_SCALE_ENV}: expected a number from 0 to {MAX_TIME_SCALE:g} (real seconds per "
            f"simulated GPU second; 1 = real time), got {text!r}"
        )
    return scale


def _named(items: list[int | str], index: int, name: str | None) -> bool:
    return index in items or (name is not None and name in items)


@dataclass
class LogFile:
    handle: IO[str]
    level: str
    accepts: LogFilter


def _accept_all(where: str, level: str) -> bool:
    return True


class Runtime:
    """Simulated clock, log printer, seeded noise and step counter of one simulated process."""

    def __init__(self) -> None:
        self.start = time.time()
        self.elapsed = 0.0
        self.scale = time_scale(os.environ.get(TIME_SCALE_ENV))
        # Seeded per process: the same command line draws the same noise, different jobs differ.
        self.noise = random.Random(f"{os.environ.get(SEED_ENV, '0')}:{' '.join(sys.argv)}")
        self.faults = Faults.from_env()
        self.steps_done = 0
        self.console_level = "INFO"
        self.console_accepts: LogFilter = _accept_all
        self.files: list[LogFile] = []

    # -- time ----------------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Spend `seconds` of simulated time, with up to 3 % seeded jitter."""
        seconds = max(0.0, seconds * self.noise.uniform(0.97, 1.03))
        self.elapsed += seconds
        if self.scale > 0:
            time.sleep(seconds * self.scale)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.start + self.elapsed)

    # -- log -----------------------------------------------------------------------------------

    def add_log_file(self, path: Path, level: str, accepts: LogFilter = _accept_all) -> None:
        """A file sink opened with mode "w", as cosmos_oss/init.py 97-114 adds its files."""
        self.files.append(LogFile(path.open("w", encoding="utf-8"), level, accepts))

    def close_log_files(self) -> None:
        for sink in self.files:
            sink.handle.close()
        self.files.clear()

    def log(self, message: str, where: str, level: str = "INFO") -> None:
        stamp = self.now()
        prefix = f"{stamp:%m-%d %H:%M:%S}.{stamp.microsecond // 1000:03d}"
        line = f"[{prefix}|{level}|{where}] {message}"
        rank = LEVELS[level]
        if rank >= LEVELS[self.console_level] and self.console_accepts(where, level):
            print(line, flush=True)
        for sink in self.files:
            if rank >= LEVELS[sink.level] and sink.accepts(where, level):
                sink.handle.write(line + "\n")
                sink.handle.flush()

    def progress(self, step: int, total: int, seconds_per_step: float, desc: str = "") -> None:
        """One tqdm update, one line each (a log reader never has to split on carriage returns).
        `desc` is tqdm's description, printed before the bar as `desc: `."""
        percent = int(100 * step / total) if total else 100
        filled = percent // 10
        bar = "█" * filled + " " * (10 - filled)
        done = _clock(step * seconds_per_step)
        left = _clock((total - step) * seconds_per_step)
        label = f"{desc}: " if desc else ""
        rate = f"{seconds_per_step:.2f}s/it"
        print(
            f"{label}{percent:3d}%|{bar}| {step}/{total} [{done}<{left}, {rate}]",
            file=sys.stderr,
            flush=True,
        )

    def step(self, seconds: float) -> None:
        """One diffusion step; crashes here when the fault says so."""
        self.advance(seconds)
        self.steps_done += 1
        limit = self.faults.crash_after_steps
        if limit is not None and self.steps_done >= limit:
            crash(f"simulated crash after {self.steps_done} steps")

    def fail(self, message: str, code: int = 1) -> NoReturn:
        print(message, file=sys.stderr, flush=True)
        raise SimulatedExit(code)


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60:02d}:{whole % 60:02d}"


def traceback_text(frames: list[tuple[str, int, str]], error: str) -> str:
    lines = ["Traceback (most recent call last):"]
    for path, line, function in frames:
        lines.append(f'  File "{path}", line {line}, in {function}')
    lines.append(error)
    return "\n".join(lines)


def raise_traceback(frames: list[tuple[str, int, str]], error: str) -> NoReturn:
    """An uncaught Python exception: its traceback on stderr, then exit status 1."""
    print(traceback_text(frames, error), file=sys.stderr, flush=True)
    raise SimulatedExit(1)


def crash(reason: str) -> NoReturn:
    raise_traceback(
        [
            ("cosmos_transfer1/diffusion/inference/transfer.py", 366, "demo"),
            ("cosmos_transfer1/diffusion/model/model_ctrl.py", 412, "denoise"),
        ],
        f"RuntimeError: CUDA error: an illegal memory access was encountered ({reason})",
    )


def out_of_memory(tried_gb: float, total_gb: float, where: str) -> NoReturn:
    free = max(0.0, total_gb * 0.02)
    raise_traceback(
        [(where, 228, "__init__"), ("torch/nn/modules/module.py", 1355, "to")],
        f"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {tried_gb:.2f} GiB. "
        f"GPU 0 has a total capacity of {total_gb:.2f} GiB of which {free:.2f} GiB is free. "
        "Of the allocated memory ... is allocated by PyTorch. If reserved but unallocated memory "
        "is large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid "
        "fragmentation.",
    )
