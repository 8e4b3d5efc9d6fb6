"""`cosmos serve`: the API, the UI and an embedded worker in one process, so the queue advances
whether or not a browser is open. The worker is supervised (worker/embedded.py): when it fails it
is logged and started again, and the UI and `GET /api/worker` show its state."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated

import typer

from cosmos_workflow import defaults
from cosmos_workflow.cli.common import console, context, err_console

if TYPE_CHECKING:
    from cosmos_workflow.config import Settings
    from cosmos_workflow.services.context import Context
    from cosmos_workflow.worker.embedded import EmbeddedWorker

log = logging.getLogger(__name__)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 7860,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Serve only; run workers separately.")
    ] = False,
    token: Annotated[
        str | None,
        typer.Option(help="API token (default: COSMOS_API_TOKEN); required off loopback."),
    ] = None,
) -> None:
    """Serve the web UI at / and the REST API at /api (docs at /docs), with a worker."""
    from cosmos_workflow.api.auth import is_loopback

    ctx = context()
    token = token or ctx.settings.api_token
    if not is_loopback(host) and not token:
        err_console.print(
            f"error: refusing to listen on {host} without a token: anyone who can reach it could "
            "run and delete work. Pass --token TOKEN or set COSMOS_API_TOKEN, or listen on "
            "127.0.0.1.",
            soft_wrap=True,
        )
        raise typer.Exit(2)
    _configure_logging()
    ctx.db.migrate()
    worker = None if no_worker else _start_worker(ctx.settings)
    try:
        _run_server(ctx, host, port, token, worker)
    finally:
        if worker is not None:
            worker.stop(defaults.SERVE_WORKER_STOP_GRACE_SECONDS)


def _configure_logging() -> None:
    logging.getLogger("cosmos_workflow").setLevel(logging.INFO)
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _start_worker(settings: Settings) -> EmbeddedWorker:
    from cosmos_workflow.services.context import Context
    from cosmos_workflow.services.targets import choose_host
    from cosmos_workflow.worker.embedded import EmbeddedWorker

    worker_ctx = Context(settings)
    choice = choose_host(worker_ctx.settings, None, False)
    if choice.simulate:
        err_console.print(
            f"worker: host {choice.config.name!r} is SIMULATED (no GPU work, synthetic outputs); "
            "declare hosts in cosmos.toml to run NVIDIA's models"
        )
    return EmbeddedWorker(worker_ctx).start()


def _run_server(
    ctx: Context, host: str, port: int, token: str | None, worker: EmbeddedWorker | None
) -> None:
    import uvicorn

    from cosmos_workflow.api.app import create_app

    app = create_app(ctx, token=token, worker=worker)
    shown = f"[{host}]" if ":" in host else host
    console.print(
        f"cosmos-workflow serving on http://{shown}:{port}/ (REST API under /api, docs at /docs)"
        + ("; API and UI require the token" if token else "")
    )
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=defaults.SERVE_SHUTDOWN_GRACE_SECONDS,
    )
