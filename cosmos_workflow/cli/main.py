"""The `cosmos` command: assembles the command groups; heavy imports happen inside commands."""

from __future__ import annotations

import logging
import os

import typer

from cosmos_workflow import __version__
from cosmos_workflow.cli import (
    batch,
    demo,
    fleet,
    inputs,
    prompts,
    prune,
    queue,
    review,
    runs,
    serve,
    sweeps,
    verify,
    worker,
)
from cosmos_workflow.cli.common import new_app
from cosmos_workflow.domain.errors import ConfigError

app = new_app("cosmos-workflow: a durable queue with smart batching for NVIDIA Cosmos Transfer.")
app.add_typer(inputs.app, name="input")
app.add_typer(prompts.app, name="prompt")
app.add_typer(queue.app, name="queue")
app.add_typer(batch.app, name="batch")
app.command("sweep")(sweeps.sweep)
app.add_typer(sweeps.app, name="sweeps")
app.add_typer(runs.runs_app, name="runs")
app.add_typer(review.app, name="review")
app.add_typer(runs.job_app, name="job")
app.command("logs")(runs.logs)
app.command("worker")(worker.worker)
app.command("fleet")(fleet.fleet)
app.command("calibrate")(worker.calibrate)
app.command("serve")(serve.serve)
app.command("demo")(demo.demo)
app.command("verify-batching")(verify.verify_batching)
app.command("prune")(prune.prune)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cosmos-workflow {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what happens to stderr."),
) -> None:
    level = logging.INFO if verbose else _log_level(os.environ.get("COSMOS_LOG_LEVEL", "WARNING"))
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _log_level(text: str) -> int:
    if text.strip().upper() not in LOG_LEVELS:
        raise ConfigError(
            f"COSMOS_LOG_LEVEL: expected one of {', '.join(LOG_LEVELS)}, got {text!r}"
        )
    return logging.getLevelNamesMapping()[text.strip().upper()]


def run() -> None:
    app()


if __name__ == "__main__":
    run()
