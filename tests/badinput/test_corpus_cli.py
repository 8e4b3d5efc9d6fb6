"""The bad-input corpus of the command line, JSONL import and configuration: one table of
refusals. Each case runs `cosmos` in-process against a seeded world and asserts its exit code
(2 bad input, 1 conflict or unknown id), a message on stderr, no traceback, an unchanged
database and no new file under the home. Text that only PostgreSQL refuses on its own (NUL, lone
surrogates) runs on both databases; the rest on SQLite."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cosmos_workflow.cli.main import app
from cosmos_workflow.config import load_settings
from cosmos_workflow.services import inputs, prompts, queue
from cosmos_workflow.services.context import Context
from tests.conftest import make_database_url
from tests.services.snapshot import database_snapshot
from tests.videos import make_input_folder, make_video

NUL = "a\x00b"
SURROGATE = "a\ud800b"
LONG = "x" * 20_001


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...] = ()  # the command; "@NAME" tokens are filled from the world
    jsonl: bytes | None = None  # `queue import` of a file holding this
    toml: bytes | None = None  # `queue status` under a cosmos.toml holding this
    env: dict[str, str | None] = field(default_factory=dict)  # None removes the variable
    code: int = 2
    message: str = ""
    both: bool = False  # on PostgreSQL too


def cli(id: str, *argv: str, code: int = 2, message: str, both: bool = False) -> Case:
    return Case(id, argv=argv, code=code, message=message, both=both)


def line(id: str, content: bytes, *, code: int = 2, message: str, both: bool = False) -> Case:
    return Case(id, jsonl=content, code=code, message=message, both=both)


def config(
    id: str,
    toml: bytes | None = None,
    *,
    env: dict[str, str | None] | None = None,
    code: int = 2,
    message: str,
) -> Case:
    return Case(id, toml=toml, env=env or {}, code=code, message=message)


OK_LINE = b'{"prompt_ids": ["@P0"], "weights": {"edge": 0.5}'
NUL_MSG = "contains a NUL character"
SUR_MSG = "unpaired surrogate"
CTRL_MSG = "control character"
# A path argument the command line itself cannot turn into a path (the services refuse the same
# text from the API with NUL_MSG or SUR_MSG).
PATH_MSG = "Invalid value for"

CASES = [
    # -- prompts ---------------------------------------------------------------------------
    cli("prompt-text-nul", "prompt", "create", "--input", "scene", NUL, message=NUL_MSG, both=True),
    cli(
        "prompt-text-surrogate",
        "prompt",
        "create",
        "--input",
        "scene",
        SURROGATE,
        message=SUR_MSG,
        both=True,
    ),
    cli("prompt-text-long", "prompt", "create", "--input", "scene", LONG, message="limit is 20000"),
    cli("prompt-text-blank", "prompt", "create", "--input", "scene", "   ", message="empty"),
    cli(
        "prompt-negative-nul",
        "prompt",
        "create",
        "--input",
        "scene",
        "ok",
        "--negative",
        NUL,
        message=f"negative {NUL_MSG}",
        both=True,
    ),
    cli(
        "prompt-negative-surrogate",
        "prompt",
        "create",
        "--input",
        "scene",
        "ok",
        "--negative",
        SURROGATE,
        message=f"negative contains an {SUR_MSG}",
        both=True,
    ),
    cli(
        "prompt-negative-empty",
        "prompt",
        "create",
        "--input",
        "scene",
        "ok",
        "--negative",
        "",
        message="negative prompt is empty",
    ),
    cli(
        "prompt-negative-long",
        "prompt",
        "create",
        "--input",
        "scene",
        "ok",
        "--negative",
        LONG,
        message="limit is 20000",
    ),
    cli(
        "prompt-name-nul",
        "prompt",
        "create",
        "--input",
        "scene",
        "ok",
        "--name",
        NUL,
        message=f"name {NUL_MSG}",
        both=True,
    ),
    cli(
        "prompt-name-surrogate",
        "prompt",
        "create",
        "--input",
        "scene",
        "ok",
        "--name",
        SURROGATE,
        message=SUR_MSG,
        both=True,
    ),
    cli(
        "prompt-name-newline",
        "prompt",
        "create",
        "--input",
        "scene",
        "ok",
        "--name",
        "a\nb",
        message=CTRL_MSG,
    ),
    cli(
        "prompt-name-escape",
        "prompt",
        "create",
        "--input",
        "scene",
        "ok",
        "--name",
        "\x1b[2J",
        message=CTRL_MSG,
    ),
    cli(
        "prompt-name-tab",
        "prompt",
        "create",
        "--input",
        "scene",
        "ok",
        "--name",
        "a\tb",
        message=CTRL_MSG,
    ),
    cli(
        "prompt-name-long",
        "prompt",
        "create",
        "--input",
        "scene",
        "ok",
        "--name",
        "n" * 201,
        message="limit is 200",
    ),
    cli(
        "prompt-name-blank",
        "prompt",
        "create",
        "--input",
        "scene",
        "ok",
        "--name",
        "  ",
        message="1 to 200 characters",
    ),
    cli("prompt-input-nul", "prompt", "create", "--input", NUL, "ok", message=NUL_MSG, both=True),
    cli(
        "prompt-input-surrogate",
        "prompt",
        "create",
        "--input",
        SURROGATE,
        "ok",
        message=SUR_MSG,
        both=True,
    ),
    cli(
        "prompt-input-unknown",
        "prompt",
        "create",
        "--input",
        "nowhere",
        "ok",
        code=1,
        message="no input named",
    ),
    cli("search-nul", "prompt", "search", NUL, message=NUL_MSG, both=True),
    cli("search-surrogate", "prompt", "search", SURROGATE, message=SUR_MSG, both=True),
    cli("search-long", "prompt", "search", "s" * 501, message="limit is 500"),
    cli("search-blank", "prompt", "search", "  ", message="search needs some text"),
    cli("search-newline", "prompt", "search", "a\nb", message=CTRL_MSG),
    cli("prompt-show-nul", "prompt", "show", NUL, message=NUL_MSG, both=True),
    cli("prompt-show-surrogate", "prompt", "show", SURROGATE, message=SUR_MSG, both=True),
    cli("prompt-show-unknown", "prompt", "show", "pr_nothing", code=1, message="no prompt"),
    cli("prompt-delete-nul", "prompt", "delete", NUL, "--yes", message=NUL_MSG, both=True),
    cli(
        "prompt-delete-unknown",
        "prompt",
        "delete",
        "pr_nothing",
        "--yes",
        code=1,
        message="no prompt",
    ),
    cli(
        "prompt-delete-queued",
        "prompt",
        "delete",
        "@P0",
        "--yes",
        code=1,
        message="queued or running",
    ),
    cli("prompt-list-input-nul", "prompt", "list", "--input", NUL, message=NUL_MSG, both=True),
    cli(
        "prompt-list-input-unknown",
        "prompt",
        "list",
        "--input",
        "nowhere",
        code=1,
        message="no input named",
    ),
    cli("prompt-list-limit-zero", "prompt", "list", "--limit", "0", message="limit must be"),
    cli(
        "prompt-list-limit-huge",
        "prompt",
        "list",
        "--limit",
        str(10**30),
        message="limit must be",
        both=True,
    ),
    cli("prompt-list-limit-text", "prompt", "list", "--limit", "many", message="Invalid value"),
    # -- inputs ----------------------------------------------------------------------------
    cli("input-path-nul", "input", "add", "@ROOTS/a\x00b", message=PATH_MSG, both=True),
    cli("input-path-surrogate", "input", "add", "@ROOTS/a\ud800b", message=PATH_MSG, both=True),
    cli("input-path-newline", "input", "add", "@ROOTS/a\nb", message=CTRL_MSG),
    cli("input-path-long", "input", "add", "@ROOTS/" + "p" * 4100, message="limit is 4096"),
    cli("input-outside-roots", "input", "add", "@OUT/scene", message="outside the allowed"),
    cli(
        "input-dotdot-escape",
        "input",
        "add",
        "@ROOTS/../outside/scene",
        message="outside the allowed",
    ),
    cli(
        "input-folder-link-out",
        "input",
        "add",
        "@ROOTS/linked-folder",
        message="outside the allowed",
    ),
    cli("input-missing-folder", "input", "add", "@ROOTS/missing", message="is not a folder"),
    cli("input-a-file", "input", "add", "@ROOTS/afile.txt", message="is not a folder"),
    cli("input-no-rgb", "input", "add", "@ROOTS/empty", message="has no RGB video"),
    cli("input-rgb-link-out", "input", "add", "@ROOTS/linked-rgb", message="a link to"),
    cli("input-depth-link-out", "input", "add", "@ROOTS/linked-depth", message="the depth control"),
    cli("input-depth-dangling", "input", "add", "@ROOTS/dangling", message="broken link"),
    cli(
        "input-video-outside",
        "input",
        "add",
        "@ROOTS/empty",
        "--video",
        "@OUT/scene/color.mp4",
        message="outside the allowed",
    ),
    cli(
        "input-video-link-out",
        "input",
        "add",
        "@ROOTS/linked-rgb",
        "--video",
        "color.mp4",
        message="a link to",
    ),
    cli(
        "input-video-missing",
        "input",
        "add",
        "@ROOTS/empty",
        "--video",
        "nope.mp4",
        message="does not exist",
    ),
    cli(
        "input-video-nul",
        "input",
        "add",
        "@ROOTS/empty",
        "--video",
        NUL,
        message=PATH_MSG,
        both=True,
    ),
    cli(
        "input-name-nul", "input", "add", "@ROOTS/fresh", "--name", NUL, message=NUL_MSG, both=True
    ),
    cli(
        "input-name-surrogate",
        "input",
        "add",
        "@ROOTS/fresh",
        "--name",
        SURROGATE,
        message=SUR_MSG,
        both=True,
    ),
    cli("input-name-newline", "input", "add", "@ROOTS/fresh", "--name", "a\nb", message=CTRL_MSG),
    cli(
        "input-name-long",
        "input",
        "add",
        "@ROOTS/fresh",
        "--name",
        "n" * 201,
        message="limit is 200",
    ),
    cli(
        "input-name-blank",
        "input",
        "add",
        "@ROOTS/fresh",
        "--name",
        "  ",
        message="1 to 200 characters",
    ),
    cli(
        "input-name-taken",
        "input",
        "add",
        "@ROOTS/fresh",
        "--name",
        "scene",
        message="exists already",
    ),
    cli("input-show-nul", "input", "show", NUL, message=NUL_MSG, both=True),
    cli("input-show-unknown", "input", "show", "nowhere", code=1, message="no input named"),
    cli("input-rename-nul", "input", "rename", "scene", NUL, message=NUL_MSG, both=True),
    cli(
        "input-rename-surrogate", "input", "rename", "scene", SURROGATE, message=SUR_MSG, both=True
    ),
    cli("input-rename-newline", "input", "rename", "scene", "a\nb", message=CTRL_MSG),
    cli("input-rename-long", "input", "rename", "scene", "n" * 201, message="limit is 200"),
    cli("input-rename-blank", "input", "rename", "scene", "  ", message="1 to 200 characters"),
    cli("input-rename-unknown", "input", "rename", "nowhere", "x", code=1, message="no input"),
    cli("input-rename-which-nul", "input", "rename", NUL, "x", message=NUL_MSG, both=True),
    cli("input-remove-busy", "input", "remove", "scene", code=1, message="@JOB"),
    cli("input-remove-busy-force", "input", "remove", "scene", "--force", code=1, message="@JOB"),
    cli(
        "input-remove-busy-dry-run",
        "input",
        "remove",
        "scene",
        "--dry-run",
        code=1,
        message="queued or running",
    ),
    cli("input-remove-unknown", "input", "remove", "nowhere", code=1, message="no input named"),
    cli("input-remove-nul", "input", "remove", NUL, message=NUL_MSG, both=True),
    cli("input-remove-newline", "input", "remove", "a\nb", message=CTRL_MSG),
    # -- queue add -------------------------------------------------------------------------
    cli("sweep-over-limit", "sweep", "@P0", "-w", "edge=0.001:1:0.001", message="--yes"),
    cli("sweep-backwards", "sweep", "@P0", "-w", "edge=0.8:0.2:0.1", message="stops"),
    cli("sweep-no-equals", "sweep", "@P0", "-w", "edge", message="depth=0.2:0.8:0.2"),
    cli("sweep-three-parts", "sweep", "@P0", "-w", "edge=0.1:0.2", message="start:stop:step"),
    cli("sweep-weight-high", "sweep", "@P0", "-w", "edge=1.5", message="between 0 and 1"),
    cli("sweep-two-axes", "sweep", "@P0", "-w", "edge=0.5", "-w", "canny=0.2", message="two axes"),
    cli("sweep-seeds", "sweep", "@P0", "-w", "edge=0.5", "--seeds", "1:x", message="whole number"),
    cli("sweep-seeds-range", "sweep", "@P0", "-w", "edge=0.5", "--seeds", "5:1", message="range"),
    cli("sweep-name-nul", "sweep", "@P0", "-w", "edge=0.5", "--name", NUL, message=NUL_MSG),
    cli("sweep-prompt", "sweep", "pr_nothing", "-w", "edge=0.5", code=1, message="unknown prompt"),
    cli("sweep-show-unknown", "sweeps", "show", "nowhere", code=1, message="no sweep"),
    cli("sweep-cancel-unknown", "sweeps", "cancel", "nowhere", code=1, message="no sweep"),
    cli("runs-sweep-unknown", "runs", "list", "--sweep", "nowhere", code=1, message="no sweep"),
    cli("pick-unknown", "runs", "pick", "nowhere", code=1, message="nowhere"),
    cli("add-prompt-unknown", "queue", "add", "pr_nothing", code=1, message="unknown prompt"),
    cli("add-prompt-nul", "queue", "add", NUL, message=NUL_MSG, both=True),
    cli("add-prompt-surrogate", "queue", "add", SURROGATE, message=SUR_MSG, both=True),
    cli("add-prompt-repeated", "queue", "add", "@P0", "@P0", message="repeated"),
    cli("add-key-nul", "queue", "add", "@P0", "--idempotency-key", NUL, message=NUL_MSG, both=True),
    cli(
        "add-key-surrogate",
        "queue",
        "add",
        "@P0",
        "--idempotency-key",
        SURROGATE,
        message=SUR_MSG,
        both=True,
    ),
    cli("add-key-newline", "queue", "add", "@P0", "--idempotency-key", "k\n1", message=CTRL_MSG),
    cli(
        "add-key-long",
        "queue",
        "add",
        "@P0",
        "--idempotency-key",
        "k" * 201,
        message="limit is 200",
    ),
    cli(
        "add-key-empty",
        "queue",
        "add",
        "@P0",
        "--idempotency-key",
        "",
        message="1 to 200 characters",
    ),
    cli(
        "add-key-other-weights",
        "queue",
        "add",
        "@P0",
        "--idempotency-key",
        "k1",
        "--weights",
        "edge=0.6",
        code=1,
        message="taken by job @JOB",
        both=True,
    ),
    cli(
        "add-key-other-priority",
        "queue",
        "add",
        "@P0",
        "--idempotency-key",
        "k1",
        "--weights",
        "edge=0.5",
        "--priority",
        "3",
        code=1,
        message="taken by job @JOB",
    ),
    cli(
        "add-key-other-prompts",
        "queue",
        "add",
        "@P0",
        "@P1",
        "--idempotency-key",
        "k1",
        "--weights",
        "edge=0.5",
        code=1,
        message="taken by job @JOB",
    ),
    cli(
        "add-key-other-steps",
        "queue",
        "add",
        "@P0",
        "--idempotency-key",
        "k1",
        "--weights",
        "edge=0.5",
        "--steps",
        "20",
        code=1,
        message="(parameters)",
    ),
    cli(
        "add-key-other-backend",
        "queue",
        "add",
        "@P0",
        "--idempotency-key",
        "k1",
        "--weights",
        "edge=0.5",
        "--backend",
        "transfer2.5",
        code=1,
        message="taken by job @JOB",
    ),
    cli(
        "add-weight-above-one",
        "queue",
        "add",
        "@P0",
        "--weights",
        "edge=2",
        message="between 0 and 1",
    ),
    cli(
        "add-weight-nan", "queue", "add", "@P0", "--weights", "edge=nan", message="between 0 and 1"
    ),
    cli("add-weight-text", "queue", "add", "@P0", "--weights", "edge=abc", message="weight"),
    cli("add-weight-unknown-control", "queue", "add", "@P0", "--weights", "nope=1", message="nope"),
    cli(
        "add-weights-all-zero",
        "queue",
        "add",
        "@P0",
        "--weights",
        "edge=0",
        message="at least one control",
    ),
    cli("add-steps-zero", "queue", "add", "@P0", "--steps", "0", message="steps must be"),
    cli("add-steps-huge", "queue", "add", "@P0", "--steps", str(10**30), message="steps must be"),
    cli("add-steps-text", "queue", "add", "@P0", "--steps", "abc", message="Invalid value"),
    cli("add-seed-negative", "queue", "add", "@P0", "--seed", "-1", message="seed must be"),
    cli("add-fps-zero", "queue", "add", "@P0", "--fps", "0", message="fps must be"),
    cli(
        "add-guidance-high", "queue", "add", "@P0", "--guidance", "100", message="guidance must be"
    ),
    cli(
        "add-sigma-inf", "queue", "add", "@P0", "--sigma-max", "1e400", message="sigma_max must be"
    ),
    cli("add-blur-unknown", "queue", "add", "@P0", "--blur", "huge", message="unknown blur"),
    cli("add-canny-nul", "queue", "add", "@P0", "--canny", NUL, message="unknown canny", both=True),
    cli(
        "add-backend-unknown", "queue", "add", "@P0", "--backend", "nope", message="unknown backend"
    ),
    cli(
        "add-backend-nul",
        "queue",
        "add",
        "@P0",
        "--backend",
        NUL,
        message="unknown backend",
        both=True,
    ),
    cli(
        "add-priority-high",
        "queue",
        "add",
        "@P0",
        "--priority",
        "5000",
        message="priority must be between",
    ),
    cli(
        "add-distilled-depth",
        "queue",
        "add",
        "@P0",
        "--distilled",
        "--weights",
        "depth=1",
        message="distilled",
    ),
    # -- Cosmos 3: what NVIDIA refuses or crashes on after loading the model ---------------
    cli(
        "c3-seg-no-video",
        "queue",
        "add",
        "@P0",
        "--backend",
        "cosmos3",
        "--weights",
        "seg=1",
        message="(input 'scene') has no seg control video",
    ),
    cli(
        "c3-wsm-no-video",
        "queue",
        "add",
        "@P0",
        "--backend",
        "cosmos3",
        "--weights",
        "edge=0.5,wsm=0.5",
        message="has no wsm control video",
    ),
    cli(
        "c3-fps-not-the-inputs",
        "queue",
        "add",
        "@P0",
        "--backend",
        "cosmos3",
        "--fps",
        "30",
        message="fps 30 differs from the input video's 24 fps",
    ),
    cli(
        "c3-video-not-mp4",
        "queue",
        "add",
        "@MOV",
        "--backend",
        "cosmos3",
        message="Cosmos 3 reads only .mp4 input videos",
    ),
    cli(
        "c3-param-with-transfer1",
        "queue",
        "add",
        "@P0",
        "--checkpoint",
        "Cosmos3-Nano",
        message="checkpoint is a Cosmos 3 parameter",
    ),
    cli(
        "c3-outputs-with-transfer2.5",
        "queue",
        "add",
        "@P0",
        "--backend",
        "transfer2.5",
        "--num-outputs",
        "2",
        message="num_outputs is a Cosmos 3 parameter",
    ),
    cli(
        "c3-cache-with-transfer1",
        "queue",
        "add",
        "@P0",
        "--no-diffusion-cache",
        message="diffusion_cache is a Cosmos 3 parameter",
    ),
    cli(
        "c3-checkpoint-unknown",
        "queue",
        "add",
        "@P0",
        "--backend",
        "cosmos3",
        "--checkpoint",
        "Cosmos3-Edge",
        message="unknown checkpoint",
    ),
    cli(
        "c3-resolution-unknown",
        "queue",
        "add",
        "@P0",
        "--backend",
        "cosmos3",
        "--resolution",
        "1080",
        message="unknown resolution",
    ),
    cli(
        "c3-guidance-high",
        "queue",
        "add",
        "@P0",
        "--backend",
        "cosmos3",
        "--guidance",
        "7.5",
        message="guidance must be between 0 and 7",
    ),
    cli(
        "c3-control-guidance-high",
        "queue",
        "add",
        "@P0",
        "--backend",
        "cosmos3",
        "--control-guidance",
        "11",
        message="control_guidance must be between 0 and 10",
    ),
    cli(
        "c3-shift-zero",
        "queue",
        "add",
        "@P0",
        "--backend",
        "cosmos3",
        "--shift",
        "0",
        message="shift must be above 0",
    ),
    cli(
        "c3-overlap-whole-chunk",
        "queue",
        "add",
        "@P0",
        "--backend",
        "cosmos3",
        "--chunk-frames",
        "5",
        "--conditional-frames",
        "5",
        message="must be below the chunk length",
    ),
    cli(
        "c3-sigma-with-unipc",
        "queue",
        "add",
        "@P0",
        "--backend",
        "cosmos3",
        "--sigma-max",
        "80",
        message="read only by the edm sampler",
    ),
    cli(
        "c3-distilled",
        "queue",
        "add",
        "@P0",
        "--backend",
        "cosmos3",
        "--distilled",
        message="Cosmos 3 has no distilled transfer checkpoint",
    ),
    cli(
        "c3-outputs-many",
        "queue",
        "add",
        "@P0",
        "--backend",
        "cosmos3",
        "--num-outputs",
        "65",
        message="num_outputs must be between 1 and 64",
    ),
    cli(
        "c3-outputs-past-seed",
        "queue",
        "add",
        "@P0",
        "--backend",
        "cosmos3",
        "--seed",
        "2147483647",
        "--num-outputs",
        "2",
        message="passes the largest seed",
    ),
    cli(
        "c3-sweep-one-control",
        "sweep",
        "@P0",
        "-w",
        "depth=0.2:0.8:0.2",
        "--backend",
        "cosmos3",
        message="renders one video per seed",
    ),
    cli(
        "c3-sweep-wsm-no-video",
        "sweep",
        "@P0",
        "-w",
        "depth=0.5",
        "-w",
        "wsm=0.2,0.4",
        "--backend",
        "cosmos3",
        message="has no wsm control video",
    ),
    cli(
        "c3-sweep-fps",
        "sweep",
        "@P0",
        "-w",
        "depth=0.5",
        "-w",
        "edge=0.2,0.4",
        "--backend",
        "cosmos3",
        "--fps",
        "25",
        "--dry-run",
        message="fps 25 differs",
    ),
    line(
        "c3-line-wsm-no-video",
        b'{"prompt_ids": ["@P0"], "weights": {"wsm": 1}, "params": {"backend": "cosmos3"}}',
        message="has no wsm control video",
    ),
    line(
        "c3-line-not-mp4",
        OK_LINE + b'}\n{"prompt_ids": ["@MOV"], "weights": {"edge": 1}, "backend": "cosmos3"}',
        message="reads only .mp4 input videos",
    ),
    line(
        "c3-line-param-with-transfer1",
        OK_LINE + b', "params": {"shift": 5}}',
        message="shift is a Cosmos 3 parameter",
    ),
    line(
        "c3-line-sweep-one-control",
        b'{"prompt_ids": ["@P0"], "sweep": {"weights": {"edge": [0.2, 0.4]}}, '
        b'"params": {"backend": "cosmos3"}}',
        message="renders one video per seed",
    ),
    config(
        "host-backend-unknown",
        b'[[hosts]]\nname = "a"\nbackend = "cosmos4"\n',
        message="expected one of 'transfer1', 'transfer2.5' or 'cosmos3'",
    ),
    # -- queue management ------------------------------------------------------------------
    cli("cancel-nul", "queue", "cancel", NUL, message=NUL_MSG, both=True),
    cli("cancel-surrogate", "queue", "cancel", SURROGATE, message=SUR_MSG, both=True),
    cli("cancel-unknown", "queue", "cancel", "job_nothing", code=1, message="no job"),
    cli("move-nul", "queue", "move", NUL, "--top", message=NUL_MSG, both=True),
    cli("move-no-place", "queue", "move", "@JOB", message="exactly one of"),
    cli("move-two-places", "queue", "move", "@JOB", "--top", "--bottom", message="exactly one of"),
    cli("move-before-nul", "queue", "move", "@JOB", "--before", NUL, message=NUL_MSG, both=True),
    cli(
        "move-before-itself",
        "queue",
        "move",
        "@JOB",
        "--before",
        "@JOB",
        message="not another queued job",
    ),
    cli("move-unknown", "queue", "move", "job_nothing", "--top", code=1, message="no job"),
    cli("retry-queued", "queue", "retry", "@JOB", code=1, message="only failed or cancelled"),
    cli("retry-nul", "queue", "retry", NUL, message=NUL_MSG, both=True),
    cli("upscale-queued-run", "queue", "upscale", "@RUN", code=1, message="only a finished run"),
    cli("upscale-nul", "queue", "upscale", NUL, message=NUL_MSG, both=True),
    cli("upscale-unknown", "queue", "upscale", "run_nothing", code=1, message="no run"),
    cli(
        "upscale-weight-zero", "queue", "upscale", "@RUN", "--weight", "0", message="upscale weight"
    ),
    cli(
        "upscale-priority",
        "queue",
        "upscale",
        "@RUN",
        "--priority",
        "-5000",
        message="priority must be between",
    ),
    cli("enhance-nul", "queue", "enhance", NUL, message=NUL_MSG, both=True),
    cli("enhance-unknown", "queue", "enhance", "pr_nothing", code=1, message="unknown prompt"),
    cli(
        "enhance-priority",
        "queue",
        "enhance",
        "@P0",
        "--priority",
        "1001",
        message="priority must be between",
    ),
    cli("queue-list-limit-zero", "queue", "list", "--limit", "0", message="limit must be"),
    cli("queue-list-offset-negative", "queue", "list", "--offset", "-1", message="offset 0"),
    cli(
        "queue-list-offset-huge",
        "queue",
        "list",
        "--offset",
        str(10**30),
        message="offset 0",
        both=True,
    ),
    cli("import-missing", "queue", "import", "@ROOTS/none.jsonl", message="does not exist"),
    cli("import-folder", "queue", "import", "@ROOTS/empty", message="not a file"),
    cli("import-path-nul", "queue", "import", NUL, message=PATH_MSG, both=True),
    # -- runs, jobs, logs ------------------------------------------------------------------
    cli("runs-status-unknown", "runs", "list", "--status", "done", message="unknown status"),
    cli("runs-status-nul", "runs", "list", "--status", NUL, message=NUL_MSG, both=True),
    cli("runs-job-nul", "runs", "list", "--job", NUL, message=NUL_MSG, both=True),
    cli("runs-job-surrogate", "runs", "list", "--job", SURROGATE, message=SUR_MSG, both=True),
    cli("runs-limit-zero", "runs", "list", "--limit", "0", message="limit must be"),
    cli(
        "runs-limit-huge",
        "runs",
        "list",
        "--limit",
        str(10**30),
        message="limit must be",
        both=True,
    ),
    cli("runs-show-nul", "runs", "show", NUL, message=NUL_MSG, both=True),
    cli("runs-show-unknown", "runs", "show", "run_nothing", code=1, message="no run"),
    cli("runs-rate-nul", "runs", "rate", NUL, "3", message=NUL_MSG, both=True),
    cli("runs-rate-range", "runs", "rate", "@RUN", "9", message="rating must be"),
    cli("runs-rate-unknown", "runs", "rate", "run_nothing", "3", code=1, message="no run"),
    cli("job-show-nul", "job", "show", NUL, message=NUL_MSG, both=True),
    cli("job-show-unknown", "job", "show", "job_nothing", code=1, message="no job"),
    cli("logs-nul", "logs", NUL, message=NUL_MSG, both=True),
    cli("logs-unknown", "logs", "job_nothing", code=1, message="no job"),
    cli("logs-tail-zero", "logs", "@JOB", "--tail", "0", message="tail must be"),
    # -- JSONL import ----------------------------------------------------------------------
    line("jsonl-not-json", b"{oops\n", message="line 1: not valid JSON"),
    line(
        "jsonl-sweep-not-object",
        b'{"prompt_ids": ["@P0"], "sweep": [1]}\n',
        message="sweep must be an object",
    ),
    line(
        "jsonl-sweep-weights-outside",
        b'{"prompt_ids": ["@P0"], "weights": {"edge": 0.5}, '
        b'"sweep": {"weights": {"edge": [0.5]}}}\n',
        message="inside sweep",
    ),
    line(
        "jsonl-sweep-over-limit",
        b'{"prompt_ids": ["@P0"], "sweep": {"weights": {"edge": "0.001:1:0.001"}}}\n',
        message="line 1: the sweep has 1000 runs",
    ),
    line("jsonl-array", b"[1, 2]\n", message="line 1: each line must be a JSON object"),
    line("jsonl-string", b'"job"\n', message="each line must be a JSON object"),
    line("jsonl-params-list", OK_LINE + b', "params": [1, 2]}\n', message="params must be"),
    line("jsonl-params-string", OK_LINE + b', "params": "steps=3"}\n', message="params must be"),
    line("jsonl-params-number", OK_LINE + b', "params": 7}\n', message="params must be"),
    line("jsonl-not-utf8", OK_LINE + b', "name": "\xff\xfe"}\n', message="line 1: not UTF-8"),
    line("jsonl-not-utf8-line-3", OK_LINE + b"}\n\n" + b"\xc3\x28\n", message="line 3: not UTF-8"),
    line(
        "jsonl-deep-nesting",
        b'{"params": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
        message="nested too deeply",
    ),
    line(
        "jsonl-huge-steps", OK_LINE + b', "steps": ' + b"9" * 5000 + b"}\n", message="5000 digits"
    ),
    line(
        "jsonl-huge-priority",
        OK_LINE + b', "priority": ' + b"1" * 5000 + b"}\n",
        message="5000 digits",
    ),
    line(
        "jsonl-long-weight",
        b'{"prompt_ids": ["@P0"], "weights": {"edge": ' + b"1" * 400 + b"}}\n",
        message="400 digits",
    ),
    line(
        "jsonl-weight-overflow",
        b'{"prompt_ids": ["@P0"], "weights": {"edge": 1e400}}\n',
        message="between 0 and 1",
    ),
    line(
        "jsonl-weight-nan",
        b'{"prompt_ids": ["@P0"], "weights": {"edge": NaN}}\n',
        message="between 0 and 1",
    ),
    line("jsonl-steps-nan", OK_LINE + b', "steps": NaN}\n', message="steps must be"),
    line("jsonl-steps-object", OK_LINE + b', "steps": {"a": 1}}\n', message="steps must be"),
    line("jsonl-backend-object", OK_LINE + b', "backend": {"a": 1}}\n', message="unknown backend"),
    line(
        "jsonl-prompt-ids-string",
        b'{"prompt_ids": "@P0", "weights": {"edge": 0.5}}\n',
        message="prompt_ids must be a list",
    ),
    line(
        "jsonl-prompt-ids-number",
        b'{"prompt_ids": [123], "weights": {"edge": 0.5}}\n',
        message="each prompt id must be text",
    ),
    line(
        "jsonl-prompt-ids-empty",
        b'{"prompt_ids": [], "weights": {"edge": 0.5}}\n',
        message="at least one prompt",
    ),
    line(
        "jsonl-prompt-id-nul",
        b'{"prompt_ids": ["p\\u0000"], "weights": {"edge": 0.5}}\n',
        message=NUL_MSG,
        both=True,
    ),
    line(
        "jsonl-prompt-id-surrogate",
        b'{"prompt_ids": ["p\\ud800"], "weights": {"edge": 0.5}}\n',
        message=SUR_MSG,
        both=True,
    ),
    line(
        "jsonl-key-nul", OK_LINE + b', "idempotency_key": "k\\u0000"}\n', message=NUL_MSG, both=True
    ),
    line(
        "jsonl-key-surrogate",
        OK_LINE + b', "idempotency_key": "\\udfff"}\n',
        message=SUR_MSG,
        both=True,
    ),
    line("jsonl-key-escape", OK_LINE + b', "idempotency_key": "\\u001b[2J"}\n', message=CTRL_MSG),
    line(
        "jsonl-key-number",
        OK_LINE + b', "idempotency_key": 5}\n',
        message="idempotency_key must be a string",
    ),
    line(
        "jsonl-key-repeated",
        OK_LINE + b', "idempotency_key": "r"}\n' + OK_LINE + b', "idempotency_key": "r"}\n',
        message="line 2: idempotency key repeated",
    ),
    line(
        "jsonl-key-other-content",
        b'{"prompt_ids": ["@P1"], "weights": {"edge": 0.5}, "idempotency_key": "k1"}\n',
        code=1,
        message="taken by job @JOB",
        both=True,
    ),
    line(
        "jsonl-weights-list",
        b'{"prompt_ids": ["@P0"], "weights": ["edge"]}\n',
        message="weights must be an object",
    ),
    line("jsonl-weights-missing", b'{"prompt_ids": ["@P0"]}\n', message="weights must be"),
    line(
        "jsonl-weight-nested",
        b'{"prompt_ids": ["@P0"], "weights": {"edge": [1]}}\n',
        message="must be a number",
    ),
    line("jsonl-unknown-param", OK_LINE + b', "colour": "red"}\n', message="unknown parameter"),
    line(
        "jsonl-priority-text",
        OK_LINE + b', "priority": "high"}\n',
        message="priority must be a whole number",
    ),
    line(
        "jsonl-priority-bool",
        OK_LINE + b', "priority": true}\n',
        message="priority must be a whole number",
    ),
    line(
        "jsonl-second-line-bad",
        OK_LINE + b"}\n" + OK_LINE + b', "steps": 0}\n',
        message="line 2: steps must be",
    ),
    line("jsonl-empty-file", b"", message="holds no jobs"),
    line("jsonl-blank-lines", b"\n  \n\n", message="holds no jobs"),
    line(
        "jsonl-unknown-prompt",
        b'{"prompt_ids": ["pr_nothing"], "weights": {"edge": 0.5}}\n',
        code=1,
        message="unknown prompt",
    ),
    line("jsonl-bom", b"\xef\xbb\xbf" + OK_LINE + b"}\n", message="line 1: not valid JSON"),
    line(
        "jsonl-distilled-depth",
        b'{"prompt_ids": ["@P0"], "weights": {"depth": 1}, "distilled": true}\n',
        message="distilled",
    ),
    line("jsonl-truncated", OK_LINE + b"\n", message="not valid JSON"),
    # -- configuration ---------------------------------------------------------------------
    config("lease-nan", b"lease_seconds = nan\n", message="lease_seconds: expected a finite"),
    config("lease-inf", b"lease_seconds = inf\n", message="lease_seconds: expected a finite"),
    config(
        "lease-nan-env",
        env={"COSMOS_LEASE_SECONDS": "nan"},
        message="COSMOS_LEASE_SECONDS: expected a finite",
    ),
    config("lease-negative", b"lease_seconds = -1\n", message="lease_seconds: expected a number"),
    config("lease-text", b'lease_seconds = "soon"\n', message="lease_seconds: expected a number"),
    config("attempts-zero", b"max_attempts = 0\n", message="max_attempts: expected a whole"),
    config("outage-nan", b"database_outage_seconds = nan\n", message="expected a finite number"),
    config("retention-zero", b"retention_days = 0\n", message="retention_days"),
    config("unknown-key", b"colour = 1\n", message="colour: unknown key"),
    config("bad-toml", b"lease_seconds = = 3\n", message="is not valid TOML"),
    config("not-utf8-file", b'home = "\xff\xfe"\n', message="is not valid TOML"),
    config("config-is-folder", env={"COSMOS_CONFIG": "@TMP"}, message="cannot be read"),
    config("config-missing", env={"COSMOS_CONFIG": "@TMP/none.toml"}, message="does not exist"),
    config(
        "database-url-not-url",
        b'database_url = "not a url"\n',
        env={"COSMOS_DATABASE_URL": None},
        message="expected a database URL",
    ),
    config(
        "database-url-unsupported",
        b'database_url = "mysql://u@h/db"\n',
        env={"COSMOS_DATABASE_URL": None},
        message="unsupported database",
    ),
    config(
        "database-refused",
        b'database_url = "postgresql://nobody@127.0.0.1:1/x"\n',
        env={"COSMOS_DATABASE_URL": None},
        code=1,
        message="the database cannot be reached: connection failed",
    ),
    config(
        "database-refused-env",
        env={"COSMOS_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/x"},
        code=1,
        message="the database cannot be reached",
    ),
    config(
        "database-url-env",
        env={"COSMOS_DATABASE_URL": "::nothing"},
        message="COSMOS_DATABASE_URL: expected a database URL",
    ),
    config("home-is-a-file", env={"COSMOS_HOME": "@TMP/afile"}, message="cannot be used as a"),
    config(
        "home-under-a-file", env={"COSMOS_HOME": "@TMP/afile/home"}, message="cannot be used as a"
    ),
    config(
        "host-env-space",
        b'[[hosts]]\nname = "a"\nenv = {"A B" = "1"}\n',
        message="'A B': invalid environment variable name",
    ),
    config(
        "host-env-digit",
        b'[[hosts]]\nname = "a"\nenv = {"1A" = "1"}\n',
        message="invalid environment variable name",
    ),
    config(
        "host-env-equals",
        b'[[hosts]]\nname = "a"\nenv = {"A=B" = "1"}\n',
        message="invalid environment variable name",
    ),
    config(
        "host-env-empty-name",
        b'[[hosts]]\nname = "a"\nenv = {"" = "1"}\n',
        message="invalid environment variable name",
    ),
    config(
        "host-env-value-nul",
        b'[[hosts]]\nname = "a"\nenv = {"A" = "x\\u0000"}\n',
        message="contains a NUL character",
    ),
    config("host-name-pattern", b'[[hosts]]\nname = "a b"\n', message="hosts.0.name"),
    config(
        "host-docker-no-image",
        b'[[hosts]]\nname = "a"\ncontainer = "docker"\n',
        message="needs an image",
    ),
    config(
        "host-ssh-no-workdir",
        b'[[hosts]]\nname = "a"\nssh = "gpu1"\n',
        message="needs a remote workdir",
    ),
    config(
        "host-duplicate",
        b'[[hosts]]\nname = "a"\n[[hosts]]\nname = "a"\n',
        message="host names must be unique",
    ),
    config(
        "host-memory-nan",
        b'[[hosts]]\nname = "a"\ngpu_memory_gb = nan\n',
        message="gpu_memory_gb: expected a finite number",
    ),
    config("host-port-range", b'[[hosts]]\nname = "a"\nssh_port = 70000\n', message="ssh_port"),
    config("host-unknown-key", b'[[hosts]]\nname = "a"\ncolour = 1\n', message="unknown key"),
    config("hosts-not-list", b"hosts = 3\n", message="hosts: expected a list"),
    config("planner-mode", b'[planner]\nmode = "fast"\n', message="planner.mode"),
    config("planner-not-table", b'planner = "x"\n', message="planner"),
    config("planner-unknown-key", b"[planner]\ncolour = 1\n", message="unknown key"),
    config(
        "input-roots-bad-json", env={"COSMOS_INPUT_ROOTS": "[oops"}, message="COSMOS_INPUT_ROOTS"
    ),
    config("hosts-env-bad-json", env={"COSMOS_HOSTS": "[oops"}, message="COSMOS_HOSTS"),
    config("log-level", env={"COSMOS_LOG_LEVEL": "LOUD"}, message="COSMOS_LOG_LEVEL"),
    config(
        "home-nul-toml",
        b'home = "a\\u0000b"\n',
        env={"COSMOS_HOME": None},
        message="contains a NUL character",
    ),
]


@dataclass
class World:
    ctx: Context
    home: Path
    env: dict[str, str]
    tokens: dict[str, str]


_worlds: dict[str, World] = {}


@pytest.fixture(scope="module", autouse=True)
def _dispose_worlds() -> Iterator[None]:
    yield
    for world in _worlds.values():
        world.ctx.db.dispose()
    _worlds.clear()


def _build_world(url: str, base: Path) -> World:
    """Inputs, prompts and one queued job with key k1, plus folders that must be refused."""
    roots, outside, home = base / "roots", base / "outside", base / "home"
    home.mkdir(parents=True)
    make_input_folder(roots / "scene", controls=("depth",))
    make_input_folder(outside / "scene", controls=("depth",))
    make_input_folder(roots / "fresh")
    make_video(roots / "movscene" / "color.mov")
    (roots / "empty").mkdir()
    (roots / "afile.txt").write_text("not a folder")
    (roots / "linked-folder").symlink_to(outside / "scene")
    (roots / "linked-rgb").mkdir()
    (roots / "linked-rgb" / "color.mp4").symlink_to(outside / "scene" / "color.mp4")
    (roots / "linked-depth").mkdir()
    shutil.copy(roots / "scene" / "color.mp4", roots / "linked-depth" / "color.mp4")
    (roots / "linked-depth" / "depth.mp4").symlink_to(outside / "scene" / "depth.mp4")
    (roots / "dangling").mkdir()
    shutil.copy(roots / "scene" / "color.mp4", roots / "dangling" / "color.mp4")
    (roots / "dangling" / "depth.mp4").symlink_to(base / "nothing.mp4")
    (base / "empty.toml").write_text("")
    env = {
        "COSMOS_HOME": str(home),
        "COSMOS_DATABASE_URL": url,
        "COSMOS_INPUT_ROOTS": f'["{roots}"]',
        "COSMOS_CONFIG": str(base / "empty.toml"),
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        ctx = Context(load_settings())
        inputs.add_input(ctx, roots / "scene", name="scene")
        first = prompts.create_prompt(ctx, "scene", "a sunlit warehouse").id
        second = prompts.create_prompt(ctx, "scene", "a night street").id
        inputs.add_input(ctx, roots / "movscene", name="movscene")
        mov = prompts.create_prompt(ctx, "movscene", "a harbour at dawn").id
        job = queue.enqueue(ctx, queue.build_request([first], {"edge": 0.5}, idempotency_key="k1"))
    tokens = {
        "@P0": first,
        "@P1": second,
        "@MOV": mov,
        "@JOB": job.job_id,
        "@RUN": job.run_ids[0],
        "@ROOTS": str(roots),
        "@OUT": str(outside),
    }
    return World(ctx, home, env, tokens)


def _world(
    db: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> World:
    if db not in _worlds:
        base = tmp_path_factory.mktemp(f"corpus-{db}")
        _worlds[db] = _build_world(make_database_url(db, request, base), base)
    return _worlds[db]


def _fill(text: str, tokens: dict[str, str]) -> str:
    for token in sorted(tokens, key=len, reverse=True):
        text = text.replace(token, tokens[token])
    return text


def _home_files(home: Path) -> set[Path]:
    """Files under the home; SQLite's own journal files come and go with every transaction."""
    return {p for p in home.rglob("*") if not p.name.endswith(("-wal", "-shm", "-journal"))}


def _argv(case: Case, world: World, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    tokens = {**world.tokens, "@TMP": str(tmp)}
    (tmp / "afile").write_text("a file where a folder should be")
    for key, value in case.env.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, _fill(value, tokens))
    if case.toml is not None:
        (tmp / "cosmos.toml").write_bytes(case.toml)
        monkeypatch.setenv("COSMOS_CONFIG", str(tmp / "cosmos.toml"))
    if case.jsonl is not None:
        content = case.jsonl
        for token, value in tokens.items():
            content = content.replace(token.encode(), value.encode())
        (tmp / "jobs.jsonl").write_bytes(content)
        return ["queue", "import", str(tmp / "jobs.jsonl")]
    if not case.argv:
        return ["queue", "status"]
    return [_fill(arg, tokens) for arg in case.argv]


PARAMS = [
    pytest.param(case, db, id=f"{case.id}-{db}")
    for case in CASES
    for db in (("sqlite", "postgres") if case.both else ("sqlite",))
]


def test_the_corpus_is_large_and_unambiguous() -> None:
    assert len(CASES) >= 110
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize(("case", "db"), PARAMS)
def test_bad_input_is_refused_with_a_message_and_changes_nothing(
    case: Case,
    db: str,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = _world(db, request, tmp_path_factory)
    for key, value in world.env.items():
        monkeypatch.setenv(key, value)
    argv = _argv(case, world, tmp_path, monkeypatch)
    before, files = database_snapshot(world.ctx), _home_files(world.home)

    result = CliRunner().invoke(app, argv)

    output = result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{case.id} raised {result.exception!r}"
    )
    assert "Traceback" not in output
    assert result.exit_code == case.code, output
    assert _fill(case.message, world.tokens) in result.stderr, output
    assert database_snapshot(world.ctx) == before
    assert _home_files(world.home) == files
