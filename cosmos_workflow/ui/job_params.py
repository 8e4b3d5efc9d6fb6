"""The advanced job parameters as form fields, shared by single jobs and sweeps in the Prompts
tab, so both offer the same parameters and read them the same way. The Cosmos 3 parameters are
shown when the backend is cosmos3, the distilled flag when it is not; a hidden field is not
sent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gradio as gr

from cosmos_workflow.domain import params as limits
from cosmos_workflow.domain.params import COSMOS3_ONLY, PARAM_NAMES, Backend, Preset

PRESETS = ["", *[p.value for p in Preset]]
CACHE_CHOICES = {"": None, "on": True, "off": False}


def fields(prefix: str) -> list[Any]:
    """One field per parameter, in PARAM_NAMES order (element ids start with `prefix`)."""
    with gr.Accordion("Advanced parameters (empty or 0 = the backend's default)", open=False):
        with gr.Row():
            backend = gr.Dropdown(
                [b.value for b in Backend],
                value=Backend.TRANSFER1.value,
                label="Backend",
                elem_id=f"{prefix}-backend",
            )
            steps = gr.Number(None, precision=0, label="Steps", elem_id=f"{prefix}-steps")
            guidance = gr.Number(None, label="Guidance", elem_id=f"{prefix}-guidance")
            seed = gr.Number(None, precision=0, label="Seed", elem_id=f"{prefix}-seed")
        with gr.Row():
            sigma_max = gr.Number(
                None, label="Sigma max (Cosmos 3: edm only)", elem_id=f"{prefix}-sigma-max"
            )
            fps = gr.Number(
                None,
                precision=0,
                label="Output fps (Cosmos 3: the input's)",
                elem_id=f"{prefix}-fps",
            )
            blur = gr.Dropdown(
                PRESETS, value="", label="vis (blur) preset", elem_id=f"{prefix}-blur"
            )
            canny = gr.Dropdown(PRESETS, value="", label="edge canny", elem_id=f"{prefix}-canny")
            distilled = gr.Checkbox(
                False, label="Distilled edge model", elem_id=f"{prefix}-distilled"
            )
        cosmos3, group = _cosmos3_fields(prefix)
    backend.change(
        _shown,
        inputs=[backend],
        outputs=[group, distilled],
        show_progress="hidden",
        queue=False,
    )
    common = [backend, steps, guidance, seed, sigma_max, fps, blur, canny, distilled]
    return [*common, *cosmos3]


def _cosmos3_fields(prefix: str) -> tuple[list[Any], Any]:
    """The Cosmos 3 parameters (PARAM_NAMES order) in a group shown for the cosmos3 backend."""
    with gr.Group(visible=False) as group:
        gr.Markdown("Cosmos 3 (empty or 0 = NVIDIA's default for the chosen controls)")
        with gr.Row():
            checkpoint = gr.Dropdown(
                ["", *limits.C3_CHECKPOINTS],
                value="",
                label="Checkpoint",
                elem_id=f"{prefix}-checkpoint",
            )
            sampler = gr.Dropdown(
                ["", *limits.C3_SAMPLERS], value="", label="Sampler", elem_id=f"{prefix}-sampler"
            )
            cache = gr.Dropdown(
                list(CACHE_CHOICES),
                value="",
                label="Diffusion cache",
                elem_id=f"{prefix}-diffusion-cache",
            )
            control_guidance = gr.Number(
                None, label="Control guidance (0-10)", elem_id=f"{prefix}-control-guidance"
            )
            shift = gr.Number(None, label="Shift", elem_id=f"{prefix}-shift")
        with gr.Row():
            resolution = gr.Dropdown(
                ["", *limits.C3_RESOLUTIONS],
                value="",
                label="Resolution tier",
                elem_id=f"{prefix}-resolution",
            )
            chunk = gr.Number(
                None, precision=0, label="Chunk frames", elem_id=f"{prefix}-chunk-frames"
            )
            conditional = gr.Number(
                None,
                precision=0,
                label="Conditional frames",
                elem_id=f"{prefix}-conditional-frames",
            )
            max_frames = gr.Number(
                None, precision=0, label="Max frames", elem_id=f"{prefix}-max-frames"
            )
            outputs = gr.Number(
                None,
                precision=0,
                label="Outputs per prompt (seeds s, s+1, ...)",
                elem_id=f"{prefix}-num-outputs",
            )
    values = [
        checkpoint,
        sampler,
        cache,
        control_guidance,
        shift,
        resolution,
        chunk,
        conditional,
        max_frames,
        outputs,
    ]
    return values, group


def _shown(backend: str | None) -> tuple[Any, Any]:
    """The Cosmos 3 group for cosmos3, the distilled flag for the other backends."""
    cosmos3 = backend == Backend.COSMOS3.value
    return gr.update(visible=cosmos3), gr.update(visible=not cosmos3)


def chosen(values: Sequence[Any]) -> dict[str, Any]:
    """The parameters given, by name. An empty field leaves the backend's default (a number
    field left empty reads 0, so 0 does too), and a field the chosen backend does not show (a
    Cosmos 3 one, or distilled for cosmos3) is not sent."""
    raw = dict(zip(PARAM_NAMES, values, strict=True))
    cache = CACHE_CHOICES.get(raw.pop("diffusion_cache") or "")
    hidden = {"distilled"} if raw["backend"] == Backend.COSMOS3.value else COSMOS3_ONLY
    given = {k: v for k, v in raw.items() if k not in hidden and v not in (None, "", 0)}
    if cache is not None and "diffusion_cache" not in hidden:
        given["diffusion_cache"] = cache
    return given
