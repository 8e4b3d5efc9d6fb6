"""Inputs: a gallery of registered input folders, their details with a player for the video and
each control video, registering a new one, renaming one and removing one (after a confirmation
that lists what goes with it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from cosmos_workflow.domain.controls import Control
from cosmos_workflow.services import inputs
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.inputs import InputRemoval
from cosmos_workflow.services.media import playable_video, previews_dir, served_dirs
from cosmos_workflow.services.views import InputView
from cosmos_workflow.ui.common import shown_errors, when_text

CONTROLS = [c.value for c in Control]
PICK = "Select an input to see its frames, fps, size and controls."


def _caption(view: InputView) -> str:
    """The name under each thumbnail: what the other tabs and commands call the input."""
    return view.name


def _removal_text(removal: InputRemoval) -> str:
    """What the confirmation lists: everything that goes, and what stays."""
    lines = [
        f"**Remove input {removal.name}** (`{removal.input_id}`)? This deletes:",
        f"- {len(removal.prompts)} prompt(s)"
        + (": " + ", ".join(f"`{p}`" for p in removal.prompts) if removal.prompts else ""),
        f"- {removal.runs} finished run(s) in {len(removal.jobs)} job(s)"
        + (": " + ", ".join(f"`{j}`" for j in removal.jobs) if removal.jobs else ""),
        f"- {len(removal.files)} file(s) made for it (thumbnail, previews)",
        "",
        "Its folder and videos are kept. Rendered outputs of its runs stay on disk.",
    ]
    return "\n".join(lines)


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
            details = gr.Markdown(PICK, elem_id="inputs-details")
            video = gr.Video(label="Input video", interactive=False, elem_id="inputs-video")
            with gr.Row():
                players = [
                    gr.Video(
                        label=f"{control} control",
                        interactive=False,
                        visible=False,
                        elem_id=f"inputs-control-{control}",
                    )
                    for control in CONTROLS
                ]
    with gr.Accordion("Rename or remove the selected input", open=True):
        with gr.Row():
            new_name = gr.Textbox(label="New name", elem_id="inputs-new-name", scale=3)
            rename = gr.Button("Rename", elem_id="inputs-rename", scale=1)
            remove = gr.Button("Remove...", variant="stop", elem_id="inputs-remove", scale=1)
        confirmation = gr.Markdown(elem_id="inputs-remove-confirmation")
        with gr.Row():
            confirm = gr.Button(
                "Remove it and all of this",
                variant="stop",
                visible=False,
                elem_id="inputs-remove-confirm",
            )
            keep = gr.Button("Keep it", visible=False, elem_id="inputs-remove-keep")
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
    chosen = gr.State(None)  # the selected input's id
    pending = gr.State(None)  # the removal the confirmation shows, as shown

    def load() -> tuple[list[tuple[str, str]], list[str]]:
        views = inputs.list_inputs(ctx)
        items = [(v.thumbnail_path, _caption(v)) for v in views if v.thumbnail_path]
        return items, [v.id for v in views if v.thumbnail_path]

    def playable(path: str | None) -> str | None:
        found = playable_video(Path(path), previews, served) if path else None
        return str(found) if found else None

    def select(ids: list[str], event: gr.SelectData) -> tuple[Any, ...]:
        view = inputs.show_input(ctx, ids[event.index])
        controls = [
            gr.update(value=playable(view.controls.get(c)), visible=c in view.controls)
            for c in CONTROLS
        ]
        return (
            _details(view),
            playable(view.video_path),
            *controls,
            view.id,
            view.name,
            *_closed(""),
        )

    def _closed(message: str) -> tuple[Any, ...]:
        """The confirmation put away: its text, both buttons hidden, nothing pending."""
        return message, gr.update(visible=False), gr.update(visible=False), None

    def _selected(input_id: str | None) -> str:
        if not input_id:
            raise gr.Error("Select an input in the gallery first.")
        return input_id

    @shown_errors
    def do_rename(input_id: str | None, name: str | None) -> tuple[Any, ...]:
        view = inputs.rename_input(ctx, _selected(input_id), name or "")
        gr.Info(f"Renamed input {view.id} to {view.name}.")
        return (*load(), _details(view), view.name)

    @shown_errors
    def ask_removal(input_id: str | None) -> tuple[Any, ...]:
        removal = inputs.remove_input(ctx, _selected(input_id), dry_run=True)
        shown = gr.update(visible=True)
        return _removal_text(removal), shown, shown, removal.model_dump()

    @shown_errors
    def do_remove(input_id: str | None, shown: dict[str, Any] | None) -> tuple[Any, ...]:
        removal = inputs.remove_input(ctx, _selected(input_id), dry_run=True)
        if removal.model_dump() != shown:
            # Prompts or runs came (or went) since the confirmation was shown: show them first.
            gr.Warning("What removing it deletes changed since it was shown: check it again.")
            unchanged = [gr.skip()] * (4 + len(players))
            visible = gr.update(visible=True)
            return (
                *unchanged,
                input_id,
                _removal_text(removal),
                visible,
                visible,
                removal.model_dump(),
            )
        done = inputs.remove_input(ctx, removal.input_id, force=True)
        gr.Info(f"Removed input {done.name} and its {len(done.prompts)} prompt(s).")
        emptied = [gr.update(value=None, visible=False)] * len(players)
        return (*load(), PICK, None, *emptied, None, *_closed(""))

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

    closing = [confirmation, confirm, keep, pending]
    refresh.click(load, outputs=[gallery, listed])
    gallery.select(
        shown_errors(select),
        inputs=[listed],
        outputs=[details, video, *players, chosen, new_name, *closing],
    )
    register.click(add, inputs=[folder, name], outputs=[gallery, listed, details])
    rename.click(do_rename, inputs=[chosen, new_name], outputs=[gallery, listed, details, new_name])
    remove.click(ask_removal, inputs=[chosen], outputs=closing)
    confirm.click(
        do_remove,
        inputs=[chosen, pending],
        outputs=[gallery, listed, details, video, *players, chosen, *closing],
    )
    keep.click(lambda: _closed(""), outputs=closing)
    return {"load": (load, [gallery, listed])}
