"""Register and look up input folders: the RGB video plus optional precomputed control videos."""

from __future__ import annotations

import logging
from pathlib import Path

from cosmos_workflow.domain.controls import CONTROL_ALIASES, Control
from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.domain.ids import new_id
from cosmos_workflow.services import media
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.views import InputView
from cosmos_workflow.store import catalog

log = logging.getLogger(__name__)

RGB_STEMS = ("color", "rgb", "input")


def confine_path(ctx: Context, path: Path, what: str) -> Path:
    """Resolve a user-given path and refuse it unless it lies under a configured input root."""
    resolved = path.expanduser().resolve()
    roots = ctx.settings.allowed_input_roots
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        listed = ", ".join(str(r) for r in roots)
        raise InvalidInput(
            f"{what} {resolved} is outside the allowed input roots ({listed}); "
            "add its parent to input_roots in cosmos.toml or COSMOS_INPUT_ROOTS",
            field="path",
        )
    return resolved


def add_input(
    ctx: Context, folder: Path, *, name: str | None = None, video: Path | None = None
) -> InputView:
    folder = confine_path(ctx, folder, "input folder")
    if not folder.is_dir():
        raise InvalidInput(f"{folder} is not a folder", field="path")
    name = (name or folder.name).strip()
    if not name or len(name) > 200:
        raise InvalidInput("an input name must be 1 to 200 characters", field="name")
    rgb = _find_rgb_video(ctx, folder, video)
    rgb_info = media.probe_video(rgb)
    controls = _find_controls(folder, exclude=rgb)
    for control, path in controls.items():
        info = media.probe_video(path)
        if info.frames != rgb_info.frames:
            raise InvalidInput(
                f"{path.name}: the {control.value} control has {info.frames} frames but "
                f"{rgb.name} has {rgb_info.frames}; control videos must match the RGB video",
                field="path",
            )
    input_id = new_id("in")
    thumbnail = media.write_thumbnail(rgb, ctx.settings.home / "thumbnails" / f"{input_id}.jpg")
    with ctx.db.write() as session:
        if catalog.input_name_taken(session, name):
            raise InvalidInput(f"an input named {name!r} exists already; pass --name", field="name")
        new = catalog.NewInput(
            id=input_id,
            name=name,
            folder=str(folder),
            video_path=str(rgb),
            frames=rgb_info.frames,
            fps=rgb_info.fps,
            width=rgb_info.width,
            height=rgb_info.height,
            controls={c.value: str(p) for c, p in controls.items()},
            thumbnail_path=str(thumbnail) if thumbnail else None,
        )
        row = catalog.add_input(session, new)
    log.info("registered input=%s name=%s controls=%s", input_id, name, sorted(row.controls))
    return InputView.of(row)


def _find_rgb_video(ctx: Context, folder: Path, video: Path | None) -> Path:
    if video is not None:
        path = video if video.is_absolute() else folder / video
        path = confine_path(ctx, path, "video")
        if not path.is_file():
            raise InvalidInput(f"video file {path} does not exist", field="video")
        return path
    for stem in RGB_STEMS:
        for ext in media.VIDEO_EXTENSIONS:
            candidate = folder / f"{stem}{ext}"
            if candidate.is_file():
                return candidate
    raise InvalidInput(
        f"{folder} has no RGB video: name it color.mp4, rgb.mp4 or input.mp4, or pass --video FILE",
        field="video",
    )


def _find_controls(folder: Path, exclude: Path) -> dict[Control, Path]:
    found: dict[Control, Path] = {}
    for path in sorted(folder.iterdir()):
        if path == exclude or path.suffix.lower() not in media.VIDEO_EXTENSIONS:
            continue
        control = CONTROL_ALIASES.get(path.stem.lower())
        if control is None:
            continue
        if control in found:
            raise InvalidInput(
                f"{folder} has two {control.value} control videos: {found[control].name} and "
                f"{path.name}; keep one",
                field="path",
            )
        found[control] = path
    return found


def list_inputs(ctx: Context) -> list[InputView]:
    with ctx.db.read() as session:
        return [InputView.of(row) for row in catalog.list_inputs(session)]


def show_input(ctx: Context, name_or_id: str) -> InputView:
    with ctx.db.read() as session:
        return InputView.of(catalog.find_input(session, name_or_id))
