"""What every backend offers: render a job, read its log, collect its outputs, classify failures.

Backends are pure. `render` returns the command and the contents of the files to write; the
caller (a host) writes them, runs the command and lists what was produced. Log events carry the
timestamp printed by the process itself, so phase timings come from the process's own clock
(the simulator's clock runs in simulated seconds even when its sleeping is scaled down)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.domain.states import FailureClass
from cosmos_workflow.domain.work import HostTarget, JobWork, RunWork


@dataclass(frozen=True, slots=True)
class RenderedJob:
    """Everything needed to run one job on a host, with no I/O done yet."""

    argv: tuple[str, ...]  # every flag and every value is its own token
    cwd: str  # where the command runs on the host: the NVIDIA code checkout
    env: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)  # relpath in work dir -> text
    stage: Mapping[str, Path] = field(default_factory=dict)  # relpath in work dir -> local file
    outputs: Mapping[str, str] = field(default_factory=dict)  # run_id -> expected output relpath
    # Text files of the work directory that `collect` needs besides the process's output (for
    # example a log file the entry point writes instead of printing); the host reads them back.
    read_back: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What one run of a finished process produced, or why it produced nothing."""

    output: str | None = None  # relative to the work directory
    failure: FailureClass | None = None
    message: str = ""
    enhanced_prompt: str | None = None
    # The process ended before it reached this run (for example Transfer1 after a whole-batch
    # guardrail block): nothing of the run was tried, so it goes back to the queue uncharged.
    not_attempted: bool = False


# -- log events --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Progress:
    """A tqdm bar of the process: `step` of `total` items done.

    What the bar counts depends on the backend. Transfer1's only bar is over clips (121 frames
    each), so there `clip` is set too and `step == clip` = clips finished of `total` clips.
    Transfer2.5's bars count sampling steps and `clip` is None."""

    step: int
    total: int
    clip: int | None = None
    at: float | None = None


@dataclass(frozen=True, slots=True)
class SamplingStarted:
    """The model is loaded and generation of a batch (Transfer1) or a sample begins."""

    at: float | None = None


@dataclass(frozen=True, slots=True)
class VideoSaved:
    path: str
    at: float | None = None


@dataclass(frozen=True, slots=True)
class GuardrailBlocked:
    index: int | None  # 1-based within its batch; None when the log does not say
    whole_batch: bool
    message: str
    at: float | None = None
    stage: str = ""  # "text" or "video" for Transfer1 per-item blocks


@dataclass(frozen=True, slots=True)
class FailureDetected:
    cls: FailureClass
    message: str
    at: float | None = None


@dataclass(frozen=True, slots=True)
class PromptUpsampled:
    prompt: str
    at: float | None = None


LogEvent = (
    Progress | SamplingStarted | VideoSaved | GuardrailBlocked | FailureDetected | (PromptUpsampled)
)


class BackendImpl(Protocol):
    def render(self, job: JobWork, target: HostTarget, workdir: str) -> RenderedJob: ...

    def parse_line(self, line: str) -> LogEvent | None: ...

    def collect(
        self,
        job: JobWork,
        rendered: RenderedJob,
        produced: set[str],
        log_lines: Sequence[str],
        exit_code: int,
        texts: Mapping[str, str] | None = None,
    ) -> dict[str, RunOutcome]:
        """`texts`: the `rendered.read_back` files that exist, relpath -> text."""
        ...

    def classify_failure(self, exit_code: int, log_lines: Sequence[str]) -> FailureClass | None: ...


# -- log prefix --------------------------------------------------------------------------------

# loguru as configured by the Transfer repositories: `[MM-DD HH:mm:ss|LEVEL|path:line:func] msg`;
# fractional seconds are accepted since the simulator (and some loguru setups) print them.
# Cosmos 3 puts `job=<name>|` and, with per-rank logging, a machine part
# `[Node../..][RANK../..][process]| ` between the time and the level
# (NVIDIA/cosmos-framework@5eee9ed cosmos_framework/inference/common/init.py:45-52,
# cosmos_framework/utils/log.py:78-99); both are optional here.
LOGURU_LINE = re.compile(
    r"^\[(?P<month>\d\d)-(?P<day>\d\d) (?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d)(?:\.(?P<frac>\d+))?"
    r"\|(?:job=[^|\]]*\|)?(?:\[Node[^|]*\|\s*)?"
    r"(?P<level>[A-Z]+)\s*\|(?P<where>[^\]]*)\]\s?(?P<message>.*)$"
)


@dataclass(frozen=True, slots=True)
class LogLine:
    at: float | None
    level: str | None
    message: str


def split_log_line(line: str, now: datetime | None = None) -> LogLine:
    """Split a loguru line into its timestamp (epoch seconds), level and message.

    The prefix has no year: the current year is assumed, or the previous one when that would put
    the line more than a day in the future (a log read just after New Year)."""
    text = line.rstrip("\r\n")
    match = LOGURU_LINE.match(text)
    if match is None:
        return LogLine(None, None, text)
    reference = now or datetime.now()
    try:
        stamp = _stamp(match, reference.year)
        if stamp.timestamp() > reference.timestamp() + 86400:
            stamp = _stamp(match, reference.year - 1)
    except ValueError:
        return LogLine(None, match["level"], match["message"])
    return LogLine(stamp.timestamp(), match["level"], match["message"])


def _stamp(match: re.Match[str], year: int) -> datetime:
    frac = match["frac"] or "0"
    micro = int((frac + "000000")[:6])
    return datetime(
        year,
        int(match["month"]),
        int(match["day"]),
        int(match["h"]),
        int(match["m"]),
        int(match["s"]),
        micro,
    )


# tqdm's bar: ` 40%|████      | 14/35 [00:28<00:42,  2.01s/it]`; updates are joined by `\r`.
TQDM_BAR = re.compile(r"(?P<step>\d+)/(?P<total>\d+) \[")


def last_carriage_segment(line: str) -> str:
    parts = [part for part in line.rstrip("\r\n").split("\r") if part.strip()]
    return parts[-1] if parts else ""


def parse_tqdm(text: str) -> Progress | None:
    if "%|" not in text:
        return None
    match = TQDM_BAR.search(text)
    if match is None:
        return None
    return Progress(step=int(match["step"]), total=int(match["total"]))


def read_line(line: str) -> tuple[LogLine, Progress | None]:
    """A raw output line as both backends read it: its last carriage-return segment split into
    prefix and message, and the tqdm progress when it is a bare progress bar."""
    parsed = split_log_line(last_carriage_segment(line))
    progress = parse_tqdm(parsed.message) if parsed.level is None else None
    return parsed, progress


# -- failure classification, shared by both backends -------------------------------------------

OOM_MARKERS = (
    "CUDA out of memory",
    "torch.OutOfMemoryError",
    "torch.cuda.OutOfMemoryError",
    "OutOfMemoryError",
    "CUBLAS_STATUS_ALLOC_FAILED",
)


def is_oom_line(message: str) -> bool:
    return any(marker in message for marker in OOM_MARKERS)


def failure_event(
    message: str, at: float | None, bad_input_markers: Sequence[str]
) -> FailureDetected | None:
    """An out-of-memory or bad-input line as an event; None for any other line."""
    if is_oom_line(message):
        return FailureDetected(FailureClass.OUT_OF_MEMORY, message, at=at)
    if any(marker in message for marker in bad_input_markers):
        return FailureDetected(FailureClass.BAD_INPUT, message, at=at)
    return None


def first_matching(log_lines: Sequence[str], markers: Sequence[str]) -> str | None:
    for line in log_lines:
        if any(marker in line for marker in markers):
            return line.strip()
    return None


def at_workdir(workdir: str, relpath: str) -> str:
    """The host path of a file of the work directory; relative when `workdir` is `.`."""
    if workdir in ("", "."):
        return relpath
    return posixpath.join(workdir, relpath)


def in_checkout(target: HostTarget, path: str) -> str:
    """A path relative to NVIDIA's checkout (an entry point, a relative checkpoint folder) as the
    host uses it: absolute under an absolute checkout, so the command works from any directory;
    as given otherwise (it is then relative to the checkout, the command's cwd)."""
    if posixpath.isabs(target.code_dir):
        return posixpath.join(target.code_dir, path)
    return path


def master_port_flags(target: HostTarget) -> list[str]:
    """torchrun's `--master_port` when the slot has its own port (torch/distributed/run.py: the
    static rendezvous binds it on the machine, default 29500), else nothing: the default."""
    return [] if target.master_port is None else ["--master_port", str(target.master_port)]


def text_flag(flag: str, value: str) -> list[str]:
    """A text option as argv tokens. argparse reads a separate token that starts with `-` as an
    option (`--negative_prompt -blurry` exits 2), so such a value is joined: `--flag=-blurry`."""
    if value.startswith("-"):
        return [f"{flag}={value}"]
    return [flag, value]


def negative_prompt(run: RunWork, default: str) -> str:
    """The negative prompt to render: the run's own, or the backend's default when it has none.

    An empty one is refused: both entry points crash on it (Transfer1 leaves the negative
    embedding out and `torch.cat`s a None; Transfer2.5 never computes it and fails, or reuses the
    previous sample's), see docs/contracts.md."""
    if run.negative_prompt is None:
        return default
    if not run.negative_prompt:
        raise InvalidInput(
            f"run {run.run_id} has an empty negative prompt, which NVIDIA's entry points crash "
            "on; give a negative prompt or none (the model's default)",
            field="negative_prompt",
        )
    return run.negative_prompt
