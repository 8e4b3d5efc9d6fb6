"""The simulator's clock, its loguru-shaped log, its fault settings and its exits.

The clock is simulated: it starts at the real start time and advances by simulated seconds. Real
sleeping is the simulated time times COSMOS_SIM_TIME_SCALE (real seconds per simulated second),
so log timestamps always measure simulated GPU seconds, however fast the run is played."""

from __future__ import annotations

import json
import os
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NoReturn

TIME_SCALE_ENV = "COSMOS_SIM_TIME_SCALE"
SEED_ENV = "COSMOS_SIM_SEED"
FAULTS_ENV = "COSMOS_SIM_FAULTS"
PROFILE_ENV = "COSMOS_SIM_PROFILE"


class SimulatedExit(Exception):
    """Ends the simulated process with an exit code, after its messages are printed."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class Faults:
    crash_after_steps: int | None = None
    guardrail_block: list[int | str] = field(default_factory=list)
    oom_above_batch_size: int | None = None
    memory_gb: float | None = None

    @classmethod
    def from_env(cls) -> Faults:
        text = os.environ.get(FAULTS_ENV, "").strip()
        if not text:
            return cls()
        data: dict[str, Any] = json.loads(text)
        known = {"crash_after_steps", "guardrail_block", "oom_above_batch_size", "memory_gb"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{FAULTS_ENV}: unknown fault(s) {unknown}; known: {sorted(known)}")
        return cls(
            crash_after_steps=data.get("crash_after_steps"),
            guardrail_block=list(data.get("guardrail_block", [])),
            oom_above_batch_size=data.get("oom_above_batch_size"),
            memory_gb=data.get("memory_gb"),
        )

    def blocks(self, index: int, name: str | None = None) -> bool:
        """Is this item blocked? `index` is 1-based within its batch (Transfer1) or the sample
        position (Transfer2.5); names match Transfer2.5 samples."""
        return index in self.guardrail_block or (name is not None and name in self.guardrail_block)


class Runtime:
    """Simulated clock, log printer, seeded noise and step counter of one simulated process."""

    def __init__(self) -> None:
        self.start = time.time()
        self.elapsed = 0.0
        self.scale = max(0.0, float(os.environ.get(TIME_SCALE_ENV, "1.0")))
        # Seeded per process: the same command line draws the same noise, different jobs differ.
        self.noise = random.Random(f"{os.environ.get(SEED_ENV, '0')}:{' '.join(sys.argv)}")
        self.faults = Faults.from_env()
        self.steps_done = 0

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

    def log(self, message: str, where: str, level: str = "INFO") -> None:
        stamp = self.now()
        prefix = f"{stamp:%m-%d %H:%M:%S}.{stamp.microsecond // 1000:03d}"
        print(f"[{prefix}|{level}|{where}] {message}", flush=True)

    def progress(self, step: int, total: int, seconds_per_step: float) -> None:
        """One tqdm update, one line each (a log reader never has to split on carriage returns)."""
        percent = int(100 * step / total) if total else 100
        filled = percent // 10
        bar = "█" * filled + " " * (10 - filled)
        done = _clock(step * seconds_per_step)
        left = _clock((total - step) * seconds_per_step)
        print(
            f"{percent:3d}%|{bar}| {step}/{total} [{done}<{left}, {seconds_per_step:.2f}s/it]",
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


def crash(reason: str) -> NoReturn:
    text = traceback_text(
        [
            ("cosmos_transfer1/diffusion/inference/transfer.py", 366, "demo"),
            ("cosmos_transfer1/diffusion/model/model_ctrl.py", 412, "denoise"),
        ],
        f"RuntimeError: CUDA error: an illegal memory access was encountered ({reason})",
    )
    print(text, file=sys.stderr, flush=True)
    raise SimulatedExit(1)


def out_of_memory(tried_gb: float, total_gb: float, where: str) -> NoReturn:
    free = max(0.0, total_gb * 0.02)
    text = traceback_text(
        [(where, 228, "__init__"), ("torch/nn/modules/module.py", 1355, "to")],
        f"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {tried_gb:.2f} GiB. "
        f"GPU 0 has a total capacity of {total_gb:.2f} GiB of which {free:.2f} GiB is free. "
        "Of the allocated memory ... is allocated by PyTorch. If reserved but unallocated memory "
        "is large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid "
        "fragmentation.",
    )
    print(text, file=sys.stderr, flush=True)
    raise SimulatedExit(1)
