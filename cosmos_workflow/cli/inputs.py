"""`cosmos input ...`: register, inspect, rename and remove input video folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from cosmos_workflow.cli.common import JsonOption, console, context, emit, new_app, table

app = new_app("Register, rename and remove input folders (RGB video plus optional controls).")


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


@app.command("rename")
def rename(
    name_or_id: str,
    new_name: Annotated[str, typer.Argument(help="The new name (as `input add --name`).")],
    as_json: JsonOption = False,
) -> None:
    """Rename an input; its prompts and runs follow it."""
    from cosmos_workflow.services import inputs

    view = inputs.rename_input(context(), name_or_id, new_name)
    emit(view, as_json, lambda v: console.print(f"input {v.id} is now named {escape(v.name)}"))


@app.command("remove")
def remove(
    name_or_id: str,
    force: Annotated[
        bool, typer.Option(help="Also delete its prompts and their finished runs' history.")
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="Say what would go; change nothing.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Remove an input (its folder stays). Refused while queued or running work uses it; an
    input with prompts or runs needs --force, which deletes them too (--dry-run lists them)."""
    from cosmos_workflow.services import inputs

    removal = inputs.remove_input(context(), name_or_id, force=force, dry_run=dry_run)
    emit(removal, as_json, _render_removal)


def _render_removal(removal: Any) -> None:
    verb = "removed" if removal.removed else "would remove"
    console.print(
        f"{verb} input {escape(removal.name)} ({removal.input_id}): "
        f"{len(removal.prompts)} prompt(s), {removal.runs} run(s) in {len(removal.jobs)} "
        f"job(s), {len(removal.files)} file(s) of its own (thumbnail, previews); its folder "
        "is kept"
    )
    for label, items in (("prompts", removal.prompts), ("jobs", removal.jobs)):
        if items:
            console.print(f"{label}: {', '.join(items)}")
