"""The advanced job parameters as form fields, shared by single jobs and sweeps in the Prompts
tab, so both offer the same parameters and read them the same way."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gradio as gr

from cosmos_workflow.domain.params import PARAM_NAMES, Backend, Preset

PRESETS = ["", *[p.value for p in Preset]]


def fields(prefix: str) -> list[Any]:
    """One field per parameter, in PARAM_NAMES order (element ids start with `prefix`)."""
    with gr.Accordion("Advanced parameters (empty = the backend's default)", open=False):
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
            sigma_max = gr.Number(None, label="Sigma max", elem_id=f"{prefix}-sigma-max")
            fps = gr.Number(None, precision=0, label="Output fps", elem_id=f"{prefix}-fps")
            blur = gr.Dropdown(PRESETS, value="", label="vis blur", elem_id=f"{prefix}-blur")
            canny = gr.Dropdown(PRESETS, value="", label="edge canny", elem_id=f"{prefix}-canny")
            distilled = gr.Checkbox(
                False, label="Distilled edge model", elem_id=f"{prefix}-distilled"
            )
    return [backend, steps, guidance, seed, sigma_max, fps, blur, canny, distilled]


def chosen(values: Sequence[Any]) -> dict[str, Any]:
    """The parameters given, by name: an empty field leaves the backend's default."""
    raw = dict(zip(PARAM_NAMES, values, strict=True))
    return {k: v for k, v in raw.items() if v not in (None, "", False)}
