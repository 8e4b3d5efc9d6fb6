"""Simulated cosmos-transfer2.5 examples/inference.py.

Samples are validated with a pydantic model shaped like InferenceArguments (reference 2.3,
`extra="forbid"`, file paths resolved against the spec's folder and required to exist); every
sample of every input file is validated before anything loads, and any error exits with 1."""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, FilePath, ValidationError, model_validator

from cosmos_workflow.simulator import profiles
from cosmos_workflow.simulator.runtime import Runtime, SimulatedExit, out_of_memory
from cosmos_workflow.simulator.transfer1 import DEFAULT_NEGATIVE_PROMPT

WHERE = "cosmos_transfer2/inference.py"
CHUNK_FRAMES = 93
CONTROL_KEYS = ("edge", "vis", "depth", "seg")
MODELS = ["edge", "depth", "seg", "vis"]
DISTILLED_MODEL = "edge/distilled"
PATH_KEYS = ("prompt_path", "video_path", "image_context_path", "guided_generation_mask")
CONTROL_PATH_KEYS = ("control_path", "mask_path")
Preset = Literal["very_low", "low", "medium", "high", "very_high"]


class ControlConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    control_path: FilePath | None = None
    control_weight: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    mask_path: FilePath | None = None
    mask_prompt: str | None = None


class BlurConfig(ControlConfig):
    preset_blur_strength: Preset = "medium"


class EdgeConfig(ControlConfig):
    preset_edge_threshold: Preset = "medium"


class SegConfig(ControlConfig):
    control_prompt: str | None = None


class DepthConfig(ControlConfig):
    pass


class InferenceArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    prompt: str | None = None
    prompt_path: FilePath | None = None
    negative_prompt: str = DEFAULT_NEGATIVE_PROMPT
    seed: int = 2025
    guidance: Annotated[int, Field(ge=0, le=7)] = 3
    video_path: FilePath
    max_frames: int | None = None
    context_frame_index: int | None = None
    image_context_path: FilePath | None = None
    num_conditional_frames: Literal[0, 1, 2] = 1
    resolution: str = "720"
    sigma_max: str | None = None
    num_video_frames_per_chunk: int = CHUNK_FRAMES
    num_steps: int = 35
    show_control_condition: bool = False
    show_input: bool = False
    keep_input_resolution: bool = True
    edge: EdgeConfig | None = None
    depth: DepthConfig | None = None
    vis: BlurConfig | None = None
    seg: SegConfig | None = None
    guided_generation_mask: FilePath | None = None
    guided_generation_step_threshold: int = 25
    guided_generation_foreground_labels: list[int] | None = None

    @model_validator(mode="after")
    def _check(self) -> InferenceArguments:
        if self.prompt is None and self.prompt_path is None:
            raise ValueError("Either 'prompt' or 'prompt_path' must be provided")
        if not self.controls():
            raise ValueError("No controls provided, please specify at least one control key")
        has_context = self.image_context_path is not None or self.context_frame_index is not None
        if has_context and self.vis is not None:
            raise ValueError("Image context is not supported together with the 'vis' control")
        return self

    def controls(self) -> dict[str, ControlConfig]:
        found = {key: getattr(self, key) for key in CONTROL_KEYS}
        return {key: value for key, value in found.items() if value is not None}

    def text(self) -> str:
        if self.prompt is not None:
            return self.prompt
        assert self.prompt_path is not None
        return self.prompt_path.read_text(encoding="utf-8").strip()


OVERRIDES = {
    "seed": int,
    "guidance": int,
    "num_steps": int,
    "sigma_max": str,
    "negative_prompt": str,
    "resolution": str,
    "max_frames": int,
    "num_conditional_frames": int,
}


def _parser() -> argparse.ArgumentParser:
    models = MODELS + (
        [DISTILLED_MODEL] if os.environ.get("COSMOS_EXPERIMENTAL_CHECKPOINTS") == "1" else []
    )
    parser = argparse.ArgumentParser(prog="inference.py")
    add = parser.add_argument
    add("-i", "--input-files", "--input_files", nargs="+", required=True, dest="input_files")
    add("-o", "--output-dir", "--output_dir", required=True, dest="output_dir")
    add("--model", default="edge", choices=models)
    add("--checkpoint-path", "--checkpoint_path", dest="checkpoint_path")
    add("--experiment")
    add("--config-file", "--config_file", dest="config_file")
    add(
        "--context-parallel-size", "--context_parallel_size", type=int, dest="context_parallel_size"
    )
    for flag in (
        "disable_guardrails",
        "offload_guardrail_models",
        "profile",
        "benchmark",
        "enable_parallel_tokenizer",
    ):
        add(f"--{flag.replace('_', '-')}", f"--{flag}", action="store_true", dest=flag)
    add(
        "--keep-going",
        "--keep_going",
        dest="keep_going",
        action=argparse.BooleanOptionalAction,
        default=True,
    )
    add(
        "--compile-tokenizer",
        "--compile_tokenizer",
        dest="compile_tokenizer",
        default="none",
        choices=["none", "moderate", "aggressive"],
    )
    for name, kind in OVERRIDES.items():
        add(f"--{name.replace('_', '-')}", f"--{name}", dest=f"override_{name}", type=kind)
    return parser


def _resolve(data: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Paths in a spec are relative to the spec file's folder (reference 2.3)."""
    resolved = dict(data)
    for key in PATH_KEYS:
        if isinstance(resolved.get(key), str):
            resolved[key] = str(folder / resolved[key])
    for key in CONTROL_KEYS:
        control = resolved.get(key)
        if isinstance(control, dict):
            resolved[key] = {
                k: str(folder / v) if k in CONTROL_PATH_KEYS and isinstance(v, str) else v
                for k, v in control.items()
            }
    return resolved


def _read_samples(args: argparse.Namespace, rt: Runtime) -> list[InferenceArguments]:
    samples: list[InferenceArguments] = []
    for name in args.input_files:
        path = Path(name)
        if path.suffix not in (".json", ".jsonl"):
            rt.fail(f"ValueError: Unsupported file extension: {path.suffix}")
        if not path.is_file():
            rt.fail(f"FileNotFoundError: [Errno 2] No such file or directory: '{name}'")
        text = path.read_text(encoding="utf-8")
        raw = [json.loads(line) for line in text.splitlines() if line.strip()]
        if path.suffix == ".json":
            raw = [json.loads(text)]
        for data in raw:
            for key, _ in OVERRIDES.items():
                value = getattr(args, f"override_{key}")
                if value is not None:
                    data[key] = value
            try:
                samples.append(InferenceArguments.model_validate(_resolve(data, path.parent)))
            except ValidationError as exc:
                rt.fail(str(exc))
    names = [s.name for s in samples]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        rt.fail(f"ValueError: Sample names must be unique; repeated: {', '.join(duplicates)}")
    return samples


def _chunks(frames: int, overlap: int) -> int:
    if frames <= CHUNK_FRAMES:
        return 1
    return 1 + math.ceil((frames - CHUNK_FRAMES) / (CHUNK_FRAMES - overlap))


def run_inference(script_argv: list[str], world_size: int, rt: Runtime) -> None:
    args = _parser().parse_args(script_argv)
    samples = _read_samples(args, rt)
    distilled = args.model == DISTILLED_MODEL
    keys = {key for sample in samples for key in sample.controls()}
    branches = 1 if len(keys) == 1 else len(CONTROL_KEYS)
    if branches > 1:
        rt.log(
            "Multicontrol inference is not strictly equal to single control",
            f"{WHERE}:240:__init__",
            "WARNING",
        )
    profile = profiles.current_profile()
    memory = rt.faults.memory_gb if rt.faults.memory_gb is not None else profile.memory_gb
    guardrails = not args.disable_guardrails
    rt.log(f"Loading model for hint keys {sorted(keys)}", f"{WHERE}:210:__init__")
    rt.advance(profiles.t25_load_seconds(branches, guardrails))
    need = profiles.t25_memory_gb(branches, guardrails)
    if need > memory:
        out_of_memory(need - memory, memory, WHERE)
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    (output / "config.yaml").write_text(f"model: {args.model}\n", encoding="utf-8")
    speed = profile.speedup(args.context_parallel_size or world_size)
    for position, sample in enumerate(samples, start=1):
        _generate(
            sample, position, output, distilled, guardrails, args.keep_going, profile, speed, rt
        )


def _generate(
    sample: InferenceArguments,
    position: int,
    output: Path,
    distilled: bool,
    guardrails: bool,
    keep_going: bool,
    profile: profiles.GpuProfile,
    speed: float,
    rt: Runtime,
) -> None:
    from cosmos_workflow.simulator.video import probe, write_output

    (output / f"{sample.name}.json").write_text(sample.model_dump_json(indent=2), encoding="utf-8")
    rt.log(f"Generating sample {sample.name}", f"{WHERE}:300:_generate_sample")
    if guardrails and rt.faults.blocks(position, sample.name):
        rt.log(
            f"Guardrail blocked generation. Prompt: {sample.text()}",
            f"{WHERE}:312:_generate_sample",
            "CRITICAL",
        )
        if not keep_going:
            raise SimulatedExit(1)
        return
    facts = probe(sample.video_path)
    frames = min(facts.frames, sample.max_frames or facts.frames)
    rt.advance(profile.t25_sample_s)
    for key, control in sample.controls().items():
        if control.control_path is None and key in ("depth", "seg"):
            rt.advance(
                profiles.T25_PREPROCESSOR_BUILD_S + frames * profiles.T1_PREPROCESS_S_PER_FRAME
            )
    step = (profile.t25_distilled_step_s if distilled else profile.t25_step_s) / speed
    extra = len(sample.controls()) - 1
    step *= 1 + profiles.T25_BRANCH_STEP_FRACTION * max(0, extra)
    chunks = _chunks(frames, sample.num_conditional_frames)
    for _chunk in range(chunks):
        rt.progress(0, sample.num_steps, step)
        for done in range(1, sample.num_steps + 1):
            rt.step(step)
            rt.progress(done, sample.num_steps, step)
    weights = {key: c.control_weight for key, c in sample.controls().items()}
    video = output / f"{sample.name}.mp4"
    write_output(sample.video_path, video, weights, facts.fps, frames)
    (output / f"{sample.name}.txt").write_text(sample.text(), encoding="utf-8")
    rt.log(f"Saved video to {video}", f"{WHERE}:340:_generate_sample")
