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
