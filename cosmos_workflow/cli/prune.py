"""`cosmos prune`: delete history older than an age (finished jobs, events, plans, work dirs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from cosmos_workflow.cli.common import JsonOption, console, context, emit, table, when
from cosmos_workflow.domain.errors import InvalidInput

if TYPE_CHECKING:
    from cosmos_workflow.services.retention import PruneResult


def prune(
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            help="Age, e.g. 12h, 30d, 2w (default: retention_days of cosmos.toml).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be removed; change nothing.")
    ] = False,
    outputs: Annotated[
        bool,
        typer.Option("--outputs", help="Also delete the videos and thumbnails of pruned runs."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete finished jobs (with their runs and attempts), events and plans older than an age,
    and old attempts' work directories. Queued and running jobs, prompts and inputs stay;
    outputs stay unless --outputs is given."""
    from datetime import timedelta

    from cosmos_workflow.services import retention

    ctx = context()
    if older_than is not None:
        age = retention.parse_age(older_than)
    elif ctx.settings.retention_days is not None:
        age = timedelta(days=ctx.settings.retention_days)
    else:
        raise InvalidInput("give --older-than (e.g. 30d), or set retention_days in cosmos.toml")
    result = retention.prune(ctx, age, dry_run=dry_run, outputs=outputs)
    emit(result, as_json, _render)
    if result.errors:
        raise typer.Exit(1)  # the rows are gone, but files named above are still there


def _render(result: PruneResult) -> None:
    title = "Would remove (dry run)" if result.dry_run else "Removed"
    rows: list[list[Any]] = [
        [kind, getattr(result, kind), ""]
        for kind in ("jobs", "runs", "attempts", "timings", "events", "plans")
    ]
    for label, files in (
        ("work directories", result.work_directories),
        ("logs", result.logs),
        ("outputs", result.outputs),
    ):
        rows.append([label, files.count, _size(files.bytes)])
    console.print(f"{title}: what is older than {when(result.cutoff.timestamp())}")
    console.print(table(None, ["kind", "count", "size"], rows))
    if not result.outputs_removed:
        console.print("outputs of pruned runs are kept (--outputs deletes them)")
    for error in result.errors:
        console.print(f"[red]not removed:[/red] {error}", soft_wrap=True)


def _size(count: int) -> str:
    size, unit = float(count), "B"
    for larger in ("KiB", "MiB", "GiB", "TiB"):
        if size < 1024:
            break
        size, unit = size / 1024, larger
    return f"{count} B" if unit == "B" else f"{size:.1f} {unit}"
