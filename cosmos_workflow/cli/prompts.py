"""`cosmos prompt ...`: prompts point at an input and hold text plus a negative prompt."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cosmos_workflow.cli.common import JsonOption, console, context, emit, new_app, table

app = new_app("Create, list, search and delete prompts.")


def _render(prompts: list[Any]) -> None:
    console.print(
        table(
            "Prompts",
            ["id", "input", "name", "text"],
            ([p.id, p.input_id, p.name or "", p.text[:70]] for p in prompts),
        )
    )


def _emit_list(prompts: list[Any], as_json: bool) -> None:
    emit(
        {"prompts": [p.model_dump(mode="json") for p in prompts]},
        as_json,
        lambda _: _render(prompts),
    )


@app.command("create")
def create(
    text: Annotated[str, typer.Argument(help="What the video should show.")],
    input_: Annotated[str, typer.Option("--input", help="Input name or id.")],
    name: Annotated[str | None, typer.Option(help="A short name.")] = None,
    negative: Annotated[
        str | None,
        typer.Option(help="Negative prompt; without it the model's own default is used."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a prompt for an input; prints its id."""
    from cosmos_workflow.services import prompts

    view = prompts.create_prompt(context(), input_, text, name=name, negative=negative)
    if as_json:
        emit(view, True, _render)
    else:
        console.print(f"created prompt [bold]{view.id}[/bold]")


@app.command("list")
def list_(
    input_: Annotated[str | None, typer.Option("--input", help="Only this input's.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 1000,
    as_json: JsonOption = False,
) -> None:
    """List prompts, oldest first."""
    from cosmos_workflow.services import prompts

    _emit_list(prompts.list_prompts(context(), input_name_or_id=input_, limit=limit), as_json)


@app.command("show")
def show(prompt_id: str, as_json: JsonOption = False) -> None:
    """Show one prompt."""
    from cosmos_workflow.services import prompts

    view = prompts.get_prompt(context(), prompt_id)

    def render(p: Any) -> None:
        console.print(f"[bold]{p.id}[/bold] input={p.input_id} name={p.name or '-'}")
        console.print(p.text)
        console.print(f"negative: {p.negative or '(the model default)'}")

    emit(view, as_json, render)


@app.command("search")
def search(query: str, as_json: JsonOption = False) -> None:
    """Find prompts whose text or name contains QUERY."""
    from cosmos_workflow.services import prompts

    _emit_list(prompts.search_prompts(context(), query), as_json)


@app.command("delete")
def delete(
    prompt_id: str,
    force: Annotated[bool, typer.Option(help="Also drop its queued runs.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete a prompt; shows what goes with it and refuses if it has queued work."""
    from cosmos_workflow.services import prompts

    ctx = context()
    preview = prompts.delete_prompt(ctx, prompt_id, dry_run=True)
    if not yes and not as_json:
        console.print(
            f"prompt {prompt_id}: {preview.runs} run(s) in {len(preview.jobs)} job(s), "
            f"{preview.active_runs} queued or running"
        )
        if not typer.confirm("delete it?"):
            raise typer.Exit(1)
    result = prompts.delete_prompt(ctx, prompt_id, force=force)
    emit(result, as_json, lambda r: console.print(f"deleted prompt {r.prompt_id}"))
