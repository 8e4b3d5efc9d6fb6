"""`cosmos input ...`: register and inspect input video folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cosmos_workflow.cli.common import JsonOption, console, context, emit, new_app, table

app = new_app("Register input video folders (RGB video plus optional control videos).")


def _render_inputs(inputs: list[Any]) -> None:
    console.print(
        table(
            "Inputs",
            ["id", "name", "frames", "fps", "size", "controls"],
            (
                [
                    i.id,
                    i.name,
                    i.frames,
                    f"{i.fps:g}",
                    f"{i.width}x{i.height}",
                    ",".join(sorted(i.controls)) or "-",
                ]
                for i in inputs
            ),
        )
    )


@app.command("add")
def add(
    folder: Annotated[Path, typer.Argument(help="Folder with color.mp4/rgb.mp4/input.mp4.")],
    name: Annotated[str | None, typer.Option(help="Name (default: the folder's name).")] = None,
    video: Annotated[Path | None, typer.Option(help="The RGB video, if not found by name.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Register a folder: probes every video and checks controls match the RGB video."""
    from cosmos_workflow.services import inputs

    view = inputs.add_input(context(), folder, name=name, video=video)
    emit(view, as_json, lambda v: _render_inputs([v]))


@app.command("list")
def list_(as_json: JsonOption = False) -> None:
    """List registered inputs."""
    from cosmos_workflow.services import inputs

    views = inputs.list_inputs(context())
    emit(
        {"inputs": [v.model_dump(mode="json") for v in views]},
        as_json,
        lambda _: _render_inputs(views),
    )


@app.command("show")
def show(name_or_id: str, as_json: JsonOption = False) -> None:
    """Show one input with its control videos."""
    from cosmos_workflow.services import inputs

    view = inputs.show_input(context(), name_or_id)

    def render(v: Any) -> None:
        _render_inputs([v])
        console.print(f"video: {v.video_path}")
        for control, path in sorted(v.controls.items()):
            console.print(f"{control}: {path}")

    emit(view, as_json, render)
