"""Simulated Cosmos 3 sample files: their schema, how they are read, and how a sample is built.

Written from NVIDIA/cosmos-framework at 5eee9ed (paths below are in that repository):

- Schema: `OmniSampleOverrides` (cosmos_framework/inference/args.py 1048-1171) with
  `extra="forbid"` at every level (inference/common/args.py 288-300); ranges from args.py 80-83
  (guidance 0..7, control_guidance 0..10), 377-378 (fps >= 1, save qualities), 131-136
  (resolution tiers; "704" only with COSMOS_TRAINING, the default), 274-295 (hint blocks).
  Local paths must exist ("Path does not point to a file", common/args.py 272-279) and are
  resolved against the file's folder (validation runs inside `contextlib.chdir`, 1060-1061).
- Reading: `_from_file`/`_from_files`/`SampleOverrides.from_files` (common/args.py 998-1110): a
  case-sensitive suffix, globs, `sorted(set(...))`, CLI sample flags deep-merged over every
  sample (1064), `Error validating parameters from '<file>' at sample <i>` (1068-1070). The
  duplicate-name check (1003-1015) never fires: its `names` set is never added to, so two
  samples with one name both run into the same `<o>/<name>/` folder.
- Building: `OmniSampleOverrides.build_sample` (args.py 1091-1171) after the model loads: the
  per-modality defaults file, the Edge frame default, the text/vision/transfer builders
  (args.py 348-374, 493-552, 868-906) with the per-hint tuned defaults applied only to a
  single-hint sample and only to fields the sample did not set.

The shipped negative prompt (defaults/neg_prompts.json, 15 kB of NVIDIA's text) is not copied:
a stand-in names the file it stands for."""

from __future__ import annotations

import contextlib
import glob
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    FilePath,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

HINTS = ("edge", "blur", "depth", "seg", "wsm")  # TransferHintKey order, args.py 225-230
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")  # common/args.py 53-54
VIDEO_EXTENSIONS = (".mp4",)
TEMPORAL_COMPRESSION = 4  # configs/model/Cosmos3-*.yaml 151: tokenizer temporal factor
MIN_NUM_FRAMES = 24  # args.py 144-151
MAX_NUM_FRAMES = {"256": 400, "480": 300, "704": 200, "720": 200, "768": 200}
NEGATIVE_PROMPT_STAND_IN = json.dumps(
    {"simulated": "cosmos_framework/inference/defaults/neg_prompts.json"}
)
# defaults/{text2video,image2video,video2video}/sample_args.json (identical files); the
# negative_prompt_file entry is replaced by the file's JSON (args.py 65-77).
VIDEO_DEFAULTS: dict[str, Any] = {
    "num_steps": 35,
    "guidance": 6.0,
    "shift": 10.0,
    "sigma_max": 80.0,
    "normalize_cfg": False,
    "autoregressive": False,
    "negative_prompt": NEGATIVE_PROMPT_STAND_IN,
    "duration_template": "The video is {duration:.1f} seconds long and is of {fps:.0f} FPS.",
    "resolution_template": "This video is of {height}x{width} resolution.",
    "negative_metadata_mode": "none",
    "inverse_duration_template": (
        "The video is not {duration:.1f} seconds long and is not of {fps:.0f} FPS."
    ),
    "inverse_resolution_template": "This video is not of {height}x{width} resolution.",
    "negative_prompt_keep_metadata": True,
    "aspect_ratio": "16,9",
    "fps": 24,
    "num_frames": 189,
    "video_save_quality": 10,
    "image_save_quality": 95,
    "enable_sound": False,
}
TRANSFER_SAMPLE_DEFAULTS: dict[str, Any] = {  # args.py 837-846
    "num_video_frames_per_chunk": 93,
    "num_conditional_frames": 1,
    "max_frames": 5000,
    "show_control_condition": False,
    "show_input": False,
    "num_first_chunk_conditional_frames": 0,
    "share_vision_temporal_positions": True,
    "emphasize_control_in_prompt": True,
}
TRANSFER_HINT_DEFAULTS = {  # args.py 847-850
    "edge": {"preset_edge_threshold": "medium"},
    "blur": {"preset_blur_strength": "medium"},
}
TRANSFER_DEFAULTS: dict[str, dict[str, Any]] = {  # args.py 853-866: one hint only
    "edge": {"guidance": 3.0, "control_guidance": 1.5, "shift": 10.0},
    "blur": {"guidance": 3.0, "control_guidance": 1.5, "shift": 10.0},
    "depth": {"guidance": 3.0, "control_guidance": 1.5, "shift": 10.0},
    "seg": {"guidance": 3.0, "control_guidance": 2.0, "shift": 10.0},
    "wsm": {
        "guidance": 1.0,
        "control_guidance": 3.0,
        "shift": 10.0,
        "num_frames": 101,
        "fps": 10,
        "num_video_frames_per_chunk": 101,
    },
}
IMAGE_OUTPUT_MODES = ("text2image", "image2image")
ACTION_MODES = ("forward_dynamics", "inverse_dynamics", "wam")


def training() -> bool:
    """COSMOS_TRAINING, default true (cosmos_framework/utils/flags.py 23-36)."""
    value = os.environ.get("COSMOS_TRAINING", "")
    return value.lower() in ("true", "1", "yes", "y") if value else True


def smoke() -> bool:
    """COSMOS_SMOKE, default false (flags.py 44): num_steps <= 1, num_frames <= 2."""
    return os.environ.get("COSMOS_SMOKE", "").lower() in ("true", "1", "yes", "y")


def _absolute(value: Path) -> Path:
    return value.expanduser().absolute()


def _file_or_url(value: str) -> str:
    """common/args.py 272-279."""
    if value.startswith(("http://", "https://", "s3://")):
        return value
    path = Path(value).expanduser().absolute()
    if not path.is_file():
        raise ValueError(f"Path does not point to a file: {value}")
    return str(path)


def _tier(value: str) -> str:
    """ "704" is a Resolution only while COSMOS_TRAINING is on (args.py 131-135)."""
    if value == "704" and not training():
        raise ValueError("Input should be '256', '480', '720' or '768'")
    return value


ResolvedFilePath = Annotated[FilePath, AfterValidator(_absolute)]
FileOrUrl = Annotated[str, AfterValidator(_file_or_url)]
Guidance = Annotated[float, Field(ge=0, le=7)]
ControlGuidance = Annotated[float, Field(ge=0, le=10)]
Interval = tuple[NonNegativeFloat, NonNegativeFloat]
Resolution = Annotated[Literal["256", "480", "704", "720", "768"], AfterValidator(_tier)]
AspectRatio = Literal["1,1", "4,3", "3,4", "16,9", "9,16"]


class ModelMode(StrEnum):
    TEXT2IMAGE = "text2image"
    TEXT2VIDEO = "text2video"
    IMAGE2IMAGE = "image2image"
    IMAGE2VIDEO = "image2video"
    VIDEO2VIDEO = "video2video"
    AUDIO_IMAGE2VIDEO = "audio_image2video"
    FORWARD_DYNAMICS = "forward_dynamics"
    INVERSE_DYNAMICS = "inverse_dynamics"
    WAM = "wam"
    REASONER = "reasoner"


class Forbid(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TransferOverrides(Forbid):
    control_path: FileOrUrl | None = None
    weight: float | None = None


class EdgeTransferOverrides(TransferOverrides):
    preset_edge_threshold: Literal["very_low", "low", "medium", "high", "very_high"] | None = None


class BlurTransferOverrides(TransferOverrides):
    preset_blur_strength: (
        Literal["none", "very_low", "low", "medium", "high", "very_high"] | None
    ) = None


class SampleOverrides(Forbid):
    """OmniSampleOverrides: every field NVIDIA accepts in a sample file, with its type."""

    # SampleOverrides, common/args.py 976-996
    output_dir: Path | None = None
    model: str | None = None
    extra: dict[str, Any] | None = None
    name: str | None = None
    num_outputs: PositiveInt | None = None
    seed: int | None = None
    tensors_file: ResolvedFilePath | None = None
    pickle_file: ResolvedFilePath | None = None
    # SamplingOverrides, args.py 95-109
    num_steps: PositiveInt | None = None
    guidance: Guidance | None = None
    guidance_interval: Interval | None = None
    normalize_cfg: bool | None = None
    shift: float | None = None
    sigma_max: float | None = None
    # TextDataOverrides, args.py 326-346
    prompt_path: ResolvedFilePath | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    duration_template: str | None = None
    resolution_template: str | None = None
    negative_metadata_mode: Literal["none", "same", "inverse"] | None = None
    inverse_duration_template: str | None = None
    inverse_resolution_template: str | None = None
    negative_prompt_keep_metadata: bool | None = None
    # VisionDataOverrides, args.py 441-487
    vision_path: FileOrUrl | None = None
    condition_frame_indexes_vision: list[int] | None = None
    condition_video_keep: Literal["first", "last"] | None = None
    resolution: Resolution | None = None
    aspect_ratio: AspectRatio | None = None
    fps: Annotated[int, Field(ge=1)] | None = None
    num_frames: PositiveInt | None = None
    video_save_quality: Annotated[int, Field(ge=0, le=10)] | None = None
    image_save_quality: Annotated[int, Field(ge=0, le=100)] | None = None
    # SoundDataOverrides, ActionDataOverrides, ReasonerDataOverrides: args.py 560-720
    enable_sound: bool | None = None
    sound_path: FileOrUrl | None = None
    action_path: FileOrUrl | None = None
    domain_name: str | None = None
    image_size: PositiveInt | None = None
    action_chunk_size: PositiveInt | None = None
    raw_action_dim: PositiveInt | None = None
    view_point: str | None = None
    max_new_tokens: PositiveInt | None = None
    do_sample: bool | None = None
    temperature: Annotated[float, Field(gt=0, le=100)] | None = None
    top_k: PositiveInt | None = None
    top_p: Annotated[float, Field(gt=0, le=1)] | None = None
    repetition_penalty: Annotated[float, Field(gt=0)] | None = None
    presence_penalty: float | None = None
    video_fps: PositiveFloat | None = None
    # TransferDataOverrides, args.py 766-806
    control_guidance: ControlGuidance | None = None
    control_guidance_interval: Interval | None = None
    edge: EdgeTransferOverrides | None = None
    blur: BlurTransferOverrides | None = None
    depth: TransferOverrides | None = None
    seg: TransferOverrides | None = None
    wsm: TransferOverrides | None = None
    negative_prompt_file: str | None = None
    num_video_frames_per_chunk: PositiveInt | None = None
    num_conditional_frames: NonNegativeInt | None = None
    max_frames: PositiveInt | None = None
    show_control_condition: bool | None = None
    show_input: bool | None = None
    num_first_chunk_conditional_frames: NonNegativeInt | None = None
    share_vision_temporal_positions: bool | None = None
    emphasize_control_in_prompt: bool | None = None
    # SampleDataOverrides, args.py 954
    model_mode: ModelMode | None = None
    # PromptUpsamplingOverrides, args.py 1005-1021
    prompt_upsampling: bool | None = None
    prompt_upsampler_max_tokens: PositiveInt | None = None
    prompt_upsampler_temperature: NonNegativeFloat | None = None
    prompt_upsampler_top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    prompt_upsampler_top_k: NonNegativeInt | None = None
    prompt_upsampler_repetition_penalty: PositiveFloat | None = None
    prompt_upsampler_presence_penalty: float | None = None
    prompt_upsampler_seed: int | None = None
    # OmniSampleOverrides, args.py 1054
    defaults_file: ResolvedFilePath | None = None

    @field_validator("output_dir")
    @classmethod
    def _resolve_output(cls, value: Path | None) -> Path | None:
        return None if value is None else _absolute(value)

    @model_validator(mode="after")
    def _validate_transfer_hints(self) -> SampleOverrides:
        """args.py 807-828: a transfer-only field (or a control_guidance other than 1.0) needs a
        hint; on the command line this refuses such flags outright, since CLI flags carry no
        hint block."""
        configured = any(getattr(self, name) is not None for name in TRANSFER_ONLY)
        guidance = self.control_guidance
        if (configured or (guidance is not None and guidance != 1.0)) and not self.hints():
            raise ValueError(
                f"transfer inference requires at least one control hint ({', '.join(HINTS)})"
            )
        return self

    def hints(self) -> dict[str, TransferOverrides]:
        """transfer_hints in TransferHintKey order, not file order (args.py 738-743)."""
        found = {key: getattr(self, key) for key in HINTS}
        return {key: value for key, value in found.items() if value is not None}


TRANSFER_ONLY = (
    "control_guidance_interval",
    "negative_prompt_file",
    "num_video_frames_per_chunk",
    "num_conditional_frames",
    "max_frames",
    "show_control_condition",
    "show_input",
    "num_first_chunk_conditional_frames",
    "share_vision_temporal_positions",
    "emphasize_control_in_prompt",
)


class FileError(Exception):
    """An exception NVIDIA raises while reading the files: its Python name and message."""

    def __init__(self, kind: str, message: str, line: int) -> None:
        super().__init__(message)
        self.kind, self.message, self.line = kind, message, line


@dataclass
class Sample:
    """One validated sample: the file's data (CLI flags merged) and what validation made of it."""

    overrides: SampleOverrides
    source: Path


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """common/args.py 1032-1040."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(merged.get(key), dict) and isinstance(value, dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def expand(paths: list[str]) -> list[Path]:
    """common/args.py 1082-1098: globs expanded, then sorted(set(...))."""
    if not paths:
        raise FileError("ValueError", "No inference parameter files", 1083)
    found: list[Path] = []
    for pattern in paths:
        if "*" in pattern:
            found.extend(Path(name) for name in glob.glob(pattern, recursive=True))
        else:
            found.append(Path(pattern))
    return sorted(set(found))


def _records(path: Path) -> list[Any]:
    """common/args.py 1049-1056: the suffix test is case-sensitive; blank .jsonl lines skipped."""
    if path.suffix not in (".json", ".jsonl", ".yaml", ".yml"):
        raise FileError("ValueError", f"Unsupported file extension: {path}", 1056)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        message = f"[Errno 2] No such file or directory: '{path}'"
        raise FileError("FileNotFoundError", message, 1050) from None
    try:
        if path.suffix == ".json":
            return [json.loads(text)]
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line]
        return [_yaml(text)]
    except json.JSONDecodeError as exc:
        raise FileError("json.decoder.JSONDecodeError", str(exc), 1052) from None


def _yaml(text: str) -> Any:
    """yaml.safe_load (common/args.py 1054); PyYAML is not a dependency of this project."""
    try:
        import yaml  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        raise NotSimulated("a .yaml input file needs PyYAML installed") from None
    return yaml.safe_load(text)


def read_file(path: Path, cli: dict[str, Any]) -> list[Sample]:
    """One file's samples, validated in the file's folder (common/args.py 1058-1072)."""
    records = _records(path)
    absolute = path.expanduser().absolute()
    samples: list[Sample] = []
    with contextlib.chdir(absolute.parent):
        for index, record in enumerate(records):
            data = deep_merge(record, cli) if isinstance(record, dict) else record
            try:
                samples.append(Sample(SampleOverrides.model_validate(data), absolute))
            except ValidationError as exc:
                message = (
                    f"Error validating parameters from '{absolute}' at sample {index}\n"
                    f"Parameters: {data}\n{exc}"
                )
                raise FileError("ValueError", message, 1068) from None
    for index, sample in enumerate(samples):
        if not sample.overrides.name:  # common/args.py 1008-1012
            jsonl = path.suffix.lower() == ".jsonl"
            sample.overrides.name = f"{path.stem}_{index}" if jsonl else path.stem
    return samples


def read_samples(paths: list[str], cli: dict[str, Any]) -> list[Sample]:
    """Every sample of every file, in sorted file order; NVIDIA's duplicate-name check has no
    effect (common/args.py 1005-1014 never adds to `names`), so none is made here."""
    return [sample for path in expand(paths) for sample in read_file(path, cli)]


# -- building a sample (after the model loads) --------------------------------------------


@dataclass(frozen=True)
class ModelFacts:
    """What build_sample reads from the loaded model's config (configs/model/*.yaml)."""

    resolution: str
    frames_default: int | None  # _NUM_FRAMES_DEFAULTS, args.py 1067-1072: Edge only


Warn = Callable[[str, int, str], None]  # (message, line, function) of a log.warning


def vision_mode(path: str | None) -> str | None:
    """_VisionDataBase.condition_vision_mode (args.py 382-395)."""
    if path is None:
        return None
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    raise ValueError(f"Invalid vision extension: {suffix}")


def model_mode(data: dict[str, Any]) -> str:
    """resolved_model_mode (args.py 910-918)."""
    condition = vision_mode(data.get("vision_path"))
    if data.get("model_mode") is not None:
        return str(data["model_mode"])
    output = "image" if data.get("num_frames") == 1 else "video"
    return f"{condition or 'text'}2{output}"


def build_sample(data: dict[str, Any], model: ModelFacts, warn: Warn) -> dict[str, Any]:
    """OmniSampleOverrides.build_sample on `data` (a JSON dump of the overrides), in place, so
    a sample that raises leaves the partly built fields a skip record dumps (scripts/
    inference.py 67)."""
    mode = model_mode(data)
    defaults = _defaults(data, mode)
    user = {key for key, value in data.items() if value is not None}
    merged = deep_merge(defaults, {k: v for k, v in data.items() if v is not None})
    merged = {key: value for key, value in merged.items() if key in SampleOverrides.model_fields}
    data.update(SampleOverrides.model_validate(merged).model_dump(mode="json"))
    data["model_mode"] = mode
    video = mode not in IMAGE_OUTPUT_MODES
    plain_video = video and mode not in (*ACTION_MODES, "reasoner")
    if "num_frames" not in user and plain_video and model.frames_default is not None:
        data["num_frames"] = model.frames_default
    for key, value in (("model", ""), ("extra", {}), ("num_outputs", 1)):
        data[key] = value if data[key] is None else data[key]
    if smoke():
        data["num_steps"] = min(data["num_steps"], 1)
    _build_text(data)
    _build_vision(data, model, mode, warn)
    _build_rest(data)
    _build_transfer(data, user)
    return data


def _defaults(data: dict[str, Any], mode: str) -> dict[str, Any]:
    """A defaults_file replaces the built-in per-modality file (args.py 1097-1100); the
    transfer modes share one built-in content."""
    if data.get("defaults_file"):
        loaded: dict[str, Any] = json.loads(Path(data["defaults_file"]).read_text("utf-8"))
        return loaded
    if mode not in ("text2video", "image2video", "video2video"):
        raise NotSimulated(f"model_mode {mode!r}: only video transfer samples are simulated")
    return dict(VIDEO_DEFAULTS)


class NotSimulated(Exception):
    """A valid NVIDIA input the simulator has no simulation for."""


def _build_text(data: dict[str, Any]) -> None:
    """args.py 348-374."""
    if data["prompt"] is None:
        path = data.get("prompt_path")
        if path is None:
            data["prompt"] = ""
        else:
            text = Path(path).read_text(encoding="utf-8")
            as_json = bool(_hints(data)) and Path(path).suffix.lower() == ".json"
            data["prompt"] = json.dumps(json.loads(text)) if as_json else text.strip()
    if data["negative_prompt_keep_metadata"] and data["negative_metadata_mode"] == "none":
        data["negative_metadata_mode"] = "same"


def _build_vision(data: dict[str, Any], model: ModelFacts, mode: str, warn: Warn) -> None:
    """args.py 493-552."""
    condition = vision_mode(data.get("vision_path"))
    if data["condition_frame_indexes_vision"] is None:
        data["condition_frame_indexes_vision"] = {"image": [0], "video": [0, 1]}.get(
            condition or "", []
        )
    data["condition_video_keep"] = data["condition_video_keep"] or "first"
    if mode != "image2image" and data["resolution"] is None:
        data["resolution"] = model.resolution
    if data["num_frames"] is None and mode in IMAGE_OUTPUT_MODES:
        data["num_frames"] = 1
    fps, frames = data["fps"], data["num_frames"]
    if fps is not None and not 10 <= fps <= 30:
        message = f"FPS {fps} is outside the recommended range [10, 30]. Quality may be degraded."
        warn(message, 535, "_build_vision_data")
    if frames > 1:
        top = MAX_NUM_FRAMES[data["resolution"]]
        if not MIN_NUM_FRAMES <= frames <= top:
            message = (
                f"Number of frames {frames} is outside the recommended range "
                f"[{MIN_NUM_FRAMES}, {top}]. Quality may be degraded."
            )
            warn(message, 544, "_build_vision_data")
    if smoke():
        frames = min(frames, 2)
    data["num_frames"] = math.ceil((frames - 1) / TEMPORAL_COMPRESSION) * TEMPORAL_COMPRESSION + 1


def _build_rest(data: dict[str, Any]) -> None:
    """Prompt upsampling, action and sound defaults (args.py 1023-1037, 621-629, 582-583)."""
    for key, value in (
        ("prompt_upsampler_max_tokens", 20000),
        ("prompt_upsampler_temperature", 0.7),
        ("prompt_upsampler_top_p", 0.8),
        ("prompt_upsampler_top_k", 20),
        ("prompt_upsampler_repetition_penalty", 1.0),
        ("prompt_upsampler_presence_penalty", 1.5),
        ("prompt_upsampler_seed", 3407),
        ("domain_name", ""),
        ("image_size", 256),
        ("action_chunk_size", 16),
        ("view_point", "ego_view"),
        ("enable_sound", False),
    ):
        if data.get(key) is None:
            data[key] = value


def _hints(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {key: data[key] for key in HINTS if data.get(key) is not None}


def _build_transfer(data: dict[str, Any], user: set[str]) -> None:
    """args.py 868-906."""
    if data["control_guidance"] is None:
        data["control_guidance"] = 1.0
    hints = _hints(data)
    if not hints:
        return
    if data["negative_prompt"] is None and data["negative_prompt_file"] is not None:
        raise NotSimulated("negative_prompt_file without a negative_prompt is not simulated")
    for key, value in TRANSFER_SAMPLE_DEFAULTS.items():
        if data[key] is None:
            data[key] = value
    for key, hint in hints.items():
        for name, value in TRANSFER_HINT_DEFAULTS.get(key, {}).items():
            if hint.get(name) is None:
                hint[name] = value
        if data["vision_path"] is None and hint["control_path"] is None:
            raise ValueError(
                "transfer inference requires 'vision_path' or a pre-computed 'control_path' "
                f"(hint: {key})"
            )
    if len(hints) == 1:
        for name, value in TRANSFER_DEFAULTS[next(iter(hints))].items():
            if name not in user:
                data[name] = value


# OmniSampleArgs' fields (args.py 1040-1045): what sample_args.json holds.
ARGS_FIELDS = (
    "output_dir", "model", "extra", "name", "num_outputs", "seed", "tensors_file", "pickle_file",
    "num_steps", "guidance", "guidance_interval", "normalize_cfg", "shift", "sigma_max",
    "model_mode", "prompt", "negative_prompt", "duration_template", "resolution_template",
    "negative_metadata_mode", "inverse_duration_template", "inverse_resolution_template",
    "negative_prompt_keep_metadata", "vision_path", "condition_frame_indexes_vision",
    "condition_video_keep", "resolution", "aspect_ratio", "fps", "num_frames",
    "video_save_quality", "image_save_quality", "enable_sound", "sound_path", "action_path",
    "domain_name", "image_size", "action_chunk_size", "raw_action_dim", "view_point",
    "max_new_tokens", "do_sample", "temperature", "top_k", "top_p", "repetition_penalty",
    "presence_penalty", "video_fps", "control_guidance", "control_guidance_interval", *HINTS,
    "negative_prompt_file", *TRANSFER_SAMPLE_DEFAULTS, "native_prompt_upsampling",
    "prompt_upsampler_max_tokens", "prompt_upsampler_temperature", "prompt_upsampler_top_p",
    "prompt_upsampler_top_k", "prompt_upsampler_repetition_penalty",
    "prompt_upsampler_presence_penalty", "prompt_upsampler_seed",
)  # fmt: skip


def sample_args(data: dict[str, Any]) -> dict[str, Any]:
    """The built sample as OmniSampleArgs dumps it (`_build`, common/args.py 310-312): hint
    weights resolve to 1.0 when unset (args.py 257-263)."""
    native = data.get("prompt_upsampling") is True
    built = {key: data.get(key) for key in ARGS_FIELDS} | {"native_prompt_upsampling": native}
    for key in HINTS:
        hint = built[key]
        if hint is not None:
            built[key] = {**hint, "weight": 1.0 if hint.get("weight") is None else hint["weight"]}
    return built
