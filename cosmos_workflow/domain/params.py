"""Execution parameters of a run, their defaults per backend, and their validation.

This is the one place where parameters are checked; the CLI, the API, the UI and bulk import all
go through `validate_params`. Ranges follow NVIDIA's entry points (see docs/contracts.md)."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.domain.text import shown


class Backend(StrEnum):
    TRANSFER1 = "transfer1"
    TRANSFER2_5 = "transfer2.5"


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


@dataclass(frozen=True, slots=True)
class ExecutionParams:
    """What one run is rendered with, besides its prompt and control weights."""

    backend: Backend = Backend.TRANSFER1
    steps: int = 35
    guidance: float = 5.0
    seed: int = 1
    sigma_max: float | None = 70.0  # Transfer2.5: None = the input video is not noised
    fps: int = 24
    blur: Preset = Preset.MEDIUM
    canny: Preset = Preset.MEDIUM
    distilled: bool = False
    # The `upscale` control's weight: set on upscale runs only (`upscale_params`), never given
    # as a user parameter.
    upscale_weight: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["backend"] = self.backend.value
        data["blur"] = self.blur.value
        data["canny"] = self.canny.value
        if self.upscale_weight is None:
            del data["upscale_weight"]  # stored parameters of other runs stay as they were
        return data


def default_params(backend: Backend) -> ExecutionParams:
    """NVIDIA's own defaults: transfer.py for Transfer1, InferenceArguments for Transfer2.5."""
    if backend is Backend.TRANSFER2_5:
        return ExecutionParams(backend=backend, guidance=3, seed=2025, sigma_max=None)
    return ExecutionParams(backend=backend)


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
)


def validate_params(raw: Mapping[str, Any]) -> ExecutionParams:
    """Build ExecutionParams from user input; missing values take the backend's defaults.

    Raises InvalidInput naming the field and the accepted range."""
    unknown = sorted(set(raw) - set(PARAM_NAMES))
    if unknown:
        raise InvalidInput(
            f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(PARAM_NAMES)}",
            field=unknown[0],
        )
    backend = _backend(raw.get("backend"))
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


def upscale_params(weight: float) -> ExecutionParams:
    """The parameters of a 4K upscale run: Transfer1 with the upscaler's step count and this
    weight for its `upscale` control (above 0, at most 1)."""
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0.0 < weight <= 1.0:
        raise InvalidInput("upscale weight must be above 0 and at most 1", field="weight")
    base = validate_params({"backend": Backend.TRANSFER1.value, "steps": UPSCALE_DEFAULT_STEPS})
    return replace(base, upscale_weight=float(weight))


def check_controls_for_params(controls: Collection[str], params: ExecutionParams) -> None:
    """Refuse control sets NVIDIA's entry points fail on after loading the model.

    Distilled checkpoints exist for the edge control alone: Transfer1 asserts a single edge
    control with `--use_distilled`, Transfer2.5 registers only `edge/distilled` (config.py
    165-169) and raises KeyError for any other key set (inference.py 54, 66-71)."""
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
        fps=int(data["fps"]),
        blur=Preset(data["blur"]),
        canny=Preset(data["canny"]),
        distilled=bool(data.get("distilled", False)),
        upscale_weight=_optional_float(data.get("upscale_weight")),
    )


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
