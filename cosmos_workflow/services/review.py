"""Reviewing a sweep: its runs as grids (weights on the axes, one page per prompt and seed), the
input and control videos a run was made from, and the export of the picked runs.

The review page, the API and `cosmos review` all read the grid from here; the layout itself is
pure (domain/review.py)."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import shlex
import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from cosmos_workflow.domain.controls import parse_control
from cosmos_workflow.domain.errors import Conflict, CosmosError, InvalidInput, NotFound
from cosmos_workflow.domain.review import Axis, Page, Placed, axes_of_runs, layout
from cosmos_workflow.domain.states import RunStatus
from cosmos_workflow.domain.text import check_line, check_path
from cosmos_workflow.services import inputs, rendering, runs, sweeps
from cosmos_workflow.services.contact_sheet import write_contact_sheet
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.sweeps import SweepView
from cosmos_workflow.services.views import RunView
from cosmos_workflow.store.attempts import RanCommand, RunKey, ran_commands
from cosmos_workflow.store.runs import run_sources

log = logging.getLogger(__name__)

# The most runs one grid reads: a page of videos past this is no longer reviewable anyway.
MAX_REVIEW_RUNS = 10_000


class ReviewAxis(BaseModel):
    control: str
    values: list[float]

    @classmethod
    def of(cls, axis: Axis | None) -> ReviewAxis | None:
        return None if axis is None else cls(control=axis.control, values=list(axis.values))


class ReviewCell(BaseModel):
    weights: dict[str, float]  # the combination: every axis' control, 0 included
    run: RunView | None  # the newest run of it; None: no run (a combination of all 0s, say)
    earlier_run_ids: list[str]  # older attempts of the same combination (retries), newest first
    video_url: str | None  # the output, once the run succeeded
    thumbnail_url: str | None


class ReviewPage(BaseModel):
    """One grid: a prompt and a seed (and a value of each axis past the second)."""

    prompt_id: str
    prompt_name: str | None
    prompt_text: str | None
    input_id: str | None
    input_name: str | None
    input_video_url: str | None
    control_video_urls: dict[str, str]  # control -> the input's video of it
    seed: int | None
    fixed: dict[str, float]
    rows: ReviewAxis | None  # None: a single row
    columns: ReviewAxis | None  # None: a single column
    cells: list[list[ReviewCell]]  # [row][column]


class ReviewGrid(BaseModel):
    sweep: SweepView | None  # None: runs a filter chose, laid out by their weights
    axes: list[ReviewAxis]  # every axis, in order: rows, columns, then one page per value
    pages: list[ReviewPage]
    runs: int  # runs read
    total: int  # runs that match (more than `runs` when past MAX_REVIEW_RUNS)
    counts: dict[str, int]  # the runs read, by status


def review_grid(
    ctx: Context,
    sweep: str | None = None,
    *,
    status: str | None = None,
    job_id: str | None = None,
    prompt_id: str | None = None,
    controls: str | None = None,
    rating: int | None = None,
    picked: bool | None = None,
    since: float | None = None,
) -> ReviewGrid:
    """A sweep's runs laid out on its axes; without a sweep, the runs the filters (as for
    `list_runs`) choose, laid out on the controls whose weights vary among them."""
    found = runs.list_runs(
        ctx,
        sweep=sweep,
        status=status,
        job_id=job_id,
        prompt_id=prompt_id,
        controls=controls,
        rating=rating,
        picked=picked,
        since=since,
        limit=MAX_REVIEW_RUNS,
    )
    placed = [_placed(run) for run in found.runs]
    shown = sweeps.get_sweep(ctx, sweep) if sweep is not None else None
    if shown is not None:
        axes = [Axis(c, tuple(vs)) for c, vs in shown.axes.items()]
        pages = layout(placed, axes, shown.prompt_ids, shown.seeds)
    else:
        axes = axes_of_runs(placed)
        pages = layout(placed, axes, sorted({r.prompt_id for r in placed}))
    by_id = {run.id: run for run in found.runs}
    sources = _sources(ctx, [page.prompt_id for page in pages])
    return ReviewGrid(
        sweep=shown,
        axes=[ReviewAxis(control=a.control, values=list(a.values)) for a in axes],
        pages=[_page_view(page, by_id, sources.get(page.prompt_id)) for page in pages],
        runs=len(found.runs),
        total=found.total,
        counts=dict(Counter(run.status for run in found.runs)),
    )


def _placed(run: RunView) -> Placed:
    return Placed(run.id, run.prompt_id, run.weights, run.seed, run.created_at)


class _Source(BaseModel):
    prompt_name: str | None
    prompt_text: str
    input_id: str
    input_name: str
    controls: list[str]


def _sources(ctx: Context, prompt_ids: list[str]) -> dict[str, _Source]:
    with ctx.db.read() as session:
        found = run_sources(session, prompt_ids)
        return {
            prompt_id: _Source(
                prompt_name=source.prompt.name,
                prompt_text=source.prompt.text,
                input_id=source.input.id,
                input_name=source.input.name,
                controls=sorted(dict(source.input.controls)),
            )
            for prompt_id, source in found.items()
        }


def _page_view(page: Page, by_id: dict[str, RunView], source: _Source | None) -> ReviewPage:
    input_url = f"/api/inputs/{source.input_id}" if source else None
    return ReviewPage(
        prompt_id=page.prompt_id,
        prompt_name=source.prompt_name if source else None,
        prompt_text=source.prompt_text if source else None,
        input_id=source.input_id if source else None,
        input_name=source.input_name if source else None,
        input_video_url=f"{input_url}/video" if input_url else None,
        control_video_urls={
            c: f"{input_url}/controls/{c}/video" for c in (source.controls if source else [])
        },
        seed=page.seed,
        fixed=dict(page.fixed),
        rows=ReviewAxis.of(page.rows),
        columns=ReviewAxis.of(page.columns),
        cells=[
            [
                _cell_view(dict(cell.weights), by_id.get(cell.run_id or ""), cell.earlier)
                for cell in row
            ]
            for row in page.cells
        ],
    )


def _cell_view(
    weights: dict[str, float], run: RunView | None, earlier: Sequence[str]
) -> ReviewCell:
    done = run is not None and run.status == RunStatus.SUCCEEDED and run.output_path is not None
    return ReviewCell(
        weights=weights,
        run=run,
        earlier_run_ids=list(earlier),
        video_url=f"/api/runs/{run.id}/video" if done and run else None,
        thumbnail_url=(
            f"/api/runs/{run.id}/thumbnail" if done and run and run.thumbnail_path else None
        ),
    )


def input_video(ctx: Context, name_or_id: str) -> Path:
    """The input's RGB video, only while it still lies under an input root (a folder may have
    changed since it was registered: a link there now pointing elsewhere is refused)."""
    view = inputs.show_input(ctx, name_or_id)
    return _confined(ctx, view.video_path, f"the video of input {view.name}")


def control_video(ctx: Context, name_or_id: str, control: str) -> Path:
    """The input's video of one control (`depth`, `seg`, ...; aliases as elsewhere)."""
    check_line(control, "control")
    try:
        wanted = parse_control(control).value
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field="control") from None
    view = inputs.show_input(ctx, name_or_id)
    path = view.controls.get(wanted)
    if path is None:
        have = ", ".join(sorted(view.controls)) or "none"
        raise NotFound(f"input {view.name} has no {wanted} control video (it has: {have})")
    return _confined(ctx, path, f"the {wanted} control of input {view.name}")


def _confined(ctx: Context, stored: str, what: str) -> Path:
    try:
        return inputs.confine_file(ctx, Path(stored), what)
    except InvalidInput as exc:  # the request was fine: the file on disk is not
        raise NotFound(exc.message) from None


# -- export ----------------------------------------------------------------------------------

MANIFEST_JSON = "manifest.json"
MANIFEST_CSV = "manifest.csv"
CONTACT_SHEET = "contact-sheet.png"
COMMANDS = "commands"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_LABEL_CHARS = 60


class ExportedRun(BaseModel):
    run_id: str
    job_id: str
    prompt_id: str
    prompt_name: str | None
    prompt_text: str | None
    weights: dict[str, float]
    seed: int | None
    params: dict[str, Any]
    rating: int | None
    output_file: str  # in the export folder
    source_path: str  # the output it was copied from
    # The exact command whose process made this output (the argv its attempt recorded), and
    # the host it ran on; None only for an output made before attempts were recorded.
    ran_command: str | None
    ran_on_host: str | None
    # The command the run's job ran with, as `cosmos job render` writes it (its files under
    # command_script's folder); None when this configuration cannot render it (command_error).
    command: str | None
    command_script: str | None
    command_error: str | None
    render_command: str  # writes the same files again
    # The guardrail posture the output was made with (domain.guardrails): what its host asked
    # for and what the model applied; None for an output made before it was recorded.
    guardrails_asked: str | None = None
    guardrails_got: str | None = None


class ExportResult(BaseModel):
    folder: str
    sweep_id: str
    sweep_name: str
    runs: list[ExportedRun]
    files: list[str]  # every file written, relative to the folder


def export_picked(
    ctx: Context, sweep: str, folder: Path | str, *, overwrite: bool = False
) -> ExportResult:
    """Copy the sweep's picked outputs into `folder` under readable names, with manifest.json,
    manifest.csv (prompt, weights, seed, every parameter, rating and the job's command) and a
    contact sheet of the whole grid. Everything is checked before anything is written: a
    folder outside the allowed roots, nothing picked, a picked run without an output, or a file
    already there (unless `overwrite`) changes nothing."""
    target = export_folder(ctx, folder)
    grid = review_grid(ctx, sweep)
    assert grid.sweep is not None
    picked = runs.list_runs(ctx, sweep=grid.sweep.id, picked=True, limit=MAX_REVIEW_RUNS).runs
    sources = _sources(ctx, sorted({r.prompt_id for r in picked}))
    chosen = _check_picked(grid.sweep.name, picked)
    names = export_names(chosen, sources, list(grid.sweep.axes))
    jobs = sorted({r.job_id for r in chosen})
    planned = [*names.values(), MANIFEST_JSON, MANIFEST_CSV, CONTACT_SHEET]
    planned += [f"{COMMANDS}/{job_id}" for job_id in jobs]
    _refuse_existing(target, planned, overwrite)
    with tempfile.TemporaryDirectory(prefix="cosmos-export-") as scratch:
        commands = {j: _render(ctx, j, Path(scratch) / j, target / COMMANDS / j) for j in jobs}
        target.mkdir(parents=True, exist_ok=True)
        written = [_copy(Path(r.output_path or ""), target / names[r.id]) for r in chosen]
        for job_id, (_, rendered) in commands.items():
            if rendered is not None:
                written += _copy_tree(rendered, target, f"{COMMANDS}/{job_id}")
        ran = _ran_commands(ctx, chosen)
        exported = [
            _exported(r, names[r.id], sources.get(r.prompt_id), commands[r.job_id], ran)
            for r in chosen
        ]
        write_contact_sheet(grid.pages, target / CONTACT_SHEET)
        _write_manifests(target, grid.sweep, exported)
    written += [CONTACT_SHEET, MANIFEST_JSON, MANIFEST_CSV]
    log.info("exported sweep=%s runs=%d to %s", grid.sweep.id, len(exported), target)
    return ExportResult(
        folder=str(target),
        sweep_id=grid.sweep.id,
        sweep_name=grid.sweep.name,
        runs=exported,
        files=sorted(written),
    )


def export_folder(ctx: Context, folder: Path | str) -> Path:
    """The folder, resolved, if it lies under an allowed root (input_roots: by default the home
    directory and COSMOS_HOME), as an input folder must; refused if it is not a folder."""
    text = check_path(folder, "folder")
    if not text.strip():
        raise InvalidInput("give the folder to export into", field="folder")
    try:
        resolved = Path(text).expanduser().resolve()
    except (OSError, RuntimeError) as exc:
        raise InvalidInput(f"folder {text} cannot be resolved: {exc}", field="folder") from None
    roots = ctx.settings.allowed_input_roots
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        listed = ", ".join(str(r) for r in roots)
        raise InvalidInput(
            f"folder {resolved} is outside the allowed roots ({listed}); export under one of "
            "them or add its parent to input_roots in cosmos.toml or COSMOS_INPUT_ROOTS",
            field="folder",
        )
    if resolved.exists() and not resolved.is_dir():
        raise InvalidInput(f"{resolved} exists and is not a folder", field="folder")
    return resolved


def _check_picked(sweep_name: str, picked: list[RunView]) -> list[RunView]:
    if not picked:
        raise Conflict(
            f"no run of sweep {sweep_name} is picked: pick some in the review page "
            f"(`cosmos review {sweep_name}`, key p) first"
        )
    missing = [r.id for r in picked if r.status != RunStatus.SUCCEEDED or not r.output_path]
    missing += [
        r.id for r in picked if r.id not in missing and not Path(r.output_path or "").is_file()
    ]
    if missing:
        raise Conflict(
            f"picked run(s) {', '.join(missing)} have no output video to export (not succeeded, "
            "or the file is gone): unpick them"
        )
    return sorted(picked, key=lambda r: (r.prompt_id, r.seed or 0, sorted(r.weights.items()), r.id))


def export_names(
    chosen: list[RunView], sources: dict[str, _Source], axis_order: list[str]
) -> dict[str, str]:
    """`<prompt name>_depth0.4_seg0.6_seed1.mp4` by run id; a name two runs would share (two
    attempts of one combination both picked, prompts of one name) gets the run id too."""
    stems = {r.id: _stem(r, sources.get(r.prompt_id), axis_order) for r in chosen}
    counted: dict[str, int] = {}
    for stem in stems.values():
        counted[stem] = counted.get(stem, 0) + 1
    names = {}
    for run in chosen:
        stem = stems[run.id] if counted[stems[run.id]] == 1 else f"{stems[run.id]}_{run.id}"
        names[run.id] = stem + (Path(run.output_path or "").suffix.lower() or ".mp4")
    return names


def _stem(run: RunView, source: _Source | None, axis_order: list[str]) -> str:
    label = _UNSAFE.sub("-", (source.prompt_name if source else None) or run.prompt_id)
    label = label.strip("-.")[:MAX_LABEL_CHARS] or run.prompt_id
    order = [c for c in axis_order if c in run.weights] + sorted(set(run.weights) - set(axis_order))
    weights = "".join(f"_{c}{run.weights[c]:g}" for c in order)
    seed = "" if run.seed is None else f"_seed{run.seed}"
    return f"{label}{weights}{seed}"


def _refuse_existing(target: Path, planned: list[str], overwrite: bool) -> None:
    if overwrite:
        return
    there = [name for name in planned if (target / name).exists()]
    if there:
        shown = ", ".join(there[:5]) + (f" and {len(there) - 5} more" if len(there) > 5 else "")
        raise Conflict(
            f"{target} already holds {shown}; choose another folder or pass --overwrite "
            "(API: overwrite)",
            field="folder",
        )


def _ran_commands(ctx: Context, chosen: list[RunView]) -> dict[RunKey, RanCommand]:
    with ctx.db.read() as session:
        return ran_commands(session, [(r.job_id, r.finished_at) for r in chosen])


class RenderOutcome(BaseModel):
    command: str | None
    error: str | None


def _render(
    ctx: Context, job_id: str, scratch: Path, final: Path
) -> tuple[RenderOutcome, Path | None]:
    """Render the job as `cosmos job render` does, into scratch, for its final place (the
    folder it wrote; None when this configuration cannot render it, and why)."""
    try:
        result = rendering.render_job(ctx, job_id, scratch, target_dir=str(final))
    except CosmosError as exc:
        return RenderOutcome(command=None, error=exc.message), None
    return RenderOutcome(command=shlex.join(result.argv), error=None), scratch


def _copy(source: Path, dest: Path) -> str:
    """Written under a temporary name first, so a file there is never half a video."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.partial")
    shutil.copyfile(source, partial)
    partial.replace(dest)
    return dest.name


def _copy_tree(source: Path, target: Path, under: str) -> list[str]:
    written = []
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        relative = f"{under}/{path.relative_to(source).as_posix()}"
        _copy(path, target / relative)
        written.append(relative)
    return written


def _exported(
    run: RunView,
    name: str,
    source: _Source | None,
    rendered: tuple[RenderOutcome, Path | None],
    ran: dict[RunKey, RanCommand],
) -> ExportedRun:
    outcome, folder = rendered
    made_by = ran.get((run.job_id, run.finished_at))
    return ExportedRun(
        ran_command=shlex.join(made_by.argv) if made_by else None,
        ran_on_host=made_by.host_name if made_by else None,
        run_id=run.id,
        job_id=run.job_id,
        prompt_id=run.prompt_id,
        prompt_name=source.prompt_name if source else None,
        prompt_text=run.prompt_text,
        weights=dict(run.weights),
        seed=run.seed,
        params=dict(run.params),
        rating=run.rating,
        output_file=name,
        source_path=run.output_path or "",
        command=outcome.command,
        command_script=f"{COMMANDS}/{run.job_id}/command.sh" if folder is not None else None,
        command_error=outcome.error,
        render_command=shlex.join(
            ["cosmos", "job", "render", run.job_id, "--out", f"{COMMANDS}/{run.job_id}"]
        ),
        guardrails_asked=run.guardrails_asked,
        guardrails_got=run.guardrails_got,
    )


def _write_manifests(target: Path, sweep: SweepView, exported: list[ExportedRun]) -> None:
    document = {
        "sweep": {"id": sweep.id, "name": sweep.name, "axes": sweep.axes, "seeds": sweep.seeds},
        "runs": [run.model_dump(mode="json") for run in exported],
    }
    _write_text(target / MANIFEST_JSON, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    controls = sorted({c for run in exported for c in run.weights} | set(sweep.axes))
    params = sorted({p for run in exported for p in run.params})
    columns = [
        "run_id", "job_id", "prompt_id", "prompt_name", "prompt_text", "output_file", "seed",
        "rating", *(f"weight_{c}" for c in controls), *(f"param_{p}" for p in params),
        "ran_command", "ran_on_host", "command", "render_command", "command_error",
        "guardrails_asked", "guardrails_got",
    ]  # fmt: skip
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for run in exported:
        row: dict[str, Any] = run.model_dump(include=set(columns))
        row.update({f"weight_{c}": run.weights.get(c, 0.0) for c in controls})
        row.update({f"param_{p}": _cell_text(run.params.get(p)) for p in params})
        writer.writerow(row)
    _write_text(target / MANIFEST_CSV, buffer.getvalue())


def _cell_text(value: object) -> object:
    return json.dumps(value) if isinstance(value, dict | list) else value


def _write_text(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
