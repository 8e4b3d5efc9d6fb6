"""Simulated `python -m cosmos_framework.scripts.inference` of NVIDIA Cosmos 3, transfer samples.

Written from NVIDIA/cosmos-framework at 5eee9ed (paths below are in that repository). Order of
work (cosmos_framework/scripts/inference.py 34-70): `-o` is required; the setup is built (the
checkpoint name resolved); `<o>` is created and console.log/debug.log opened with mode "w"
(inference/common/init.py 122-148); every file is read and validated ("Loaded <N> samples");
the model loads once (guardrail models first, inference/common/inference.py 130-136); every
sample is built (a ValueError skips it only with --skip-invalid-samples); then the samples run
in order through `_generate_transfer_batch` (inference/inference.py 1826-1896) and
`generate_transfer_sample` (inference/transfer.py 378-591).

Failure semantics: anything raised before `pipe.generate` or inside `generate_transfer_sample`
is uncaught: a traceback on stderr, exit 1, later samples never run. `--keep-going` only catches
errors while writing sample_args.json and while saving outputs (inference.py 1835-1847,
1855-1894; common/inference.py 262-269). Guardrails are loaded but never run on transfer
samples, so the guardrail faults do nothing here. `--parallelism-preset=throughput` with more
than one rank deadlocks on the first transfer sample (tests/nano_inference_smoke_test.py 19-27):
the process stops making progress until something kills it.

Log lines follow the Cosmos 3 loguru format `[MM-DD HH:mm:ss|job=<job>|<machine>LEVEL|path:line:
function] message` (utils/log.py 78-99, common/init.py 45-52): job is empty (init_output_dir is
called without a job name, scripts/inference.py 41) and the machine part is empty (RANK0_ONLY is
True, utils/log.py 12, 82-94). A message logged with rank0_only=False gets "[RANK 0] " from each
sink's filter, and loguru hands the same record to every sink, so with loguru 0.7.3 stdout shows
one prefix, console.log two and debug.log three (utils/log.py 102-108; init.py 83, 145)."""

from __future__ import annotations

import fnmatch
import json
import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NoReturn

from cosmos_workflow.simulator import profiles
from cosmos_workflow.simulator.cosmos3_args import (
    HINTS,
    FileError,
    ModelFacts,
    NotSimulated,
    Sample,
    build_sample,
    model_mode,
    read_samples,
    sample_args,
)
from cosmos_workflow.simulator.cosmos3_cli import CommandLine, parse
from cosmos_workflow.simulator.runtime import LEVELS, Runtime, SimulatedExit, traceback_text

MODULE = "cosmos_framework.scripts.inference"
SCRIPT = "cosmos_framework/scripts/inference.py"
INIT = "cosmos_framework/inference/common/init.py"
ARGS = "cosmos_framework/inference/args.py"
COMMON_ARGS = "cosmos_framework/inference/common/args.py"
INFERENCE = "cosmos_framework/inference/inference.py"
COMMON_INFERENCE = "cosmos_framework/inference/common/inference.py"
TRANSFER = "cosmos_framework/inference/transfer.py"
OMNI = "cosmos_framework/model/generator/omni_mot_model.py"
PRESETS = "cosmos_framework/auxiliary/guardrail/common/presets.py"
Frame = tuple[str, int, str]
MAIN: list[Frame] = [(SCRIPT, 92, "<module>"), (SCRIPT, 88, "main")]
GENERATE: list[Frame] = [
    *MAIN,
    (SCRIPT, 70, "inference"),
    (COMMON_INFERENCE, 210, "generate"),
    (INFERENCE, 1530, "generate_batch"),
]
IN_TRANSFER: list[Frame] = [*GENERATE, (INFERENCE, 1849, "_generate_transfer_batch")]
# inference/args.py 1184-1280: the registered checkpoints the simulator runs.
CHECKPOINTS = {
    "Cosmos3-Nano": ModelFacts("720", None),
    "Cosmos3-Edge": ModelFacts("480", 121),
    "Cosmos3-Super": ModelFacts("720", None),
    "Cosmos3-Super-Image2Video": ModelFacts("720", None),
    "Cosmos3-Super-Text2Image": ModelFacts("720", None),
}
FAMILY = {name: name if name in profiles.C3_WEIGHTS_GB else "Cosmos3-Super" for name in CHECKPOINTS}
FIXED_STEP = ("Cosmos3-Super-Text2Image-4Step", "Cosmos3-Super-Image2Video-4Step")
# data/generator/utils.py 42-67: (width, height) per tier and aspect ratio.
VIDEO_SIZES = {
    "256": {"1,1": (256, 256), "4,3": (320, 256), "3,4": (256, 320), "16,9": (320, 192),
            "9,16": (192, 320)},
    "480": {"1,1": (640, 640), "4,3": (736, 544), "3,4": (544, 736), "16,9": (832, 480),
            "9,16": (480, 832)},
    "704": {"1,1": (960, 960), "4,3": (1088, 832), "3,4": (832, 1088), "16,9": (1280, 704),
            "9,16": (704, 1280)},
    "720": {"1,1": (960, 960), "4,3": (1104, 832), "3,4": (832, 1104), "16,9": (1280, 720),
            "9,16": (720, 1280)},
    "768": {"1,1": (1024, 1024), "4,3": (1184, 880), "3,4": (880, 1184), "16,9": (1360, 768),
            "9,16": (768, 1360)},
}  # fmt: skip
ASPECTS = ((16 / 9, "16,9"), (4 / 3, "4,3"), (1.0, "1,1"), (3 / 4, "3,4"), (9 / 16, "9,16"))
MEDIA_VIDEO = (".mp4", ".avi", ".mov", ".mkv", ".webm")  # inference/vision.py 185-186
MEDIA_IMAGE = (".png", ".jpg", ".jpeg")
CONSOLE_INCLUDE = (
    "cosmos_framework.model.attention",
    "cosmos_framework.utils.checkpoint_db",
    "imaginaire.trainer",
    "cosmos_framework.utils.generator.model_loader",
    "*.callbacks.*",
)
CONSOLE_EXCLUDE = ("*._*", "projects.*", "imaginaire.*")


# -- log -------------------------------------------------------------------------------------


@dataclass
class Record:
    message: str
    level: str
    where: Frame
    rank0_only: bool

    @property
    def module(self) -> str:
        path = self.where[0]
        return "__main__" if path == SCRIPT else path.removesuffix(".py").replace("/", ".")


def rank0_filter(record: Record) -> bool:
    """utils/log.py 102-108 on rank 0: it rewrites the shared record's message."""
    if record.rank0_only:
        return True
    record.message = "[RANK 0] " + record.message
    return True


def console_filter(record: Record) -> bool:
    """common/init.py 69-92."""
    if record.level != "CRITICAL" and not rank0_filter(record):
        return False
    if any(fnmatch.fnmatch(record.module, pattern) for pattern in CONSOLE_INCLUDE):
        return True
    return not any(fnmatch.fnmatch(record.module, pattern) for pattern in CONSOLE_EXCLUDE)


@dataclass
class Sink:
    write: Callable[[str], None]
    level: str
    accepts: Callable[[Record], bool]
    handle: IO[str] | None = None


def verbose() -> bool:
    """COSMOS_VERBOSE, default COSMOS_INTERNAL, default false (utils/flags.py 41, 63)."""
    from cosmos_workflow.simulator.transfer2_5 import flag

    return flag("COSMOS_VERBOSE", flag("COSMOS_INTERNAL", False))


@dataclass
class Log:
    """The loguru logger of one Cosmos 3 process: stdout, then the files of `<o>`."""

    rt: Runtime
    sinks: list[Sink] = field(default_factory=list)

    def __post_init__(self) -> None:
        accepts = rank0_filter if verbose() else console_filter  # common/init.py 107-113
        self.sinks.append(Sink(lambda line: print(line, flush=True), "INFO", accepts))

    def add_file(self, path: Path, level: str, accepts: Callable[[Record], bool]) -> None:
        handle = path.open("w", encoding="utf-8")
        self.sinks.append(Sink(lambda line: _write(handle, line), level, accepts, handle))

    def close(self) -> None:
        for sink in self.sinks:
            if sink.handle is not None:
                sink.handle.close()

    def __call__(
        self, message: str, where: Frame, level: str = "INFO", rank0_only: bool = True
    ) -> None:
        stamp = self.rt.now()
        record = Record(message, level, where, rank0_only)
        path, line, function = where
        for sink in self.sinks:  # in the order they were added, sharing one record
            if LEVELS[level] >= LEVELS[sink.level] and sink.accepts(record):
                text = f"[{stamp:%m-%d %H:%M:%S}|job=|{level}|{path}:{line}:{function}] "
                sink.write(text + record.message)


def _write(handle: IO[str], line: str) -> None:
    handle.write(line + "\n")
    handle.flush()


# -- the process -----------------------------------------------------------------------------


def fatal(frames: list[Frame], error: str, log: Log | None = None) -> NoReturn:
    """An uncaught exception: the excepthook flushes the logs, then the traceback, exit 1
    (common/init.py 171-185)."""
    if log is not None:
        log.close()
    print(traceback_text(frames, error), file=sys.stderr, flush=True)
    raise SimulatedExit(1)


def not_simulated(reason: str) -> NoReturn:
    print(f"cosmos-sim: Cosmos 3: {reason}", file=sys.stderr, flush=True)
    raise SimulatedExit(2)


@dataclass
class Setup:
    """The built setup arguments that matter to the simulated run."""

    cli: CommandLine
    output: Path
    checkpoint: str
    world: int  # WORLD_SIZE, 0 without torchrun (inference/args.py 1397)
    dp_shard: int
    replica: int  # cp_size x cfgp_size
    values: dict[str, Any]

    @property
    def family(self) -> str:
        return FAMILY[self.checkpoint]


def build_setup(cli: CommandLine, world: int) -> Setup:
    """scripts/inference.py 38-40; common/args.py 940-942, 657-692; inference/args.py
    1368-1417 (parallelism, then its validation, 1317-1341)."""
    values = cli.setup
    frames = [*MAIN, (SCRIPT, 40, "inference")]
    if values["output_dir"] is None:
        fatal([*MAIN, (SCRIPT, 39, "inference")], "ValueError: 'output_dir' is required")
    if values["num_iterations"] > 1 and not values["benchmark"]:
        fatal(frames, "ValueError: num_iterations > 1 requires benchmark=True")
    checkpoint = _checkpoint(values["checkpoint_path"], frames)
    dp_shard = values["dp_shard_size"] or max(1, world)
    dp_replicate = values["dp_replicate_size"] or max(1, world // dp_shard)
    latency = values["parallelism_preset"] == "latency"
    cfgp = values["cfgp_size"] or (max(1, min(2, world)) if latency else 1)
    cp = values["cp_size"] or (max(1, min(32, world // cfgp)) if latency else 1)
    for label, size in (
        (f"dp_shard_size({dp_shard}) * dp_replicate_size({dp_replicate})", dp_shard * dp_replicate),
        (f"cp_size({cp}) * cfgp_size({cfgp})", cp * cfgp),
    ):
        if world and (size > world or world % size):
            verb = "be <=" if size > world else "divide"
            fatal(frames, f"ValueError: {label} must {verb} WORLD_SIZE({world})")
    output = Path(values["output_dir"]).expanduser().absolute()
    return Setup(cli, output, checkpoint, world, dp_shard, cp * cfgp, values)


def _checkpoint(path: str, frames: list[Frame]) -> str:
    if path in CHECKPOINTS:
        return path
    if path in FIXED_STEP or path.startswith("s3://"):
        not_simulated(f"--checkpoint-path {path} is not simulated")
    folder = Path(path).expanduser().absolute()
    if not folder.is_dir():
        fatal(
            [*frames, (COMMON_ARGS, 680, "_build_checkpoint")],
            f"ValueError: Checkpoint directory does not exist: {folder}",
        )
    not_simulated(f"a local checkpoint directory ({folder}) is not simulated")


def init_output_dir(setup: Setup, log: Log) -> None:
    """common/init.py 239-252, 122-148."""
    setup.output.mkdir(parents=True, exist_ok=True)
    console, debug = setup.output / "console.log", setup.output / "debug.log"
    log(f"Console log saved to {console}", (INIT, 127, "_init_log_files"))
    log(f"Debug log saved to {debug}", (INIT, 128, "_init_log_files"))
    log.add_file(console, "INFO", console_filter)
    log.add_file(debug, "DEBUG", rank0_filter)
    from cosmos_workflow.simulator.cosmos3_args import smoke, training

    flags = (
        f"Flags(internal=False, training={training()}, smoke={smoke()}, "
        f"device=<Device.CUDA: 'cuda'>, verbose={verbose()}, experimental_checkpoints=False)"
    )
    log(flags, (INIT, 252, "init_output_dir"), "DEBUG")


def read_all(setup: Setup, log: Log) -> list[Sample]:
    """scripts/inference.py 43-53, inside sync_distributed_errors: errors re-raise as is."""
    try:
        samples = read_samples(setup.cli.input_files, setup.cli.sample)
    except FileError as error:
        frames = [*MAIN, (SCRIPT, 43, "inference"), (COMMON_ARGS, error.line, "_from_file")]
        fatal(frames, f"{error.kind}: {error.message}", log)
    except NotSimulated as exc:
        not_simulated(str(exc))
    log(f"Loaded {len(samples)} samples", (SCRIPT, 46, "inference"))
    for sample in samples:  # is_reasoner_only: all() stops at the first non-reasoner
        try:
            if model_mode(sample.overrides.model_dump(mode="json")) != "reasoner":
                break
        except ValueError as exc:
            frames = [*MAIN, (SCRIPT, 47, "inference"), (ARGS, 393, "condition_vision_mode")]
            fatal(frames, f"ValueError: {exc}", log)
    for sample in samples:
        if _has_url(sample.overrides.model_dump(mode="json")):
            not_simulated("URL inputs (downloaded to <o>/<name>/inputs) are not simulated")
    return samples


def _has_url(data: dict[str, Any]) -> bool:
    texts = [data.get("vision_path"), *((data.get(k) or {}).get("control_path") for k in HINTS)]
    return any(isinstance(text, str) and "://" in text for text in texts)


def load_model(setup: Setup, rt: Runtime, log: Log) -> None:
    """Inference.create (common/inference.py 130-136): guardrail runners, then the model."""
    values, profile = setup.values, profiles.current_profile()
    guardrails = bool(values["guardrails"])
    if guardrails:
        message = (
            "Video content safety classifier is disabled in this release; effective guardrail "
            "coverage is text checks and face blur only."
        )
        log(message, (PRESETS, 30, "create_video_guardrail_runner"), "WARNING")
    rt.advance(profiles.c3_load_seconds(setup.family, setup.dp_shard, guardrails))
    on_gpu = guardrails and not values["offload_guardrail_models"]
    need = profiles.c3_memory_gb(setup.family, setup.dp_shard, on_gpu)
    memory = rt.faults.memory_gb if rt.faults.memory_gb is not None else profile.memory_gb
    if need > memory:
        free = memory * 0.02
        fatal(
            [*MAIN, (SCRIPT, 55, "inference"), (COMMON_INFERENCE, 136, "create"),
             (INFERENCE, 1221, "_create"), ("torch/nn/modules/module.py", 1355, "to")],
            f"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate "
            f"{need - memory:.2f} GiB. GPU 0 has a total capacity of {memory:.2f} GiB of which "
            f"{free:.2f} GiB is free.",
            log,
        )  # fmt: skip


def build_all(setup: Setup, samples: list[Sample], log: Log) -> list[dict[str, Any]]:
    """scripts/inference.py 57-68."""
    model = CHECKPOINTS[setup.checkpoint]
    built: list[dict[str, Any]] = []
    for sample in samples:
        data = sample.overrides.model_dump(mode="json")
        name = data["name"]
        data["output_dir"] = str(setup.output / name)

        def warn(message: str, line: int, function: str) -> None:
            log(message, (ARGS, line, function), "WARNING")

        try:
            built.append(build_sample(data, model, warn))
        except NotSimulated as exc:
            not_simulated(str(exc))
        except ValueError as exc:
            if not setup.values["skip_invalid_samples"]:
                frames = [*MAIN, (SCRIPT, 60, "inference"), (ARGS, 1139, "build_sample")]
                fatal(frames, f"ValueError: {exc}", log)
            _skip(setup.output / name, data, f"Skipping sample '{name}': {exc}", log)
    return built


def _skip(folder: Path, data: dict[str, Any], message: str, log: Log) -> None:
    log(message, (SCRIPT, 65, "inference"), "WARNING")
    folder.mkdir(parents=True, exist_ok=True)
    record = {"args": data, "status": "skip", "message": message, "stack_trace": None}
    (folder / "sample_outputs.json").write_text(json.dumps({**record, "outputs": []}))


def expand_outputs(built: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """_finalize_sample_args_list (inference.py 863-916): -n N runs N copies in <name>/<i>/
    with seeds seed+i."""
    runs: list[dict[str, Any]] = []
    for data in built:
        count = data["num_outputs"]
        if count == 1:
            runs.append(data)
            continue
        for index in range(count):
            seed = None if data["seed"] is None else data["seed"] + index
            folder = str(Path(data["output_dir"]) / str(index))
            runs.append({**data, "seed": seed, "num_outputs": 1, "output_dir": folder})
    return runs


def batches(setup: Setup, runs: list[dict[str, Any]], log: Log) -> list[list[dict[str, Any]]]:
    """_iter_packed_batches by sequence count (inference.py 175-263); a batch of more than one
    transfer sample fails its assertion in generate_batch (1526-1529)."""
    seqs, tokens = setup.values["max_num_seqs"], setup.values["max_model_len"]
    frames = [
        *GENERATE[:4],
        (INFERENCE, 1441, "create_batches"),
        (INFERENCE, 234, "_iter_packed_batches"),
    ]
    if seqs is not None and tokens is not None:
        message = "Either max_model_len or max_num_seqs must be set, not both"
        fatal(frames, f"AssertionError: {message}", log)
    if seqs is None:
        not_simulated("token-budget batching (--max-model-len) is not simulated")
    groups = [runs[start : start + seqs] for start in range(0, len(runs), seqs)]
    for group in groups:
        if any(not _transfer(data) for data in group):
            not_simulated("only transfer samples (with a hint block) are simulated")
    return groups


def _transfer(data: dict[str, Any]) -> bool:
    return any(data.get(key) is not None for key in HINTS)


def run_inference(argv: list[str], world: int, rt: Runtime) -> None:
    """The whole process; `world` is WORLD_SIZE (0 for a plain python process)."""
    cli = parse(argv)
    setup = build_setup(cli, world)
    log = Log(rt)
    try:
        init_output_dir(setup, log)
        samples = read_all(setup, log)
        load_model(setup, rt, log)
        groups = batches(setup, expand_outputs(build_all(setup, samples, log)), log)
        runner = TransferRun(setup, rt, log)
        for group in groups:
            if len(group) > 1:
                message = "Batching is not supported for transfer inference"
                fatal(
                    [*GENERATE[:-1], (INFERENCE, 1529, "generate_batch")],
                    f"AssertionError: {message}",
                    log,
                )
            runner.sample(group[0])
    finally:
        log.close()


# -- one transfer sample ---------------------------------------------------------------------


@dataclass
class Media:
    frames: int
    fps: float
    width: int
    height: int


def read_media(path: Path, max_frames: int) -> Media:
    """read_media_frames (inference/vision.py 197-209): an image is one frame at fps 1."""
    from cosmos_workflow.simulator.video import probe

    suffix = path.suffix.lower()
    if suffix in MEDIA_IMAGE:
        from PIL import Image

        with Image.open(path) as image:
            return Media(1, 1.0, image.width, image.height)
    if suffix not in MEDIA_VIDEO:
        raise ValueError(f"Unsupported media extension: {suffix}")
    facts = probe(path)
    return Media(min(facts.frames, max_frames), facts.fps, facts.width, facts.height)


def detect_aspect(width: int, height: int) -> str:
    """inference/vision.py 189-194."""
    current = width / height
    return min(ASPECTS, key=lambda pair: (pair[0] - current) ** 2)[1]


def chunking(total: int, per_chunk: int, conditional: int) -> tuple[int, int, int]:
    """transfer.py 43-54, 440-444: (chunk frames rounded to 4k+1, chunks, stride)."""
    chunk = 1 if total == 1 else per_chunk
    chunk = math.ceil((chunk - 1) / 4) * 4 + 1
    if total <= chunk:
        return chunk, 1, chunk
    stride = chunk - conditional
    if stride <= 0:
        raise ValueError("num_conditional_frames must be smaller than num_video_frames_per_chunk")
    remaining = total - chunk
    return chunk, 1 + remaining // stride + (1 if remaining % stride else 0), stride


def final_prompt(data: dict[str, Any], chunk: int, fps: int, size: tuple[int, int]) -> str:
    """_get_prompt_sample_data (inference.py 422-545) with the chunk's frame count and the
    output fps, then the control directive (transfer.py 462-476)."""
    width, height = size
    text: str = data["prompt"]
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        if chunk > 1:
            parsed.update({"duration": f"{int(chunk / fps) if fps > 0 else 0}s", "fps": float(fps)})
        else:
            parsed.pop("duration", None)
            parsed.pop("fps", None)
        parsed["resolution"] = {"H": height, "W": width}
        if data["aspect_ratio"] is not None:
            parsed["aspect_ratio"] = data["aspect_ratio"]
        prompt = json.dumps(parsed)
    elif data.get("native_prompt_upsampling"):
        prompt = text.strip()
    else:
        prompt = text.strip()
        if data["duration_template"] is not None and chunk > 1:
            duration = data["duration_template"].format(duration=chunk / fps, fps=fps)
            prompt = prompt.rstrip(".") + ". " + duration
        prompt = prompt.strip()
        if data["resolution_template"] is not None:
            resolution = data["resolution_template"].format(height=height, width=width)
            prompt = prompt.rstrip(".") + ". " + resolution
    if data["emphasize_control_in_prompt"]:
        names = ", ".join(key for key in HINTS if data.get(key) is not None)
        prompt = (
            prompt.rstrip() + f" Follow the {names} control video precisely: shape, contour, "
            f"silhouette, position, and motion of every visible structure must align with the "
            f"{names} signal at every frame."
        )
    return prompt


class TransferRun:
    """_generate_transfer_batch + generate_transfer_sample, one sample at a time."""

    def __init__(self, setup: Setup, rt: Runtime, log: Log) -> None:
        self.setup, self.rt, self.log = setup, rt, log
        self.profile = profiles.current_profile()
        # set_seed(0) at start-up (common/init.py 215) seeds Python's random, which draws the
        # seed of a sample without one (transfer.py 480).
        self.random = random.Random(0)
        self.compiled = not setup.values["use_torch_compile"]
        self.hang = setup.values["parallelism_preset"] == "throughput" and setup.world > 1

    def handle(self, data: dict[str, Any], error: Exception, line: int) -> None:
        """Inference._handle_sample_exception (common/inference.py 262-269)."""
        message = f"Error generating sample '{data['name']}': {error}"
        if not self.setup.values["keep_going"]:
            frames = [
                *GENERATE,
                (INFERENCE, line, "_generate_transfer_batch"),
                (COMMON_INFERENCE, 265, "_handle_sample_exception"),
            ]
            fatal(frames, f"ValueError: {message}", self.log)
        self.log(message, (COMMON_INFERENCE, 266, "_handle_sample_exception"), "ERROR")

    def sample(self, data: dict[str, Any]) -> None:
        folder = Path(data["output_dir"])
        args = sample_args(data)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / "sample_args.json"
            target.write_text(json.dumps(args), encoding="utf-8")
        except OSError as error:
            self.handle(data, error, 1845)
            return
        self.log(
            f"Saved sample args to '{target}'",
            (INFERENCE, 1843, "_generate_transfer_batch"),
            rank0_only=False,
        )
        result = self.generate(data)
        try:
            self.save(data, args, folder, result)
        except OSError as error:
            self.handle(data, error, 1892)

    def fail(self, line: int, function: str, error: str) -> NoReturn:
        fatal([*IN_TRANSFER, (TRANSFER, line, function)], error, self.log)

    def generate(self, data: dict[str, Any]) -> Generated:
        """generate_transfer_sample (transfer.py 378-591)."""
        max_frames = data["max_frames"]
        source = None if data["vision_path"] is None else Path(data["vision_path"])
        try:
            if source is not None:
                media = read_media(source, max_frames)
                aspect = data["aspect_ratio"] or detect_aspect(media.width, media.height)
            else:
                first = next(Path(data[k]["control_path"]) for k in HINTS if _has_path(data, k))
                found = read_media(first, max_frames)
                aspect = detect_aspect(found.width, found.height)
        except ValueError as exc:
            self.fail(401, "generate_transfer_sample", f"ValueError: {exc}")
        if data["num_first_chunk_conditional_frames"] > 0 and source is None:
            message = (
                "num_first_chunk_conditional_frames > 0 requires 'vision_path' for first-chunk "
                "conditioning"
            )
            self.fail(420, "generate_transfer_sample", f"ValueError: {message}")
        frames = {
            key: self.control(data, key, max_frames, source) for key in HINTS if data.get(key)
        }
        total = next(iter(frames.values()))
        fps = media.fps if source is not None else float(data["fps"])
        size = VIDEO_SIZES[data["resolution"]][aspect]
        try:
            chunk, chunks, _ = chunking(
                total, data["num_video_frames_per_chunk"], data["num_conditional_frames"]
            )
        except ValueError as exc:
            self.fail(444, "generate_transfer_sample", f"ValueError: {exc}")
        prompt = final_prompt(data, chunk, round(fps), size)
        self.log(
            f"[transfer] final user prompt: {prompt}", (TRANSFER, 477, "generate_transfer_sample")
        )
        seed = data["seed"] if data["seed"] is not None else self.random.randint(0, 10000)
        for _ in range(chunks):
            self.check_weights(data)
            self.sampling(data, chunk, size, len(frames))
        return Generated(total, fps, seed, chunks, chunk, source, list(frames))

    def control(self, data: dict[str, Any], key: str, max_frames: int, source: Path | None) -> int:
        """load_transfer_control_frames (transfer.py 91-141)."""
        where = (TRANSFER, 113, "load_transfer_control_frames")
        if _has_path(data, key):
            path = Path(data[key]["control_path"])
            try:
                media = read_media(path, max_frames)
            except ValueError as exc:
                self.fail(107, "load_transfer_control_frames", f"ValueError: {exc}")
            self.log(f"Loaded pre-computed {key} control from {path}", where)
            return media.frames
        if key not in ("edge", "blur"):
            message = (
                f"Missing pre-computed control input for '{key}'. Provide a control_path in "
                "the transfer config."
            )
            frames = [
                *IN_TRANSFER,
                (TRANSFER, 425, "generate_transfer_sample"),
                (TRANSFER, 117, "load_transfer_control_frames"),
            ]
            fatal(frames, f"FileNotFoundError: {message}", self.log)
        assert source is not None  # build_sample refused a hint without either path
        self.log(
            f"Computing {key} control input on the fly",
            (TRANSFER, 135, "load_transfer_control_frames"),
        )
        return read_media(source, max_frames).frames

    def check_weights(self, data: dict[str, Any]) -> None:
        """build_transfer_batch (transfer.py 181-188), once per chunk."""
        weights = [
            1.0 if data[k]["weight"] is None else data[k]["weight"] for k in HINTS if data.get(k)
        ]
        frames = [*IN_TRANSFER, (TRANSFER, 529, "generate_transfer_sample")]
        if not all(weight >= 0 for weight in weights):
            message = f"control_weights must all be non-negative, got {weights}"
            fatal(
                [*frames, (TRANSFER, 186, "build_transfer_batch")],
                f"AssertionError: {message}",
                self.log,
            )
        if not sum(weights) > 0:
            message = f"control_weights must have a positive sum, got {weights}"
            fatal(
                [*frames, (TRANSFER, 188, "build_transfer_batch")],
                f"AssertionError: {message}",
                self.log,
            )

    def sampling(self, data: dict[str, Any], chunk: int, size: tuple[int, int], hints: int) -> None:
        """generate_samples_from_batch's sampler line (omni_mot_model.py 3402-3407) and the
        UniPC loop's tqdm bar, rank 0 only, off with DISABLE_TQDM=1 or --benchmark
        (samplers/unipc.py 83; utils/progress_bar.py 47-61)."""
        import os

        steps, where = data["num_steps"], (OMNI, 3405, "generate_samples_from_batch")
        if self.setup.values["sampler"] == "unipc":
            self.log(f"Using sampler: UniPC (shift={data['shift']}, num_steps={steps})", where)
        else:
            self.log(
                f"Using sampler: EDM (sigma_max={data['sigma_max']}, num_steps={steps})",
                (OMNI, 3407, where[2]),
            )
        pixels = size[0] * size[1]
        forwards = profiles.c3_latent_forwards(
            chunk, hints, data["guidance"], data["control_guidance"]
        )
        step = profiles.c3_step_seconds(
            self.profile, self.setup.family, data["resolution"], pixels, forwards
        )
        step /= self.profile.speedup(self.setup.replica)
        bar = os.environ.get("DISABLE_TQDM", "0") != "1" and not self.setup.values["benchmark"]
        if not self.compiled:
            self.rt.advance(profiles.C3_COMPILE_S)
            self.compiled = True
        if bar:
            self.rt.progress(0, steps, step, "Sampling")
        if self.hang:
            hang()
        for done in range(1, steps + 1):
            self.step(step)
            if bar:
                self.rt.progress(done, steps, step, "Sampling")

    def step(self, seconds: float) -> None:
        """One sampler step; the crash fault strikes here (COSMOS_SIM_FAULTS crash_after_steps)."""
        rt = self.rt
        rt.advance(seconds)
        rt.steps_done += 1
        limit = rt.faults.crash_after_steps
        if limit is not None and rt.steps_done >= limit:
            frames = [
                *IN_TRANSFER,
                (TRANSFER, 544, "generate_transfer_sample"),
                (OMNI, 3460, "generate_samples_from_batch"),
            ]
            error = (
                "RuntimeError: CUDA error: an illegal memory access was encountered "
                f"(simulated crash after {rt.steps_done} steps)"
            )
            fatal(frames, error, self.log)

    def save(
        self, data: dict[str, Any], args: dict[str, Any], folder: Path, result: Generated
    ) -> None:
        """inference.py 1855-1894: vision.mp4, control_<hint>.mp4, then sample_outputs.json."""
        from cosmos_workflow.simulator.video import Render, write_control, write_output

        if data["num_frames"] == 1:
            not_simulated("num_frames 1 (a vision.jpg output) is not simulated")
        base = result.source or Path(data[result.hints[0]]["control_path"])
        weights = {
            key: data[key]["weight"] if data[key]["weight"] is not None else 1.0
            for key in result.hints
        }
        vision = folder / "vision.mp4"
        render = Render(
            self.setup.checkpoint,
            tuple((result.seed + i, 0) for i in range(result.chunks)),
            (result.chunk, result.chunk - data["num_conditional_frames"]),
            self.conditioning(data),
        )
        write_output(base, vision, weights, result.fps, render, result.frames)
        files = [str(vision)]
        for key in result.hints:
            target = folder / f"control_{key}.mp4"
            source = Path(data[key]["control_path"]) if _has_path(data, key) else base
            write_control(source, target, key, result.fps, result.frames)
            files.append(str(target))
            self.log(
                f"Saved control video to '{target}'",
                (INFERENCE, 1881, "_generate_transfer_batch"),
                rank0_only=False,
            )
        outputs = {
            "args": args,
            "status": "success",
            "message": None,
            "stack_trace": None,
            "outputs": [{"content": {}, "files": files}],
        }
        target = folder / "sample_outputs.json"
        target.write_text(json.dumps(outputs), encoding="utf-8")
        self.log(
            f"Saved transfer outputs to '{target}'",
            (INFERENCE, 1889, "_generate_transfer_batch"),
            "SUCCESS",
            rank0_only=False,
        )

    def conditioning(self, data: dict[str, Any]) -> dict[str, Any]:
        from cosmos_workflow.simulator.video import file_digest

        keys = ("prompt", "negative_prompt", "guidance", "control_guidance", "num_steps", "shift")
        controls = {
            key: file_digest(data[key]["control_path"]) for key in HINTS if _has_path(data, key)
        }
        return {key: data[key] for key in keys} | {"controls": controls}


@dataclass
class Generated:
    frames: int
    fps: float
    seed: int
    chunks: int
    chunk: int
    source: Path | None
    hints: list[str]


def _has_path(data: dict[str, Any], key: str) -> bool:
    hint = data.get(key)
    return hint is not None and hint.get("control_path") is not None


def hang() -> NoReturn:
    """The cross-rank allgather that never completes: no output, no exit, until killed."""
    sys.stdout.flush()
    sys.stderr.flush()
    while True:
        time.sleep(3600)
