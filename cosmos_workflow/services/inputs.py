"""Register, look up, rename and remove input folders: the RGB video plus optional precomputed
control videos. The user's folder is only ever read: removing an input deletes its records and
the files the product made for it under COSMOS_HOME (its thumbnail and browser previews)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from cosmos_workflow.domain.controls import CONTROL_ALIASES, Control
from cosmos_workflow.domain.errors import Conflict, InvalidInput
from cosmos_workflow.domain.ids import new_id
from cosmos_workflow.domain.states import RunStatus
from cosmos_workflow.domain.text import MAX_NAME_CHARS, check_line, check_path
from cosmos_workflow.domain.work import VideoInfo
from cosmos_workflow.services import media
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.views import InputView
from cosmos_workflow.store import catalog
from cosmos_workflow.store.models import InputRow, RunRow
from cosmos_workflow.store.session import Session

log = logging.getLogger(__name__)

RGB_STEMS = ("color", "rgb", "input")


class InputRemoval(BaseModel):
    """What removing an input deletes, or with a dry run would delete."""

    input_id: str
    name: str
    removed: bool  # false for a dry run
    prompts: list[str]  # the input's prompts: all of them go
    runs: int  # their runs, all finished: the history goes with them
    jobs: list[str]  # the jobs those runs are in; a job left with no run is deleted
    files: list[str]  # files the product made under COSMOS_HOME: the thumbnail, previews


def confine_path(ctx: Context, path: Path, what: str) -> Path:
    """Resolve a user-given path (its links followed) and refuse it unless it lies under a
    configured input root."""
    check_path(path, "path")
    try:
        resolved = path.expanduser().resolve()
    except (OSError, RuntimeError) as exc:  # a link loop, a home that cannot be expanded
        raise InvalidInput(f"{what} {path} cannot be resolved: {exc}", field="path") from None
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
    name = _input_name(folder, name)
    with ctx.db.read() as session:  # before any probe or thumbnail: a refusal leaves nothing
        _require_free_name(session, name)
    rgb = _find_rgb_video(ctx, folder, video)
    rgb_info = media.probe_video(rgb)
    controls = {
        control: confine_file(ctx, path, f"the {control.value} control")
        for control, path in _find_controls(folder, exclude=rgb).items()
    }
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
    try:
        row = _register(ctx, input_id, name, folder, rgb, rgb_info, controls, thumbnail)
    except BaseException:
        if thumbnail:
            thumbnail.unlink(missing_ok=True)  # the name was taken meanwhile: nothing is kept
        raise
    log.info("registered input=%s name=%s controls=%s", input_id, name, sorted(row.controls))
    return InputView.of(row)


def _input_name(folder: Path, name: str | None) -> str:
    """The given name, or the folder's own (which may hold anything a file name can); an empty
    name given is no name."""
    if name:
        return _given_name(name)
    chosen = folder.name.strip()
    if not chosen or len(chosen) > MAX_NAME_CHARS:
        raise InvalidInput("an input name must be 1 to 200 characters", field="name")
    check_line(chosen, "the folder's name (pass --name)", max_chars=MAX_NAME_CHARS)
    return chosen


def _given_name(name: str) -> str:
    """A name the user typed, at registration or to rename: one line of at most 200
    characters, its surrounding blanks dropped, not blank."""
    check_line(name, "name", max_chars=MAX_NAME_CHARS)
    chosen = name.strip()
    if not chosen:
        raise InvalidInput("an input name must be 1 to 200 characters", field="name")
    return chosen


def _require_free_name(session: Session, name: str) -> None:
    if catalog.input_name_taken(session, name):
        raise InvalidInput(f"an input named {name!r} exists already; pass --name", field="name")


def _register(
    ctx: Context,
    input_id: str,
    name: str,
    folder: Path,
    rgb: Path,
    rgb_info: VideoInfo,
    controls: dict[Control, Path],
    thumbnail: Path | None,
) -> InputRow:
    with ctx.db.write() as session:
        _require_free_name(session, name)  # again: another registration may have taken it
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
        return catalog.add_input(session, new)


def confine_file(ctx: Context, path: Path, what: str) -> Path:
    """A file of an input, its links resolved (strictly: it must exist), refused unless the file
    it finally names lies under an input root. A folder inside the roots may not lend out a file
    from elsewhere through a link."""
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):  # missing, a dangling link or a link loop
        raise InvalidInput(
            f"{what} {path} does not exist or is a broken link", field="path"
        ) from None
    try:
        confined = confine_path(ctx, resolved, what)
    except InvalidInput:
        linked = f" (a link to {resolved})" if resolved != path else ""
        raise InvalidInput(
            f"{what} {path}{linked} is outside the allowed input roots; copy the file into "
            "the folder or add its place to input_roots",
            field="path",
        ) from None
    if not confined.is_file():
        raise InvalidInput(f"{what} {path} is not a file", field="path")
    return confined


def _find_rgb_video(ctx: Context, folder: Path, video: Path | None) -> Path:
    if video is not None:
        check_path(video, "video")
        path = video if video.is_absolute() else folder / video
        if not path.is_file():
            raise InvalidInput(f"video file {path} does not exist", field="video")
        return confine_file(ctx, path, "video")
    for stem in RGB_STEMS:
        for ext in media.VIDEO_EXTENSIONS:
            candidate = folder / f"{stem}{ext}"
            if candidate.is_file():
                return confine_file(ctx, candidate, "video")
    raise InvalidInput(
        f"{folder} has no RGB video: name it color.mp4, rgb.mp4 or input.mp4, or pass --video FILE",
        field="video",
    )


def _find_controls(folder: Path, exclude: Path) -> dict[Control, Path]:
    found: dict[Control, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in media.VIDEO_EXTENSIONS or path.resolve() == exclude:
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
    check_line(name_or_id, "input")
    with ctx.db.read() as session:
        return InputView.of(catalog.find_input(session, name_or_id))


def rename_input(ctx: Context, name_or_id: str, new_name: str) -> InputView:
    """Give an input another name, under the rules of a name given at registration. Its prompts
    and runs point at its id, so they follow; renaming to its own name changes nothing."""
    check_line(name_or_id, "input")
    name = _given_name(new_name)
    with ctx.db.write() as session:
        row = catalog.find_input(session, name_or_id)
        if row.name == name:
            return InputView.of(row)
        other = catalog.input_claiming(session, name, other_than=row.id)
        if other is not None:
            taken = (
                f"input {other.id} is named {name!r} already"
                if other.name == name
                else f"{name!r} is the id of input {other.id}"
            )
            raise Conflict(f"{taken}; choose another name", field="name")
        previous = row.name
        view = InputView.of(catalog.rename_input(session, row, name))
    log.info("renamed input=%s from %s to %s", view.id, previous, name)
    return view


def remove_input(
    ctx: Context, name_or_id: str, *, force: bool = False, dry_run: bool = False
) -> InputRemoval:
    """Remove an input with its prompts and their runs' history (as `delete_prompt` deletes a
    prompt's), and the files the product made for it; its folder and videos stay untouched.

    Refused while queued or running work uses it (a run of one of its prompts), dry run or not:
    cancel those jobs first. With prompts or runs to delete, refused unless `force`: the answer
    lists what would go. `dry_run` answers what would go and changes nothing."""
    check_line(name_or_id, "input")
    with ctx.db.write() as session:
        row = catalog.find_input(session, name_or_id, for_update=True)
        prompts = catalog.prompts_of_input(session, row.id, for_update=True)
        runs = catalog.runs_of_input(session, row.id)
        _refuse_while_in_use(row.name, runs)
        preview = InputRemoval(
            input_id=row.id,
            name=row.name,
            removed=False,
            prompts=[p.id for p in prompts],
            runs=len(runs),
            jobs=sorted({r.job_id for r in runs}),
            files=[str(f) for f in _own_files(ctx, row, catalog.list_inputs(session))],
        )
        if dry_run:
            return preview
        if (prompts or runs) and not force:
            raise Conflict(
                f"input {row.name} has {len(prompts)} prompt(s) and {len(runs)} finished run(s) "
                f"in {len(preview.jobs)} job(s); removing it deletes them too: pass --force "
                "(--dry-run lists them)"
            )
        catalog.remove_input(session, row, runs)
    _delete_files(preview.files)
    log.info("removed input=%s prompts=%d runs=%d", row.id, len(prompts), len(runs))
    return preview.model_copy(update={"removed": True})


def _refuse_while_in_use(name: str, runs: Sequence[RunRow]) -> None:
    active = [r for r in runs if r.status in (RunStatus.QUEUED, RunStatus.RUNNING)]
    if active:
        jobs = sorted({r.job_id for r in active})
        raise Conflict(
            f"input {name} is used by {len(active)} queued or running run(s) in job(s) "
            f"{', '.join(jobs)}; cancel them (or let them finish) first"
        )


def _own_files(ctx: Context, row: InputRow, every: Sequence[InputRow]) -> list[Path]:
    """The files the product made for this input under its home: the thumbnail, and the
    browser previews of its videos that no other input shares."""
    home = ctx.settings.home.expanduser().resolve()
    found = []
    if row.thumbnail_path:
        thumbnail = Path(row.thumbnail_path).resolve()
        if thumbnail.parent == home / "thumbnails" and thumbnail.is_file():
            found.append(thumbnail)
    shared = {p for other in every if other.id != row.id for p in _videos(other)}
    previews = media.previews_dir(ctx.settings)
    for video in sorted(set(_videos(row)) - shared):
        stem = media.preview_stem(Path(video))
        if stem is not None and previews.is_dir():
            found.extend(sorted(previews.glob(f"{stem}.*")))
    return found


def _videos(row: InputRow) -> list[str]:
    return [row.video_path, *row.controls.values()]


def _delete_files(paths: Sequence[str]) -> None:
    """After the rows are gone: a file that cannot be deleted is logged, not an error (the input
    is removed; the file is a cache)."""
    for path in paths:
        try:
            Path(path).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not delete %s: %s", path, exc)
