"""`cosmos review SWEEP`: where a sweep's review page is (and `--open` opens it), and
`cosmos review export SWEEP --to FOLDER`: the picked runs copied out with their manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

import typer
from typer._click.core import Context as ClickContext  # typer's own copy of click

from cosmos_workflow.cli.common import CosmosGroup, JsonOption, console, context, emit
from cosmos_workflow.domain.errors import InvalidInput

DEFAULT_SERVER = "http://127.0.0.1:7860"  # `cosmos serve`'s own default address


class ReviewGroup(CosmosGroup):
    """`cosmos review SWEEP` shows the page; `cosmos review export ...` exports: a first word
    that names no subcommand is the sweep."""

    def parse_args(self, ctx: ClickContext, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["page", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    help="Review a sweep: `cosmos review SWEEP` prints its page's address (--open opens it); "
    "`cosmos review export SWEEP --to FOLDER` copies the picked runs out.",
    cls=ReviewGroup,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


def review_url(server: str, sweep: str) -> str:
    parts = urlsplit(server.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput(
            f"--server must be the server's address like {DEFAULT_SERVER}, got {server!r}",
            field="server",
        )
    return f"{parts.scheme}://{parts.netloc}/review?{urlencode({'sweep': sweep})}"


@app.command("page", hidden=True)
def page(
    sweep: Annotated[str, typer.Argument(help="The sweep's id or name.")],
    server: Annotated[
        str, typer.Option(help="Where `cosmos serve` answers.", envvar="COSMOS_SERVER_URL")
    ] = DEFAULT_SERVER,
    open_: Annotated[bool, typer.Option("--open", help="Open it in a web browser.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Print the address of the sweep's review page (the sweep must exist)."""
    from cosmos_workflow.services import sweeps

    found = sweeps.get_sweep(context(), sweep)
    url = review_url(server, found.name)
    if open_:
        import webbrowser

        webbrowser.open(url)
    emit(
        {"sweep": found.id, "name": found.name, "url": url}, as_json, lambda d: typer.echo(d["url"])
    )


@app.command("export")
def export(
    sweep: Annotated[str, typer.Argument(help="The sweep's id or name.")],
    to: Annotated[Path, typer.Option("--to", help="The folder to write into.")],
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace files of an earlier export there.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Copy the sweep's picked outputs into FOLDER with manifest.json, manifest.csv (prompt,
    weights, seed, every parameter, rating, the job's command) and contact-sheet.png."""
    from cosmos_workflow.services import review

    result = review.export_picked(context(), sweep, to, overwrite=overwrite)
    emit(result, as_json, _render_export)


def _render_export(result: Any) -> None:
    console.print(
        f"exported {len(result.runs)} picked run(s) of {result.sweep_name} to {result.folder}",
        markup=False,
    )
    for run in result.runs:
        console.print(f"  {run.output_file}", markup=False)
    missing = [r for r in result.runs if r.command is None]
    if missing:
        console.print(
            f"no command for {len(missing)} run(s): {missing[0].command_error}", markup=False
        )
