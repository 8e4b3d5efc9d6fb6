"""Stand-ins for NVIDIA's entry points: their exact argparse signatures and input checks.

The parsers copy the `add_argument` calls of nvidia-cosmos/cosmos-transfer1@5005e82
cosmos_transfer1/diffusion/inference/transfer.py:52-174 (names, types, choices, required) and
cosmos_transfer1/auxiliary/upsampler/inference/upsampler_pipeline.py:22-32, with no model behind
them: whatever NVIDIA's parser refuses, these refuse (exit 2). `main_*` are what the stand-in
scripts of the `job render` test run: they parse like NVIDIA, merge the spec like transfer.py
(176-187), and fail unless every file argument exists."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PRESETS = ["very_low", "low", "medium", "high", "very_high"]
FLAGS = (
    "--is_av_sample",
    "--offload_diffusion_transformer",
    "--offload_text_encoder_model",
    "--offload_guardrail_models",
    "--upsample_prompt",
    "--offload_prompt_upsampler",
    "--use_distilled",
    "--save_input_noise",
    "--benchmark",
)
# cosmos-transfer2.5@2ff49d0 cosmos_transfer2/config.py:316-533: every InferenceArguments field.
T25_SAMPLE_KEYS = frozenset(
    {
        "name",
        "prompt_path",
        "prompt",
        "negative_prompt",
        "seed",
        "guidance",
        "video_path",
        "max_frames",
        "context_frame_index",
        "image_context_path",
        "num_conditional_frames",
        "resolution",
        "sigma_max",
        "num_video_frames_per_chunk",
        "num_steps",
        "show_control_condition",
        "show_input",
        "keep_input_resolution",
        "edge",
        "depth",
        "vis",
        "seg",
        "guided_generation_mask",
        "guided_generation_step_threshold",
        "guided_generation_foreground_labels",
    }
)


def transfer1_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(conflict_handler="resolve")
    add = parser.add_argument
    add("--prompt", type=str, default="")
    add("--negative_prompt", type=str, default="NVIDIA default")
    add("--input_video_path", type=str, default="")
    add("--num_input_frames", type=int, default=1, choices=[1])
    add("--sigma_max", type=float, default=70.0)
    add("--blur_strength", type=str, default="medium", choices=PRESETS)
    add("--canny_threshold", type=str, default="medium", choices=PRESETS)
    add("--controlnet_specs", type=str, required=True)
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
    for flag in FLAGS:
        add(flag, action="store_true")
    return parser


def upsampler_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompt", type=str, required=False)
    parser.add_argument("--input_video", type=str, required=True)
    parser.add_argument("--checkpoint_dir", type=str, default="checkpoints")
    parser.add_argument("--offload_prompt_upsampler", action="store_true")
    return parser


def transfer1_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse like transfer.py: the CLI, then every non-dict spec key unless `--key` is in argv."""
    args = transfer1_parser().parse_args(list(argv))
    spec = json.loads(Path(args.controlnet_specs).read_text())
    for key, value in spec.items():
        if not isinstance(value, dict) and f"--{key}" not in argv:
            setattr(args, key, value)
    args.controls = {k: v for k, v in spec.items() if isinstance(v, dict)}
    return args


def _require(path: Any, what: str) -> None:
    if path is not None and not Path(path).is_file():
        sys.exit(f"missing {what}: {path}")


def _check_controls(controls: dict[str, Any], what: str) -> None:
    for key, entry in controls.items():
        _require(entry.get("input_control"), f"{what} {key} input_control")


def main_transfer1(argv: Sequence[str]) -> None:
    args = transfer1_args(argv)
    _require(args.input_video_path or None, "input_video_path")
    _check_controls(args.controls, "spec")
    if not Path(args.checkpoint_dir).is_dir():
        sys.exit(f"missing checkpoint_dir: {args.checkpoint_dir}")
    lines = []
    if args.batch_input_path:
        _require(args.batch_input_path, "batch_input_path")
        lines = Path(args.batch_input_path).read_text().splitlines()
    for line in map(json.loads, lines):
        _require(line["visual_input"], "visual_input")
        _check_controls(line.get("control_overrides", {}), "override")
    _report(args.video_save_folder, vars(args))


def main_upsampler(argv: Sequence[str]) -> None:
    args = upsampler_parser().parse_args(list(argv))
    _require(args.input_video, "input_video")
    for key in ("RANK", "OMP_NUM_THREADS"):  # what NVIDIA's __main__ reads and deletes
        if key not in os.environ:
            sys.exit(f"KeyError: {key!r}")
    print("Upsampled prompt:", args.prompt)


def main_transfer2_5(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-i", "--input-files", nargs="+", required=True)
    parser.add_argument("-o", "--output-dir", required=True)
    parser.add_argument("--model", default="edge")
    parser.add_argument("--disable-guardrails", action="store_true")
    args = parser.parse_args(list(argv))
    for path in args.input_files:
        for sample in map(json.loads, Path(path).read_text().splitlines()):
            extra = set(sample) - T25_SAMPLE_KEYS
            if extra:
                sys.exit(f"Extra inputs are not permitted: {sorted(extra)}")
            _require(sample["video_path"], "video_path")
            for key in ("edge", "depth", "vis", "seg"):
                _require((sample.get(key) or {}).get("control_path"), f"{key} control_path")
    _report(args.output_dir, vars(args))


def _report(folder: str, args: dict[str, Any]) -> None:
    """What the stand-in saw, for the test to read back."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    seen = {
        "args": {k: v for k, v in args.items() if k != "controls"},
        "cwd": os.getcwd(),
        "pythonpath": os.environ.get("PYTHONPATH"),
    }
    (Path(folder) / "stand_in.json").write_text(json.dumps(seen))


# -- Cosmos 3: NVIDIA/cosmos-framework@5eee9ed ---------------------------------------------------
# `python -m cosmos_framework.scripts.inference`: tyro over InferenceArgs with nested prefixes
# omitted (cosmos_framework/scripts/inference.py:21-31, 78-88). The setup flags copy the
# generated --help of that commit (common/args.py:742-938, args.py:1344-1366); the per-sample
# flags are left out on purpose: each overrides every sample of the files (common/args.py:1064),
# so a command that passes one is wrong for a job of several runs, and this stand-in refuses it.
C3_VALUE_FLAGS: dict[str, Any] = {
    "--quantization-method": ["None", "mxfp8", "nvfp4"],
    "--parallelism-preset": ["throughput", "latency"],
    "--compiled-region": ["all", "language"],
    "--sampler": ["unipc", "edm"],
    "--model-size": ["None", "0.6B", "2B", "8B", "30B-A3B", "32B", "235B-A22B"],
    "--device-memory-utilization": float,
    "--dp-replicate-size": int,
    "--dp-shard-size": int,
    "--cp-size": int,
    "--cfgp-size": int,
    "--config-file": str,
    "--experiment": str,
    "--credential-path": str,
    "--checkpoint-cache-dir": str,
    "--warmup": int,
    "--num-iterations": int,
    "--max-model-len": int,
    "--max-num-seqs": int,
    "--diffusion-cache-thresh": float,
    "--diffusion-cache-residual-order": int,
}
C3_BOOL_FLAGS = (
    "--guardrails",
    "--offload-guardrail-models",
    "--use-torch-compile",
    "--use-cuda-graphs",
    "--compile-dynamic",
    "--use-separate-pipeline-vision-decode-gpu",
    "--use-ema-weights",
    "--keep-going",
    "--skip-invalid-samples",
    "--debug",
    "--profile",
    "--benchmark",
    "--diffusion-cache",
)
# Every field of OmniSampleOverrides (args.py:1048-1055) and its bases: SampleOverrides
# (common/args.py:976-996), SamplingOverrides (args.py:95-109), TextDataOverrides (326-346),
# VisionDataOverrides (441-486), SoundDataOverrides (560-567), ActionDataOverrides (600-614),
# ReasonerDataOverrides (701-720), TransferDataOverrides (766-805), SampleDataOverrides (954),
# PromptUpsamplingOverrides (1005-1021). All models are extra="forbid" (common/args.py:299-300).
C3_SAMPLE_KEYS = frozenset(
    {
        *("output_dir", "model", "extra", "name", "num_outputs", "seed"),
        *("tensors_file", "pickle_file", "defaults_file", "model_mode"),
        *("num_steps", "guidance", "guidance_interval", "normalize_cfg", "shift", "sigma_max"),
        *("prompt_path", "prompt", "negative_prompt", "duration_template"),
        *("resolution_template", "negative_metadata_mode", "inverse_duration_template"),
        *("inverse_resolution_template", "negative_prompt_keep_metadata"),
        *("vision_path", "condition_frame_indexes_vision", "condition_video_keep"),
        *("resolution", "aspect_ratio", "fps", "num_frames"),
        *("video_save_quality", "image_save_quality", "enable_sound", "sound_path"),
        *("action_path", "domain_name", "image_size", "action_chunk_size"),
        *("raw_action_dim", "view_point", "max_new_tokens", "do_sample", "temperature"),
        *("top_k", "top_p", "repetition_penalty", "presence_penalty", "video_fps"),
        *("control_guidance", "control_guidance_interval", "edge", "blur", "depth", "seg"),
        *("wsm", "negative_prompt_file", "num_video_frames_per_chunk"),
        *("num_conditional_frames", "max_frames", "show_control_condition", "show_input"),
        *("num_first_chunk_conditional_frames", "share_vision_temporal_positions"),
        *("emphasize_control_in_prompt", "prompt_upsampling", "prompt_upsampler_max_tokens"),
        *("prompt_upsampler_temperature", "prompt_upsampler_top_p", "prompt_upsampler_top_k"),
        *("prompt_upsampler_repetition_penalty", "prompt_upsampler_presence_penalty"),
        "prompt_upsampler_seed",
    }
)
# TransferOverrides and its edge/blur subclasses (args.py:274-295), in TransferHintKey order.
C3_HINT_KEYS: dict[str, frozenset[str]] = {
    "edge": frozenset({"control_path", "weight", "preset_edge_threshold"}),
    "blur": frozenset({"control_path", "weight", "preset_blur_strength"}),
    "depth": frozenset({"control_path", "weight"}),
    "seg": frozenset({"control_path", "weight"}),
    "wsm": frozenset({"control_path", "weight"}),
}
C3_MODEL_MODES = (
    *("text2image", "text2video", "image2image", "image2video", "video2video"),
    *("audio_image2video", "forward_dynamics", "inverse_dynamics", "wam", "reasoner"),
)
C3_RESOLUTIONS = ("256", "480", "704", "720", "768")  # with COSMOS_TRAINING's default (args.py:132)
C3_ASPECT_RATIOS = ("1,1", "4,3", "3,4", "16,9", "9,16")
C3_EDGE_PRESETS = ("very_low", "low", "medium", "high", "very_high")
C3_BLUR_PRESETS = ("none", *C3_EDGE_PRESETS)
C3_VISION_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".mp4")  # common/args.py:53-55
C3_MEDIA_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".png", ".jpg", ".jpeg")
# Typed sample fields: (type, low, high); None for no bound. pydantic.PositiveInt is > 0.
C3_NUMBERS: dict[str, tuple[type, float | None, float | None]] = {
    "seed": (int, None, None),
    "num_steps": (int, 1, None),
    "guidance": (float, 0, 7),
    "shift": (float, None, None),
    "sigma_max": (float, None, None),
    "fps": (int, 1, None),
    "num_frames": (int, 1, None),
    "control_guidance": (float, 0, 10),
    "num_video_frames_per_chunk": (int, 1, None),
    "num_conditional_frames": (int, 0, None),
    "max_frames": (int, 1, None),
}


def cosmos3_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cosmos_framework.scripts.inference")
    parser.add_argument("-i", "--input-files", nargs="+", required=True)
    parser.add_argument("-o", "--output-dir")
    parser.add_argument("--checkpoint-path", required=True)
    parser.add_argument("--experiment-overrides", nargs="*")
    for flag, kind in C3_VALUE_FLAGS.items():
        if isinstance(kind, list):
            parser.add_argument(flag, choices=kind)
        else:
            parser.add_argument(flag, type=kind)
    for flag in C3_BOOL_FLAGS:
        parser.add_argument(flag, action=argparse.BooleanOptionalAction)
    return parser


def cosmos3_samples(path: Path) -> list[dict[str, Any]]:
    """Read and check a samples file as NVIDIA does before and while generating: every check
    raises ValueError with NVIDIA's own words."""
    if path.suffix != ".jsonl":  # common/args.py:1049-1056 (.json and .yaml also exist)
        raise ValueError(f"Unsupported file extension: {path}")
    samples = [json.loads(line) for line in path.read_text().splitlines() if line]
    names: set[str] = set()
    for i, sample in enumerate(samples):
        try:
            check_cosmos3_sample(sample, path.parent)
        except ValueError as exc:
            raise ValueError(
                f"Error validating parameters from '{path}' at sample {i}\n{exc}"
            ) from exc
        if sample["name"] in names:  # common/args.py:1013-1014
            raise ValueError(f"Duplicate name: '{sample['name']}'")
        names.add(sample["name"])
    return samples


def check_cosmos3_sample(sample: dict[str, Any], folder: Path) -> None:
    """One sample against OmniSampleOverrides, then the checks of its generation."""
    extra = set(sample) - C3_SAMPLE_KEYS
    if extra:
        raise ValueError(f"Extra inputs are not permitted: {sorted(extra)}")
    if not isinstance(sample.get("name"), str) or not sample["name"]:
        raise ValueError("name: a non-empty string is required (it names the output folder)")
    for key in ("prompt", "negative_prompt"):
        if key in sample and not isinstance(sample[key], str):
            raise ValueError(f"{key}: Input should be a valid string")
    _c3_choice(sample, "model_mode", C3_MODEL_MODES)
    _c3_choice(sample, "resolution", C3_RESOLUTIONS)
    _c3_choice(sample, "aspect_ratio", C3_ASPECT_RATIOS)
    for key, (kind, low, high) in C3_NUMBERS.items():
        if key in sample:
            _c3_number(key, sample[key], kind, low, high)
    if "vision_path" in sample:
        vision = _c3_file(sample["vision_path"], folder)
        if vision.suffix.lower() not in C3_VISION_SUFFIXES:  # args.py:386-393
            raise ValueError(f"Invalid vision extension: {vision.suffix.lower()}")
    hints = {key: sample[key] for key in C3_HINT_KEYS if sample.get(key) is not None}
    if not hints:  # what makes it a transfer sample (args.py:807-828, inference.py:1526-1530)
        raise ValueError("transfer inference requires at least one control hint")
    for key, hint in hints.items():
        _c3_hint(key, hint, folder, "vision_path" in sample)
    weights = [float(hint.get("weight", 1.0)) for hint in hints.values()]
    if any(weight < 0 for weight in weights) or sum(weights) <= 0:  # transfer.py:181-189
        raise ValueError(f"control_weights must be non-negative with a positive sum: {weights}")


def _c3_choice(sample: dict[str, Any], key: str, choices: Sequence[str]) -> None:
    if key in sample and sample[key] not in choices:
        raise ValueError(f"{key}: Input should be one of {choices}, got {sample[key]!r}")


def _c3_number(key: str, value: Any, kind: type, low: float | None, high: float | None) -> None:
    allowed = (int,) if kind is int else (int, float)
    if isinstance(value, bool) or not isinstance(value, allowed):
        raise ValueError(f"{key}: Input should be a valid {kind.__name__}, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{key}: {value!r} is outside [{low}, {high}]")


def _c3_file(value: Any, folder: Path) -> Path:
    """ResolvedFilePathOrUrl (common/args.py:272-279): relative to the samples file's folder
    (common/args.py:1059-1061), and it must be a file."""
    if not isinstance(value, str):
        raise ValueError(f"Input should be a valid string, got {value!r}")
    path = folder / Path(value).expanduser()
    if not path.is_file():
        raise ValueError(f"Path does not point to a file: {value}")
    return path


def _c3_hint(key: str, hint: Any, folder: Path, has_vision: bool) -> None:
    if not isinstance(hint, dict):
        raise ValueError(f"{key}: Input should be a valid dictionary")
    extra = set(hint) - C3_HINT_KEYS[key]
    if extra:
        raise ValueError(f"{key}: Extra inputs are not permitted: {sorted(extra)}")
    if "weight" in hint:
        _c3_number(f"{key}.weight", hint["weight"], float, None, None)
    _c3_choice(hint, "preset_edge_threshold", C3_EDGE_PRESETS)
    _c3_choice(hint, "preset_blur_strength", C3_BLUR_PRESETS)
    if "control_path" in hint:
        control = _c3_file(hint["control_path"], folder)
        if control.suffix.lower() not in C3_MEDIA_SUFFIXES:  # vision.py:185-186, 205-206
            raise ValueError(f"Unsupported media extension: {control.suffix.lower()}")
    elif not has_vision:  # args.py:897-900
        raise ValueError(f"transfer inference requires 'vision_path' or a 'control_path' ({key})")
    elif key not in ("edge", "blur"):  # transfer.py:116-119, raised at generation
        raise ValueError(f"Missing pre-computed control input for '{key}'.")


def main_cosmos3(argv: Sequence[str]) -> None:
    """What `python -m cosmos_framework.scripts.inference` refuses, with no model behind it."""
    args = cosmos3_parser().parse_args(list(argv))
    if args.output_dir is None:  # scripts/inference.py:38-39
        sys.exit("ValueError: 'output_dir' is required")
    for path in args.input_files:
        try:
            cosmos3_samples(Path(path))
        except ValueError as exc:
            sys.exit(f"ValueError: {exc}")
    _report(args.output_dir, vars(args))
