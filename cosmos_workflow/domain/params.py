"""Execution parameters of a run, their defaults per backend, and their validation.

This is the one place where parameters are checked; the CLI, the API, the UI and bulk import all
go through `validate_params`. Ranges follow NVIDIA's entry points (see docs/contracts.md)."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.domain.text import shown


class Backend(StrEnum):
    TRANSFER1 = "transfer1"
    TRANSFER2_5 = "transfer2.5"
    COSMOS3 = "cosmos3"


class Preset(StrEnum):
    """Blur strength (vis) and Canny threshold (edge) presets."""

    VERY_LOW = "very_low"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    VERY_HIGH = "very_high"


class JobKind(StrEnum):
    INFERENCE = "inference"
    UPSCALE = "upscale"
    ENHANCE = "enhance"

    @property
    def batchable(self) -> bool:
        return self is JobKind.INFERENCE


MAX_STEPS = 1000
MAX_SEED = 2**31 - 1
T1_SIGMA_MAX_RANGE = (0.0, 80.0)
T25_SIGMA_MAX_RANGE = (0.0, 200.0)
T1_GUIDANCE_RANGE = (0.0, 20.0)
T25_GUIDANCE_RANGE = (0, 7)
FPS_RANGE = (1, 120)
UPSCALE_DEFAULT_STEPS = 10
# Transfer2.5's distilled edge model is trained for 4 steps (docs/inference.md 142); at the
# general default of 35 it runs a 35-step schedule: about 9x the compute, not the trained sampler.
T25_DISTILLED_DEFAULT_STEPS = 4

# Cosmos 3 (cosmos_framework/inference/args.py at 5eee9ed, see docs/contracts.md): transfer is a
# mode of one checkpoint; the variants with a documented transfer path are Nano and Super.
C3_CHECKPOINTS = ("Cosmos3-Nano", "Cosmos3-Super")
C3_DEFAULT_CHECKPOINT = "Cosmos3-Nano"
C3_RESOLUTIONS = ("256", "480", "720", "768")  # tiers, not heights (VIDEO_RES_SIZE_INFO)
C3_DEFAULT_RESOLUTION = "720"
C3_SAMPLERS = ("unipc", "edm")
C3_GUIDANCE_RANGE = (0.0, 7.0)  # Guidance = Field(ge=0, le=7)
C3_CONTROL_GUIDANCE_RANGE = (0.0, 10.0)  # ControlGuidance = Field(ge=0, le=10)
C3_SHIFT_RANGE = (0.0, 100.0)
C3_SIGMA_MAX_RANGE = (0.0, 200.0)
C3_DEFAULT_SEED = 2026  # NVIDIA's own default is a random seed; the cookbook's specs use 2026
C3_DEFAULT_CHUNK_FRAMES = 93
C3_DEFAULT_CONDITIONAL_FRAMES = 1
C3_DEFAULT_MAX_FRAMES = 5000
MAX_FRAMES_LIMIT = 100_000
MAX_NUM_OUTPUTS = 64
# Sampling values NVIDIA fills in when exactly one hint is active and the sample leaves them
# unset (TransferDataOverrides._TRANSFER_DEFAULTS): hint -> (guidance, control_guidance, shift).
# Several hints get the generic video2video values (guidance 6, control-CFG off).
C3_HINT_DEFAULTS: dict[str, tuple[float, float, float]] = {
    "edge": (3.0, 1.5, 10.0),
    "vis": (3.0, 1.5, 10.0),  # rendered as the `blur` hint
    "depth": (3.0, 1.5, 10.0),
    "seg": (3.0, 2.0, 10.0),
    "wsm": (1.0, 3.0, 10.0),
}
C3_MULTI_HINT_DEFAULTS = (6.0, 1.0, 10.0)
C3_WSM_CHUNK_FRAMES = 101  # the wsm hint's own default (also its fps 10 and 101 frames)


@dataclass(frozen=True, slots=True)
class ExecutionParams:
    """What one run is rendered with, besides its prompt and control weights."""

    backend: Backend = Backend.TRANSFER1
    steps: int = 35
    guidance: float = 5.0
    seed: int = 1
    sigma_max: float | None = 70.0  # Transfer2.5: None = the input video is not noised
    # Cosmos 3: None = the input video's own rate, the rate NVIDIA writes (transfer.py L437).
    fps: int | None = 24
    blur: Preset = Preset.MEDIUM
    canny: Preset = Preset.MEDIUM
    distilled: bool = False
    # The `upscale` control's weight: set on upscale runs only (`upscale_params`), never given
    # as a user parameter.
    upscale_weight: float | None = None
    # Cosmos 3 only (None for the other backends). Per process: the checkpoint, the sampler and
    # the diffusion-step cache. Per sample: the rest.
    checkpoint: str | None = None
    sampler: str | None = None
    diffusion_cache: bool | None = None
    control_guidance: float | None = None
    shift: float | None = None
    resolution: str | None = None
    chunk_frames: int | None = None  # num_video_frames_per_chunk
    conditional_frames: int | None = None  # num_conditional_frames
    max_frames: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["backend"] = self.backend.value
        data["blur"] = self.blur.value
        data["canny"] = self.canny.value
        # Stored parameters of other runs stay as they were: optional fields appear when set.
        for name in OPTIONAL_FIELDS:
            if data[name] is None:
                del data[name]
        return data


# The ExecutionParams fields only Cosmos 3 has (None for the other backends).
COSMOS3_FIELDS = (
    "checkpoint",
    "sampler",
    "diffusion_cache",
    "control_guidance",
    "shift",
    "resolution",
    "chunk_frames",
    "conditional_frames",
    "max_frames",
)
OPTIONAL_FIELDS = ("upscale_weight", *COSMOS3_FIELDS)


def default_params(backend: Backend) -> ExecutionParams:
    """NVIDIA's own defaults: transfer.py for Transfer1, InferenceArguments for Transfer2.5."""
    if backend is Backend.TRANSFER2_5:
        return ExecutionParams(backend=backend, guidance=3, seed=2025, sigma_max=None)
    if backend is Backend.COSMOS3:
        guidance, control_guidance, shift = C3_MULTI_HINT_DEFAULTS
        return ExecutionParams(
            backend=backend,
            guidance=guidance,
            seed=C3_DEFAULT_SEED,
            sigma_max=None,
            fps=None,
            checkpoint=C3_DEFAULT_CHECKPOINT,
            sampler="unipc",
            diffusion_cache=True,
            control_guidance=control_guidance,
            shift=shift,
            resolution=C3_DEFAULT_RESOLUTION,
            chunk_frames=C3_DEFAULT_CHUNK_FRAMES,
            conditional_frames=C3_DEFAULT_CONDITIONAL_FRAMES,
            max_frames=C3_DEFAULT_MAX_FRAMES,
        )
    return ExecutionParams(backend=backend)


# Parameters that only Cosmos 3 reads; any other backend refuses them. `num_outputs` is a
# request's, not a run's (`num_outputs`).
COSMOS3_PARAM_NAMES = (*COSMOS3_FIELDS, "num_outputs")
COSMOS3_ONLY = frozenset(COSMOS3_PARAM_NAMES)
PARAM_NAMES = (
    "backend",
    "steps",
    "guidance",
    "seed",
    "sigma_max",
    "fps",
    "blur",
    "canny",
    "distilled",
    *COSMOS3_PARAM_NAMES,
)


def validate_params(
    raw: Mapping[str, Any], controls: Collection[str] | None = None
) -> ExecutionParams:
    """Build ExecutionParams from user input; missing values take the backend's defaults.

    `controls` (control names) are the run's: Cosmos 3 takes its guidance, control guidance and
    shift defaults from them as NVIDIA does. `num_outputs` is checked here but is not a
    parameter of a run (see `num_outputs`). Raises InvalidInput naming the field and the
    accepted range."""
    unknown = sorted(set(raw) - set(PARAM_NAMES))
    if unknown:
        raise InvalidInput(
            f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(PARAM_NAMES)}",
            field=unknown[0],
        )
    backend = _backend(raw.get("backend"))
    if backend is Backend.COSMOS3:
        return _cosmos3_params(raw, controls)
    foreign = sorted(name for name in COSMOS3_ONLY if raw.get(name) is not None)
    if foreign:
        raise InvalidInput(
            f"{foreign[0]} is a Cosmos 3 parameter; {backend.value} has none (use "
            "--backend cosmos3)",
            field=foreign[0],
        )
    base = default_params(backend)

    def given(name: str) -> Any:
        value = raw.get(name)
        return getattr(base, name) if value is None else value

    distilled = _boolean("distilled", given("distilled"))
    default_steps = base.steps
    if backend is Backend.TRANSFER2_5 and distilled:
        default_steps = T25_DISTILLED_DEFAULT_STEPS
    raw_steps = raw.get("steps")
    steps = _integer("steps", default_steps if raw_steps is None else raw_steps, 1, MAX_STEPS)
    seed = _integer("seed", given("seed"), 0, MAX_SEED)
    fps = _integer("fps", given("fps"), *FPS_RANGE)
    if backend is Backend.TRANSFER2_5:
        guidance: float = _integer("guidance", given("guidance"), *T25_GUIDANCE_RANGE)
        raw_sigma = given("sigma_max")
        sigma_max: float | None = (
            None if raw_sigma is None else _number("sigma_max", raw_sigma, *T25_SIGMA_MAX_RANGE)
        )
    else:
        guidance = _number("guidance", given("guidance"), *T1_GUIDANCE_RANGE)
        sigma_max = _number("sigma_max", given("sigma_max"), *T1_SIGMA_MAX_RANGE)
    return ExecutionParams(
        backend=backend,
        steps=steps,
        guidance=guidance,
        seed=seed,
        sigma_max=sigma_max,
        fps=fps,
        blur=_preset("blur", given("blur")),
        canny=_preset("canny", given("canny")),
        distilled=distilled,
    )


def cosmos3_sampling_defaults(controls: Collection[str] | None) -> tuple[float, float, float]:
    """(guidance, control_guidance, shift) as NVIDIA resolves them for a sample that leaves them
    unset: the hint's tuned values when exactly one hint is active, else the generic ones."""
    if controls is not None and len(set(controls)) == 1:
        return C3_HINT_DEFAULTS[next(iter(controls))]
    return C3_MULTI_HINT_DEFAULTS


def _cosmos3_params(raw: Mapping[str, Any], controls: Collection[str] | None) -> ExecutionParams:
    """Cosmos 3 parameters (OmniSampleOverrides' ranges), every value explicit: what is not given
    is what NVIDIA itself would use, so the rendered sample shows what runs."""
    if _boolean("distilled", raw.get("distilled", False)):
        raise InvalidInput(
            "Cosmos 3 has no distilled transfer checkpoint (the 4-step variants are for text "
            "and image to video); leave distilled off",
            field="distilled",
        )
    base = default_params(Backend.COSMOS3)
    guidance_default, control_default, shift_default = cosmos3_sampling_defaults(controls)

    def given(name: str, default: Any) -> Any:
        value = raw.get(name)
        return default if value is None else value

    checkpoint = _choice("checkpoint", given("checkpoint", base.checkpoint), C3_CHECKPOINTS)
    sampler = _choice("sampler", given("sampler", base.sampler), C3_SAMPLERS)
    raw_sigma = raw.get("sigma_max")
    if raw_sigma is not None and sampler != "edm":
        raise InvalidInput(
            "sigma_max is read only by the edm sampler (args.py: ignored with unipc); give "
            "--sampler edm or leave sigma_max out",
            field="sigma_max",
        )
    chunk = _integer("chunk_frames", given("chunk_frames", _chunk_default(controls)), 1, 100_000)
    conditional = _integer(
        "conditional_frames", given("conditional_frames", base.conditional_frames), 0, 100_000
    )
    if conditional >= rounded_chunk(chunk):
        raise InvalidInput(
            f"conditional_frames ({conditional}) must be below the chunk length "
            f"({rounded_chunk(chunk)} frames after rounding to 4k+1): each chunk after the "
            "first would advance by no frame",
            field="conditional_frames",
        )
    raw_fps = raw.get("fps")
    return ExecutionParams(
        backend=Backend.COSMOS3,
        steps=_integer("steps", given("steps", base.steps), 1, MAX_STEPS),
        guidance=_number("guidance", given("guidance", guidance_default), *C3_GUIDANCE_RANGE),
        seed=_integer("seed", given("seed", base.seed), 0, MAX_SEED),
        sigma_max=None
        if raw_sigma is None
        else _number("sigma_max", raw_sigma, *C3_SIGMA_MAX_RANGE),
        fps=None if raw_fps is None else _integer("fps", raw_fps, *FPS_RANGE),
        blur=_preset("blur", given("blur", base.blur)),
        canny=_preset("canny", given("canny", base.canny)),
        checkpoint=checkpoint,
        sampler=sampler,
        diffusion_cache=_boolean("diffusion_cache", given("diffusion_cache", True)),
        control_guidance=_number(
            "control_guidance",
            given("control_guidance", control_default),
            *C3_CONTROL_GUIDANCE_RANGE,
        ),
        shift=_positive("shift", given("shift", shift_default), C3_SHIFT_RANGE[1]),
        resolution=_choice("resolution", str(given("resolution", base.resolution)), C3_RESOLUTIONS),
        chunk_frames=chunk,
        conditional_frames=conditional,
        max_frames=_integer(
            "max_frames", given("max_frames", base.max_frames), 1, MAX_FRAMES_LIMIT
        ),
    )


def _chunk_default(controls: Collection[str] | None) -> int:
    if controls is not None and set(controls) == {"wsm"}:
        return C3_WSM_CHUNK_FRAMES
    return C3_DEFAULT_CHUNK_FRAMES


def rounded_chunk(frames: int) -> int:
    """The chunk length Cosmos 3 uses: rounded up to 4k+1 (transfer.py L442-443)."""
    return math.ceil((frames - 1) / 4) * 4 + 1


def num_outputs(raw: Mapping[str, Any]) -> int:
    """How many outputs each prompt of a job asks for (Cosmos 3's `num_outputs`, default 1).

    NVIDIA expands a sample with num_outputs n into n copies with seeds seed+i
    (inference.py `_finalize_sample_args_list`); the queue does the same at enqueue, one run per
    output, so each output is rated, picked and retried on its own and renders identically."""
    value = raw.get("num_outputs")
    if value is None:
        return 1
    backend = _backend(raw.get("backend"))
    if backend is not Backend.COSMOS3:
        raise InvalidInput(
            f"num_outputs is a Cosmos 3 parameter; {backend.value} has none",
            field="num_outputs",
        )
    return _integer("num_outputs", value, 1, MAX_NUM_OUTPUTS)


def with_output_seeds(params: ExecutionParams, outputs: int) -> list[ExecutionParams]:
    """The parameters of each output: seeds seed, seed+1, ... as NVIDIA expands num_outputs."""
    if params.seed + outputs - 1 > MAX_SEED:
        raise InvalidInput(
            f"seed {params.seed} with {outputs} outputs passes the largest seed {MAX_SEED}",
            field="seed",
        )
    return [replace(params, seed=params.seed + i) for i in range(outputs)]


def upscale_params(weight: float) -> ExecutionParams:
    """The parameters of a 4K upscale run: Transfer1 with the upscaler's step count and this
    weight for its `upscale` control (above 0, at most 1)."""
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0.0 < weight <= 1.0:
        raise InvalidInput("upscale weight must be above 0 and at most 1", field="weight")
    base = validate_params({"backend": Backend.TRANSFER1.value, "steps": UPSCALE_DEFAULT_STEPS})
    return replace(base, upscale_weight=float(weight))


def check_controls_for_params(controls: Collection[str], params: ExecutionParams) -> None:
    """Refuse control sets NVIDIA's entry points fail on after loading the model.

    The `wsm` hint exists only in Cosmos 3 (TransferHintKey); the Transfer entry points refuse
    the key (`extra="forbid"`) or have no such model. Distilled checkpoints exist for the edge
    control alone: Transfer1 asserts a single edge control with `--use_distilled`, Transfer2.5
    registers only `edge/distilled` (config.py 165-169) and raises KeyError for any other key
    set (inference.py 54, 66-71)."""
    if "wsm" in controls and params.backend is not Backend.COSMOS3:
        raise InvalidInput(
            f"the wsm control exists only in Cosmos 3; {params.backend.value} has no wsm model",
            field="weights",
        )
    if params.distilled and set(controls) != {"edge"}:
        given = "+".join(sorted(controls)) or "no control"
        raise InvalidInput(
            f"the distilled {params.backend.value} model takes exactly the edge control "
            f"(NVIDIA ships only an edge distilled checkpoint), not {given}",
            field="distilled",
        )


def params_from_dict(data: Mapping[str, Any]) -> ExecutionParams:
    """Rebuild stored parameters (already validated when they were queued)."""
    return ExecutionParams(
        backend=Backend(data["backend"]),
        steps=int(data["steps"]),
        guidance=data["guidance"],
        seed=int(data["seed"]),
        sigma_max=None if data.get("sigma_max") is None else float(data["sigma_max"]),
        fps=None if data.get("fps") is None else int(data["fps"]),
        blur=Preset(data["blur"]),
        canny=Preset(data["canny"]),
        distilled=bool(data.get("distilled", False)),
        upscale_weight=_optional_float(data.get("upscale_weight")),
        checkpoint=data.get("checkpoint"),
        sampler=data.get("sampler"),
        diffusion_cache=None
        if data.get("diffusion_cache") is None
        else bool(data["diffusion_cache"]),
        control_guidance=_optional_float(data.get("control_guidance")),
        shift=_optional_float(data.get("shift")),
        resolution=None if data.get("resolution") is None else str(data["resolution"]),
        chunk_frames=_optional_int(data.get("chunk_frames")),
        conditional_frames=_optional_int(data.get("conditional_frames")),
        max_frames=_optional_int(data.get("max_frames")),
    )


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _backend(value: Any) -> Backend:
    if value is None:
        return Backend.TRANSFER1
    try:
        return Backend(str(value).strip().lower())
    except ValueError:
        known = ", ".join(b.value for b in Backend)
        raise InvalidInput(
            f"unknown backend {shown(value)}; known: {known}", field="backend"
        ) from None


def _preset(name: str, value: Any) -> Preset:
    try:
        return Preset(str(value).strip().lower())
    except ValueError:
        known = ", ".join(p.value for p in Preset)
        raise InvalidInput(
            f"unknown {name} preset {shown(value)}; known: {known}", field=name
        ) from None


def _choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """One of `choices`, matched without regard to case and returned in NVIDIA's spelling."""
    text = str(value).strip()
    for choice in choices:
        if text.lower() == choice.lower():
            return choice
    raise InvalidInput(f"unknown {name} {shown(value)}; known: {', '.join(choices)}", field=name)


def _positive(name: str, value: Any, high: float) -> float:
    number = _number(name, value, 0.0, high)
    if number <= 0.0:
        raise InvalidInput(f"{name} must be above 0, got {shown(value)}", field=name)
    return number


def _integer(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise InvalidInput(f"{name} must be a whole number, got {shown(value)}", field=name)
    try:
        number = int(value) if not isinstance(value, float) else None
    except (TypeError, ValueError):
        number = None
    if isinstance(value, float) and value.is_integer():
        number = int(value)
    if number is None:
        raise InvalidInput(f"{name} must be a whole number, got {shown(value)}", field=name)
    if not low <= number <= high:
        raise InvalidInput(f"{name} must be between {low} and {high}, got {number}", field=name)
    return number


def _number(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool):
        raise InvalidInput(f"{name} must be a number, got {shown(value)}", field=name)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be a number, got {shown(value)}", field=name) from None
    if not math.isfinite(number) or not low <= number <= high:
        raise InvalidInput(
            f"{name} must be between {low:g} and {high:g}, got {shown(value)}", field=name
        )
    return number


def _boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes"}:
        return True
    if text in {"0", "false", "no"}:
        return False
    raise InvalidInput(f"{name} must be true or false, got {shown(value)}", field=name)
