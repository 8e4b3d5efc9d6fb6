"""Simulated cosmos-transfer2.5 examples/inference.py: its command line and sample validation.

Samples are validated with a pydantic model shaped like InferenceArguments (cosmos_transfer2/
config.py 311-593, `extra="forbid"`, file paths resolved against the spec's folder and required
to exist). Every sample of every input file is validated before anything loads; a bad sample ends
the process with "Error validating parameters from '<file>' at line <i>" and the pydantic error
(config.py 372-378), a repeated name with "Error: Inference samplename <name> is not unique"
(config.py 411-414), both on stderr with exit 1. The run itself is in transfer2_5_inference.py."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FilePath,
    PositiveInt,
    ValidationError,
    model_validator,
)

from cosmos_workflow.simulator.runtime import Runtime, raise_traceback
from cosmos_workflow.simulator.transfer1 import DEFAULT_NEGATIVE_PROMPT

CHUNK_FRAMES = 93
CONTROL_KEYS = ("edge", "vis", "depth", "seg")  # config.py 477: the order of batch hint keys
MODELS = ["depth", "edge", "seg", "vis"]  # config.py 158-162, 305: base variants
DISTILLED_MODEL = "edge/distilled"  # config.py 165-169: only registered behind the flag
PATH_KEYS = ("prompt_path", "video_path", "image_context_path", "guided_generation_mask")
CONTROL_PATH_KEYS = ("control_path", "mask_path")
Preset = Literal["very_low", "low", "medium", "high", "very_high"]


def flag(name: str, default: bool) -> bool:
    """cosmos_transfer2/_src/imaginaire/flags.py 22-32."""
    value = os.environ.get(name, "")
    return value.lower() in ("true", "1", "yes", "y") if value else default


def experimental_checkpoints() -> bool:
    """flags.py 38, 50: COSMOS_EXPERIMENTAL_CHECKPOINTS defaults to COSMOS_INTERNAL."""
    return flag("COSMOS_EXPERIMENTAL_CHECKPOINTS", flag("COSMOS_INTERNAL", False))


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
    prompt_path: FilePath | None = None
    prompt: str
    negative_prompt: str = DEFAULT_NEGATIVE_PROMPT
    seed: int = 2025
    guidance: Annotated[int, Field(ge=0, le=7)] = 3
    video_path: FilePath
    max_frames: PositiveInt | None = None
    context_frame_index: PositiveInt | None = None
    image_context_path: FilePath | None = None
    num_conditional_frames: Literal[0, 1, 2] = 1
    resolution: str = "720"
    sigma_max: str | None = None
    num_video_frames_per_chunk: PositiveInt = CHUNK_FRAMES
    num_steps: PositiveInt = 35
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

    @model_validator(mode="before")
    @classmethod
    def _prompt_from_file(cls, data: Any) -> Any:
        """config.py 334-351: `prompt_path` fills `prompt` when no prompt is given."""
        if isinstance(data, dict) and data.get("prompt") is None and data.get("prompt_path"):
            path = Path(data["prompt_path"])
            if path.is_file():
                data = {**data, "prompt": path.read_text(encoding="utf-8").strip()}
        return data

    def model_post_init(self, context: Any) -> None:
        """config.py 539-546."""
        if not self.controls():
            raise ValueError(
                "No controls provided, please provide at least one control key "
                "(edge, blur, depth, seg)"
            )
        if self.vis is not None and self.image_context_path:
            raise ValueError(
                "vis control and image_context_path are both used to transfer style. Using these "
                "modes together leads to conflicts. Please only provide one"
            )

    def controls(self) -> dict[str, ControlConfig]:
        """hint_keys in CONTROL_KEYS order (config.py 535-537)."""
        found = {key: getattr(self, key) for key in CONTROL_KEYS}
        return {key: value for key, value in found.items() if value is not None}


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
    models = MODELS + ([DISTILLED_MODEL] if experimental_checkpoints() else [])
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
    for name in (
        "disable_guardrails",
        "offload_guardrail_models",
        "profile",
        "benchmark",
        "enable_parallel_tokenizer",
    ):
        add(f"--{name.replace('_', '-')}", f"--{name}", action="store_true", dest=name)
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
    """Paths in a spec are relative to the spec file's folder and made absolute (config.py
    106-111, 369-370)."""
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


CONFIG = "cosmos_transfer2/config.py"
_MAIN = [
    ("examples/inference.py", 94, "<module>"),
    ("examples/inference.py", 67, "main"),
    (CONFIG, 402, "from_files"),
]


def _lines(path: Path, rt: Runtime) -> list[dict[str, Any]]:
    """config.py 360-365: every line of a .jsonl is parsed, blank lines too."""
    where = (CONFIG, 363, "_from_file")
    if path.suffix not in (".json", ".jsonl"):
        raise_traceback(
            [*_MAIN, (CONFIG, 365, "_from_file")],
            f"ValueError: Unsupported file extension: {path.suffix}",
        )
    if not path.is_file():
        raise_traceback(
            [*_MAIN, where], f"FileNotFoundError: [Errno 2] No such file or directory: '{path}'"
        )
    text = path.read_text(encoding="utf-8")
    chunks = [text] if path.suffix == ".json" else text.splitlines()
    try:
        return [json.loads(chunk) for chunk in chunks]
    except json.JSONDecodeError as exc:
        raise_traceback([*_MAIN, where], f"json.decoder.JSONDecodeError: {exc}")


def read_samples(args: argparse.Namespace, rt: Runtime) -> list[InferenceArguments]:
    overrides = {
        key: getattr(args, f"override_{key}")
        for key in OVERRIDES
        if getattr(args, f"override_{key}") is not None
    }
    samples: list[InferenceArguments] = []
    for name in args.input_files:
        path = Path(name)
        for line, data in enumerate(_lines(path, rt)):
            try:
                resolved = _resolve(data | overrides, path.parent.absolute())
                samples.append(InferenceArguments.model_validate(resolved))
            except ValidationError as exc:
                rt.fail(f"Error validating parameters from '{path}' at line {line}\n{exc}")
    if not samples:
        rt.fail("Error: No inference samples")
    names: set[str] = set()
    for sample in samples:
        if sample.name in names:
            rt.fail(f"Error: Inference samplename {sample.name} is not unique")
        names.add(sample.name)
    return samples


def batch_hint_keys(samples: list[InferenceArguments]) -> list[str]:
    """The union of the samples' control keys, in CONTROL_KEYS order (config.py 416-419)."""
    keys = {key for sample in samples for key in sample.controls()}
    return [key for key in CONTROL_KEYS if key in keys]


def run_inference(script_argv: list[str], world_size: int, rt: Runtime) -> None:
    from cosmos_workflow.simulator.transfer2_5_inference import (
        Control2WorldInference,
        init_environment,
    )

    init_environment(rt)  # examples/inference.py 82, before the command line is parsed
    args = _parser().parse_args(script_argv)
    samples = read_samples(args, rt)
    try:
        inference = Control2WorldInference(args, batch_hint_keys(samples), world_size, rt)
        inference.generate(samples)
    finally:
        rt.close_log_files()
