"""`cosmos verify-batching`: measure on a host whether a kind of batching keeps outputs."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cosmos_workflow.cli.common import JsonOption, compared_text, console, context, emit, table


def verify_batching(
    prompt_ids: Annotated[
        list[str], typer.Argument(help="Prompts to render (one input's, for a GPU batch).")
    ],
    controls: Annotated[
        str, typer.Option(help="The control set to verify, comma-separated, e.g. depth,seg.")
    ],
    backend: Annotated[
        str, typer.Option(help="The backend to verify: transfer1, transfer2.5 or cosmos3.")
    ] = "transfer1",
    kind: Annotated[
        list[str] | None,
        typer.Option(help="mixed and/or gpu_batch (default: every kind that applies)."),
    ] = None,
    distilled: Annotated[bool, typer.Option(help="Verify the distilled model.")] = False,
    min_psnr: Annotated[
        float, typer.Option(help="Outputs at least this close (dB) count as unchanged.")
    ] = 50.0,
    host: Annotated[str | None, typer.Option(help="A host from cosmos.toml.")] = None,
    simulate: Annotated[
        bool, typer.Option(help="Run the simulator instead of NVIDIA's code.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Render runs alone and batched with the same seeds, compare them frame by frame, and
    store the verdict: a verified kind of batch is one `auto` may use without output changes."""
    from cosmos_workflow.worker import verification

    request = verification.build_verify_request(
        prompt_ids,
        controls.split(","),
        backend=backend,
        kinds=kind or (),
        distilled=distilled,
        min_psnr_db=min_psnr,
        host_name=host,
        simulate=simulate,
    )
    report = verification.verify_batching(context(), request)

    def render(r: Any) -> None:
        rows = (
            [
                v.kind,
                v.backend,
                v.variant,
                v.controls,
                v.gpu_profile + (" (simulated)" if v.simulated else ""),
                v.runs_compared,
                compared_text(v.bit_identical, v.min_psnr_db),
                "verified" if v.identical else "outputs differ",
            ]
            for v in r.results
        )
        columns = ["kind", "backend", "model", "controls", "GPU", "runs", "compared", "verdict"]
        console.print(table(f"Batching verification on {r.host}", columns, rows))

    emit(report, as_json, render)
