"""Inputs: a gallery of registered input folders, their details, and registering a new one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from cosmos_workflow.services import inputs
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.views import InputView
from cosmos_workflow.ui.common import shown_errors, when_text
from cosmos_workflow.ui.media import playable_video, previews_dir, served_dirs


def _caption(view: InputView) -> str:
    controls = ", ".join(sorted(view.controls)) or "no control videos"
    return f"{view.name} ({controls})"


def _details(view: InputView) -> str:
    rows = [
        f"### {view.name}",
        f"- id: `{view.id}`",
        f"- folder: `{view.folder}`",
        f"- video: `{Path(view.video_path).name}`: {view.frames} frames at {view.fps:g} fps "
        f"({view.duration_seconds:g} s), {view.width}x{view.height}",
        "- control videos: "
        + (
            ", ".join(f"{c} (`{Path(p).name}`)" for c, p in sorted(view.controls.items()))
            or "none (controls are computed on the fly)"
        ),
        f"- registered: {when_text(view.created_at)}",
    ]
    return "\n".join(rows)


def build(ctx: Context) -> dict[str, Any]:
    previews, served = previews_dir(ctx.settings), served_dirs(ctx.settings)
    with gr.Row():
        with gr.Column(scale=3):
            gallery = gr.Gallery(
                label="Registered inputs (click one for details)",
                columns=4,
                height=320,
                allow_preview=False,
                object_fit="contain",
                elem_id="inputs-gallery",
            )
            refresh = gr.Button("Refresh", size="sm", elem_id="inputs-refresh")
        with gr.Column(scale=2):
            details = gr.Markdown(
                "Select an input to see its frames, fps, size and controls.",
                elem_id="inputs-details",
            )
            video = gr.Video(label="Input video", interactive=False, elem_id="inputs-video")
    with gr.Accordion("Register an input folder", open=True):
        gr.Markdown(
            "A folder holding the RGB video (`color.mp4`, `rgb.mp4` or `input.mp4`) and optional "
            "control videos named `depth`, `seg`, `edge` or `vis`, with as many frames. The folder "
            "must lie under an allowed input root: "
            + ", ".join(f"`{r}`" for r in ctx.settings.allowed_input_roots)
        )
        with gr.Row():
            folder = gr.Textbox(
                label="Folder path",
                placeholder="/data/scenes/warehouse",
                elem_id="inputs-folder",
                scale=3,
            )
            name = gr.Textbox(
                label="Name (optional, default: folder name)", elem_id="inputs-name", scale=2
            )
        register = gr.Button("Register folder", variant="primary", elem_id="inputs-register")
    listed = gr.State([])

    def load() -> tuple[list[tuple[str, str]], list[str]]:
        views = inputs.list_inputs(ctx)
        items = [(v.thumbnail_path, _caption(v)) for v in views if v.thumbnail_path]
        return items, [v.id for v in views if v.thumbnail_path]

    def select(ids: list[str], event: gr.SelectData) -> tuple[str, str | None]:
        view = inputs.show_input(ctx, ids[event.index])
        playable = playable_video(Path(view.video_path), previews, served)
        return _details(view), str(playable) if playable else None

    @shown_errors
    def add(
        path: str | None, given_name: str | None
    ) -> tuple[list[tuple[str, str]], list[str], str]:
        path = (path or "").strip()
        if not path:
            raise gr.Error("Folder path is empty: type the folder that holds the input videos.")
        view = inputs.add_input(ctx, Path(path), name=(given_name or "").strip() or None)
        gr.Info(f"Registered input {view.name} ({view.frames} frames).")
        items, ids = load()
        return items, ids, _details(view)

    refresh.click(load, outputs=[gallery, listed])
    gallery.select(shown_errors(select), inputs=[listed], outputs=[details, video])
    register.click(add, inputs=[folder, name], outputs=[gallery, listed, details])
    return {"load": (load, [gallery, listed])}
