"""What every command shares: the context, `--json` output, Rich tables, error mapping."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer._click.core import Context as ClickContext  # typer's own copy of click
from typer.core import TyperGroup

from cosmos_workflow.domain.errors import CosmosError

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


class CosmosGroup(TyperGroup):
    """Maps domain errors to a message on stderr and an exit code, once for every command."""

    def invoke(self, ctx: ClickContext) -> Any:
        try:
            return super().invoke(ctx)
        except CosmosError as exc:
            # One line, the message as written: brackets in it are text, not Rich markup.
            err_console.print(f"[red]error:[/red] {escape(exc.message)}", soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except Exception as exc:
            from cosmos_workflow.services.context import database_unreachable

            if not database_unreachable(exc):
                raise
            # The driver's first line says why (refused, unknown host, timeout); its later
            # lines are SQLAlchemy's hints. No URL is printed: it may hold a password.
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            err_console.print(
                f"[red]error:[/red] the database cannot be reached: {escape(reason)}",
                soft_wrap=True,
            )
            raise typer.Exit(1) from None


def new_app(help_text: str) -> typer.Typer:
    return typer.Typer(
        help=help_text,
        cls=CosmosGroup,
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
    )


def context() -> Any:
    from cosmos_workflow.services.context import Context

    return Context()


def print_json(data: Any) -> None:
    if hasattr(data, "model_dump"):
        data = data.model_dump(mode="json")
    elif isinstance(data, list):
        data = [
            item.model_dump(mode="json") if hasattr(item, "model_dump") else item for item in data
        ]
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def emit(data: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    if as_json:
        print_json(data)
    else:
        render(data)


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    result = Table(title=title, title_justify="left")
    for column in columns:
        result.add_column(column, overflow="fold")
    for row in rows:
        result.add_row(*("" if cell is None else str(cell) for cell in row))
    return result


def when(stamp: float | None) -> str:
    return "" if stamp is None else datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S")


def weights_text(weights: dict[str, float]) -> str:
    return ",".join(f"{k}={v:g}" for k, v in sorted(weights.items())) or "-"


def ranges_text(ranges: dict[str, list[float]]) -> str:
    """A job's weight ranges: `depth=0.4-0.8,seg=0.3` (one value where all runs agree)."""
    parts = [
        f"{c}={low:g}" if low == high else f"{c}={low:g}-{high:g}"
        for c, (low, high) in sorted(ranges.items())
    ]
    return ",".join(parts) or "-"


def shortened(text: str | None, limit: int = 40) -> str:
    """One line of a prompt's text, cut to `limit` characters with an ellipsis."""
    line = " ".join((text or "").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


# The job parameters every command that queues inference takes (`queue add`, `sweep`). Each help
# says which backend reads it; a Cosmos 3 parameter with another backend is refused.
StepsOption = Annotated[int | None, typer.Option(help="Sampling steps (default 35).")]
GuidanceOption = Annotated[
    float | None,
    typer.Option(
        help="Guidance (CFG) scale: Transfer1 0-20 (default 5), Transfer2.5 whole 0-7 (3), "
        "Cosmos 3 0-7 (default per control, as NVIDIA: 3; wsm 1; several controls 6)."
    ),
]
SigmaMaxOption = Annotated[
    float | None,
    typer.Option(
        help="Transfer1/2.5: input-video noise level. Cosmos 3: the edm sampler's (needs "
        "--sampler edm)."
    ),
]
FpsOption = Annotated[
    int | None,
    typer.Option(
        help="Output frames per second (Transfer1). Cosmos 3 writes at the input video's rate: "
        "leave it out or give that rate."
    ),
]
BlurOption = Annotated[
    str | None, typer.Option(help="vis (Cosmos 3: blur) preset: very_low..very_high.")
]
CannyOption = Annotated[str | None, typer.Option(help="edge Canny preset: very_low..very_high.")]
DistilledOption = Annotated[bool, typer.Option(help="Transfer1/2.5: the distilled edge model.")]
PriorityOption = Annotated[int, typer.Option(help="Higher runs first.")]
BackendOption = Annotated[str, typer.Option(help="transfer1, transfer2.5 or cosmos3.")]
CheckpointOption = Annotated[
    str | None, typer.Option(help="Cosmos 3: Cosmos3-Nano (default) or Cosmos3-Super.")
]
SamplerOption = Annotated[str | None, typer.Option(help="Cosmos 3: unipc (default) or edm.")]
DiffusionCacheOption = Annotated[
    bool | None,
    typer.Option(
        "--diffusion-cache/--no-diffusion-cache",
        help="Cosmos 3: skip diffusion steps with SeaCache (default on, as NVIDIA's CLI).",
        show_default=False,
    ),
]
ControlGuidanceOption = Annotated[
    float | None,
    typer.Option(
        help="Cosmos 3: control CFG 0-10 (1 = off; default per control as NVIDIA: 1.5, seg 2, "
        "wsm 3; several controls 1)."
    ),
]
ShiftOption = Annotated[
    float | None, typer.Option(help="Cosmos 3: UniPC time shift, above 0 up to 100 (default 10).")
]
ResolutionOption = Annotated[
    str | None, typer.Option(help="Cosmos 3: tier 256, 480, 720 (default) or 768.")
]
ChunkFramesOption = Annotated[
    int | None,
    typer.Option(help="Cosmos 3: frames per chunk, rounded up to 4k+1 (default 93; wsm 101)."),
]
ConditionalFramesOption = Annotated[
    int | None, typer.Option(help="Cosmos 3: frames each chunk overlaps the last (default 1).")
]
MaxFramesOption = Annotated[
    int | None, typer.Option(help="Cosmos 3: frames read from each video (default 5000).")
]
NumOutputsOption = Annotated[
    int | None,
    typer.Option(
        help="Cosmos 3: outputs per prompt, 1-64 (default 1): one run each, seeds seed, seed+1, ..."
    ),
]


def job_params(**given: Any) -> dict[str, Any]:
    """The parameters a user gave (None means the default; so does an unset --distilled)."""
    return {
        k: v for k, v in given.items() if v is not None and not (k == "distilled" and v is False)
    }


def compared_text(bit_identical: bool, min_psnr_db: float | None) -> str:
    """How close a batch's outputs came to the same runs rendered alone."""
    if bit_identical:
        return "bit-identical"
    return f"min PSNR {min_psnr_db:.1f} dB" if min_psnr_db is not None else "-"
