"""Simulated cosmos_transfer1 entry points: transfer.py and the prompt upsampler.

Arguments are parsed with argparse using transfer.py's names, types, choices and defaults
(reference 1.2); the spec and batch file are read and validated as transfer.py and
inference_utils.py do, with their messages, before anything "loads"."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cosmos_workflow.simulator import profiles
from cosmos_workflow.simulator.runtime import Runtime, SimulatedExit, out_of_memory, traceback_text

WHERE_MAIN = "cosmos_transfer1/diffusion/inference/transfer.py"
WHERE_PIPE = "cosmos_transfer1/diffusion/inference/world_generation_pipeline.py"
VALID_HINT_KEYS = ("vis", "seg", "edge", "depth", "keypoint", "upscale", "hdmap", "lidar")
PRESETS = ["very_low", "low", "medium", "high", "very_high"]
DEFAULT_PROMPT = (
    "The video captures a stunning, photorealistic scene with remarkable attention to detail, "
    "giving it a lifelike appearance that is almost indistinguishable from reality. It appears "
    "to be from a high-budget 4K movie, showcasing ultra-high-definition quality with "
    "impeccable resolution."
)
DEFAULT_NEGATIVE_PROMPT = (
    "The video captures a game playing, with bad crappy graphics and cartoonish frames. It "
    "represents a recording of old outdated games. The lighting looks very fake. The textures "
    "are very raw and basic. The geometries are very primitive. The images are very pixelated "
    "and of poor CG quality. There are many subtitles in the footage. Overall, the video is "
    "unrealistic at all."
)
CLIP_FRAMES = 121
UPSCALE_PATCHES = 9  # 3 x 3 overlapping 720p patches per step (reference 1.12)
# Preprocessor models run per item for depth/seg without input_control (reference 1.6).
NEURAL_PREPROCESSORS = ("depth", "seg", "keypoint")


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Control to world generation demo script"
    )
    add = parser.add_argument
    add("--prompt", type=str, default=DEFAULT_PROMPT)
    add("--negative_prompt", type=str, default=DEFAULT_NEGATIVE_PROMPT)
    add("--input_video_path", type=str, default="")
    add("--num_input_frames", type=int, default=1, choices=[1])
    add("--sigma_max", type=float, default=70.0)
    add("--blur_strength", type=str, default="medium", choices=PRESETS)
    add("--canny_threshold", type=str, default="medium", choices=PRESETS)
    add("--controlnet_specs", type=str, required=True)
    add("--is_av_sample", action="store_true")
    add("--checkpoint_dir", type=str, default="checkpoints")
    add("--tokenizer_dir", type=str, default="Cosmos-Tokenize1-CV8x8x8-720p")
    add("--video_save_name", type=str, default="output")
    add("--video_save_folder", type=str, default="outputs/")
    add("--batch_input_path", type=str)
    add("--batch_size", type=int, default=1)
    add("--num_steps", type=int, default=35)
    add("--guidance", type=float, default=5)
    add("--fps", type=int, default=24)
    add("--seed", type=int, default=1)
    add("--num_gpus", type=int, default=1)
    for flag in (
        "--offload_diffusion_transformer",
        "--offload_text_encoder_model",
        "--offload_guardrail_models",
        "--upsample_prompt",
        "--offload_prompt_upsampler",
        "--use_distilled",
        "--save_input_noise",
        "--benchmark",
    ):
        add(flag, action="store_true")
    return parser


def _file_not_found(path: str) -> None:
    print(
        traceback_text(
            [(WHERE_MAIN, 180, "parse_arguments")],
            f"FileNotFoundError: [Errno 2] No such file or directory: '{path}'",
        ),
        file=sys.stderr,
        flush=True,
    )
    raise SimulatedExit(1)


def _value_error(message: str, function: str) -> None:
    print(
        traceback_text(
            [("cosmos_transfer1/diffusion/inference/inference_utils.py", 1230, function)],
            f"ValueError: {message}",
        ),
        file=sys.stderr,
        flush=True,
    )
    raise SimulatedExit(1)


def _load_spec(args: argparse.Namespace, argv: list[str]) -> dict[str, dict[str, Any]]:
    """load_controlnet_specs + the JSON-to-CLI merge (reference 1.2): a non-dict key is copied
    onto the arguments unless the literal `--key` token is in argv."""
    if not os.path.isfile(args.controlnet_specs):
        _file_not_found(args.controlnet_specs)
    with open(args.controlnet_specs, encoding="utf-8") as handle:
        raw: dict[str, Any] = json.load(handle)
    controls: dict[str, dict[str, Any]] = {}
    for key, value in raw.items():
        if key in VALID_HINT_KEYS:
            controls[key] = value
        elif isinstance(value, dict):
            _value_error(
                f"Invalid hint_key: {key}. Must be one of {set(VALID_HINT_KEYS)}",
                "load_controlnet_specs",
            )
        elif f"--{key}" not in argv:
            setattr(args, key, value)
    return controls


def _validate(args: argparse.Namespace, controls: dict[str, dict[str, Any]]) -> None:
    """validate_controlnet_specs (reference 1.3-1.4), plus existence of every named file."""
    for key, config in controls.items():
        if not args.input_video_path and args.sigma_max < 80:
            _value_error(
                "Must have 'input_video' specified if sigma_max < 80", "validate_controlnet_specs"
            )
        if not args.input_video_path and "input_control" not in config:
            _value_error(
                f"{key} controlnet must have 'input_control' video specified if no "
                "'input_video' specified.",
                "validate_controlnet_specs",
            )
        if config.get("input_control") and not os.path.isfile(config["input_control"]):
            _file_not_found(config["input_control"])
    if args.input_video_path and not os.path.isfile(args.input_video_path):
        _file_not_found(args.input_video_path)
    if args.use_distilled and set(controls) != {"edge"}:
        print(
            traceback_text(
                [(WHERE_MAIN, 240, "demo")],
                "AssertionError: the distilled model takes a single edge control",
            ),
            file=sys.stderr,
            flush=True,
        )
        raise SimulatedExit(1)


def _check_world(args: argparse.Namespace, nproc: int) -> None:
    if args.num_gpus == nproc:
        return
    print(
        traceback_text(
            [
                (WHERE_MAIN, 228, "demo"),
                ("megatron/core/parallel_state.py", 520, "initialize_model_parallel"),
            ],
            f"RuntimeError: world_size ({nproc}) is not divisible by tensor_model_parallel_size "
            f"(1) x pipeline_model_parallel_size (1) x context_parallel_size ({args.num_gpus})",
        ),
        file=sys.stderr,
        flush=True,
    )
    raise SimulatedExit(1)


@dataclass
class Item:
    prompt: str
    video: str
    controls: dict[str, dict[str, Any]]


def _items(
    args: argparse.Namespace, controls: dict[str, dict[str, Any]], rt: Runtime
) -> list[Item]:
    if not args.batch_input_path:
        return [Item(args.prompt, args.input_video_path, controls)]
    if not os.path.isfile(args.batch_input_path):
        _file_not_found(args.batch_input_path)
    rt.log(f"Reading batch inputs from path: {args.batch_input_path}", f"{WHERE_MAIN}:296:demo")
    items: list[Item] = []
    with open(args.batch_input_path, encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            data = json.loads(line)
            merged = json.loads(json.dumps(controls))
            for key, override in data.get("control_overrides", {}).items():
                if key in merged:
                    merged[key].update(override)
                else:
                    rt.log(
                        f"Ignoring unknown control key in override: {key}",
                        f"{WHERE_MAIN}:318:demo",
                        "WARNING",
                    )
            video = data.get("visual_input")
            for path in [video] + [c.get("input_control") for c in merged.values()]:
                if path and not os.path.isfile(path):
                    _file_not_found(path)
            items.append(Item(data.get("prompt"), video, merged))
    return items


def run_transfer(script_argv: list[str], nproc: int, rt: Runtime) -> None:
    args = _parser(Path(WHERE_MAIN).name).parse_args(script_argv)
    controls = _load_spec(args, script_argv)
    rt.log(f"control_inputs: {json.dumps(controls)}", f"{WHERE_MAIN}:189:parse_arguments")
    _validate(args, controls)
    _check_world(args, nproc)
    profile = profiles.current_profile()
    memory = rt.faults.memory_gb if rt.faults.memory_gb is not None else profile.memory_gb
    batch_size = args.batch_size
    _load(args, controls, rt)
    items = _items(args, controls, rt)
    if "upscale" in controls and batch_size > 1:
        batch_size = 1
        rt.log(
            "Setting batch_size=1 as upscale does not support batch generation",
            f"{WHERE_MAIN}:292:demo",
        )
    need = profiles.t1_memory_gb(
        len(controls),
        min(batch_size, len(items)),
        args.offload_text_encoder_model,
        args.offload_guardrail_models,
    )
    limit = rt.faults.oom_above_batch_size
    if need > memory or (limit is not None and batch_size > limit):
        out_of_memory(max(profiles.T1_ITEM_GB, need - memory), memory, WHERE_PIPE)
    os.makedirs(args.video_save_folder, exist_ok=True)
    for start in range(0, len(items), batch_size):
        _run_batch(args, items[start : start + batch_size], start, profile, rt)


def _load(args: argparse.Namespace, controls: dict[str, dict[str, Any]], rt: Runtime) -> None:
    where = f"{WHERE_PIPE}:120:_load_network"
    rt.log(
        f"Loading checkpoint {args.checkpoint_dir}/nvidia/Cosmos-Transfer1-7B/base_model.pt", where
    )
    rt.advance(
        profiles.t1_load_seconds(
            len(controls), args.offload_text_encoder_model, args.offload_guardrail_models
        )
    )
    for key in controls:
        rt.log(f"Loaded control branch {key}", where)


def _clips(frames: int) -> int:
    return 1 if frames <= CLIP_FRAMES else 1 + math.ceil((frames - CLIP_FRAMES) / (CLIP_FRAMES - 1))


def _run_batch(
    args: argparse.Namespace,
    batch: list[Item],
    start: int,
    profile: profiles.GpuProfile,
    rt: Runtime,
) -> None:
    from cosmos_workflow.simulator.video import probe, write_output

    facts = [probe(Path(item.video)) for item in batch]
    for item, fact in zip(batch, facts, strict=True):
        rt.log("running preprocessor", f"{WHERE_MAIN}:322:demo")
        computed = [
            k
            for k, c in item.controls.items()
            if not c.get("input_control") and k in NEURAL_PREPROCESSORS
        ]
        rt.advance(len(computed) * fact.frames * profiles.T1_PREPROCESS_S_PER_FRAME)
    rt.log(f"Running batch generation with batch_size={len(batch)}", f"{WHERE_PIPE}:702:generate")
    kept = []
    for position, item in enumerate(batch, start=1):
        if rt.faults.blocks(start + position):
            rt.log(
                f"Input text prompt {position} is not safe",
                f"{WHERE_PIPE}:640:generate",
                "CRITICAL",
            )
        else:
            kept.append((item, facts[position - 1]))
    if not kept:
        rt.log(
            "Guardrail blocked generation for entire batch.", f"{WHERE_MAIN}:377:demo", "CRITICAL"
        )
        return
    _sample(args, batch, kept, profile, rt)
    for index, (item, fact) in enumerate(kept):
        if args.batch_input_path:
            folder = os.path.join(args.video_save_folder, f"video_{start + index}")
            video_path = os.path.join(folder, "output.mp4")
            prompt_path = os.path.join(folder, "prompt.txt")
        else:
            video_path = os.path.join(args.video_save_folder, f"{args.video_save_name}.mp4")
            prompt_path = os.path.join(args.video_save_folder, f"{args.video_save_name}.txt")
        weights = {k: _weight(c) for k, c in item.controls.items()}
        write_output(Path(item.video), Path(video_path), weights, args.fps, fact.frames)
        with open(prompt_path, "w", encoding="utf-8") as handle:
            handle.write(item.prompt or "")
        rt.log(f"Saved video to {video_path}", f"{WHERE_MAIN}:398:demo")
        rt.log(f"Saved prompt to {prompt_path}", f"{WHERE_MAIN}:399:demo")


def _weight(config: dict[str, Any]) -> float:
    try:
        return float(config.get("control_weight", 0.5))
    except (TypeError, ValueError):
        return 0.5


def _sample(
    args: argparse.Namespace,
    batch: list[Item],
    kept: list[tuple[Item, Any]],
    profile: profiles.GpuProfile,
    rt: Runtime,
) -> None:
    """Per-item overhead, then every clip's steps on the whole batch tensor."""
    speed = profile.speedup(args.num_gpus)
    rt.advance(len(batch) * profile.t1_item_s / speed)
    controls = batch[0].controls
    branches = len(controls)
    step = profile.t1_step_s * (1 + profiles.T1_BRANCH_STEP_FRACTION * branches)
    step *= len(kept) ** profiles.BATCH_EXPONENT / speed
    steps = args.num_steps
    if args.use_distilled:
        steps, step = 1, step / 2  # one step, no CFG (reference 1.13)
    if "upscale" in controls:
        step *= UPSCALE_PATCHES
    clips = max(_clips(fact.frames) for _, fact in kept)
    for clip in range(1, clips + 1):
        rt.log(f"Generating clip {clip}/{clips}", f"{WHERE_PIPE}:560:_run_model")
        rt.progress(0, steps, step)
        for done in range(1, steps + 1):
            rt.step(step)
            rt.progress(done, steps, step)


def run_upsampler(script_argv: list[str], launched_by_torchrun: bool, rt: Runtime) -> None:
    parser = argparse.ArgumentParser(prog="upsampler_pipeline.py")
    parser.add_argument("--prompt", type=str, required=True)
    parser.add_argument("--input_video", type=str, required=True)
    parser.add_argument("--checkpoint_dir", type=str, default="checkpoints")
    parser.add_argument("--offload_prompt_upsampler", action="store_true")
    args = parser.parse_args(script_argv)
    where = "cosmos_transfer1/auxiliary/upsampler/inference/upsampler_pipeline.py"
    if not launched_by_torchrun and "RANK" not in os.environ:
        print(
            traceback_text([(where, 60, "__init__")], "KeyError: 'RANK'"),
            file=sys.stderr,
            flush=True,
        )
        raise SimulatedExit(1)
    if not os.path.isfile(args.input_video):
        _file_not_found(args.input_video)
    profile = profiles.current_profile()
    memory = rt.faults.memory_gb if rt.faults.memory_gb is not None else profile.memory_gb
    rt.log("Loading Cosmos-UpsamplePrompt1-12B-Transfer", f"{where}:72:__init__")
    rt.advance(profiles.T1_UPSAMPLER_GB / profiles.LOAD_GB_PER_S)
    if memory < profiles.T1_UPSAMPLER_GB:
        out_of_memory(profiles.T1_UPSAMPLER_GB - memory, memory, where)
    # vLLM generates at most 300 tokens (reference 1.11); assumed 60 tokens/s on one GPU.
    rt.advance(300 / 60)
    upsampled = (
        f"{args.prompt.strip().rstrip('.')}. The scene is rendered in rich, photorealistic "
        "detail with natural lighting, coherent motion and sharp textures throughout."
    )
    rt.log(f"Upsampled prompt: {upsampled}", f"{where}:118:main")
