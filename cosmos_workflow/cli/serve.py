"""`cosmos serve`: the API, the UI and an embedded worker in one process, so the queue advances
whether or not a browser is open. The worker is supervised (worker/embedded.py): when it fails it
is logged and started again, and the UI and `GET /api/worker` show its state.

SIGTERM and SIGINT stop it gracefully: the worker stops claiming at once, the server shuts down,
then the running job may finish for the stop grace before its process is ended and the job
given back to the queue, uncharged; a second signal ends the job at once. uvicorn's own
handlers are not installed: they re-raise the signal after the server's shutdown, which would
kill the process before its worker stopped."""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cosmos_workflow import defaults
from cosmos_workflow.cli.common import console, context, err_console
from cosmos_workflow.cli.worker import StopGraceOption

if TYPE_CHECKING:
    import uvicorn

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
    stop_grace: StopGraceOption = None,
) -> None:
    """Serve the web UI at / and the REST API at /api (docs at /docs), with a worker."""
    from cosmos_workflow.api.auth import is_loopback, require_strong_token

    ctx = context()
    token = token or ctx.settings.api_token
    require_strong_token(token)  # before anything starts: a short token is a ConfigError
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
    grace = ctx.settings.stop_grace_seconds if stop_grace is None else stop_grace
    shutdown = Shutdown(grace)
    shutdown.install()  # before the worker starts: a signal from now on is a graceful stop
    worker = None if no_worker else shutdown.supervise(_start_worker(ctx.settings))
    try:
        _run_server(ctx, host, port, token, worker, shutdown)
    finally:
        if worker is not None:
            worker.stop(shutdown.grace_left())


def _configure_logging() -> None:
    logging.getLogger("cosmos_workflow").setLevel(logging.INFO)
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _start_worker(settings: Settings) -> EmbeddedWorker:
    from cosmos_workflow.services.context import Context
    from cosmos_workflow.services.targets import choose_hosts
    from cosmos_workflow.worker.embedded import EmbeddedWorker

    worker_ctx = Context(settings)
    for choice in choose_hosts(worker_ctx.settings, (), False):
        if choice.simulate:
            err_console.print(
                f"worker: host {choice.config.name!r} is SIMULATED (no GPU work, synthetic "
                "outputs); declare hosts in cosmos.toml to run NVIDIA's models"
            )
    return EmbeddedWorker(worker_ctx).start()


class Shutdown:
    """The signal handlers of `cosmos serve`: the first SIGTERM or SIGINT stops the server and
    the worker's claiming and starts the grace; a second one ends the running job at once."""

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self.worker: EmbeddedWorker | None = None
        self.server: uvicorn.Server | None = None
        self.asked_at: float | None = None

    def install(self) -> None:
        signal.signal(signal.SIGINT, self.on_signal)
        signal.signal(signal.SIGTERM, self.on_signal)

    def supervise(self, worker: EmbeddedWorker) -> EmbeddedWorker:
        self.worker = worker
        if self.asked_at is not None:  # asked while it started
            worker.request_stop()
        return worker

    def serve(self, server: uvicorn.Server) -> None:
        """Run the server until a signal (one that came while it was built stops it at once)."""
        self.server = server
        server.should_exit = self.asked_at is not None
        server.run()

    def on_signal(self, signum: int, _frame: Any) -> None:
        if self.asked_at is None:
            self.asked_at = time.monotonic()
            name = signal.Signals(signum).name
            err_console.print(
                f"{name}: stopping; a running job may finish for {self.grace_s:g} s, then it "
                "goes back to the queue (signal again to end it now)"
            )
            if self.server is not None:
                self.server.should_exit = True
            if self.worker is not None:
                self.worker.request_stop()
            return
        err_console.print("stopping now: ending the running job; it goes back to the queue")
        if self.server is not None:
            self.server.force_exit = True
        if self.worker is not None:
            self.worker.kill_now()

    def grace_left(self) -> float:
        """The grace counts from the first signal (all of it when the server ended otherwise)."""
        if self.asked_at is None:
            return self.grace_s
        return max(0.0, self.grace_s - (time.monotonic() - self.asked_at))


def _run_server(
    ctx: Context,
    host: str,
    port: int,
    token: str | None,
    worker: EmbeddedWorker | None,
    shutdown: Shutdown,
) -> None:
    import uvicorn

    from cosmos_workflow.api.app import create_app

    app = create_app(ctx, token=token, worker=worker, bind=(host, port))
    shown = f"[{host}]" if ":" in host else host
    console.print(
        f"cosmos-workflow serving on http://{shown}:{port}/ (REST API under /api, docs at /docs)"
        + ("; API and UI require the token" if token else "")
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=defaults.SERVE_SHUTDOWN_GRACE_SECONDS,
    )
    shutdown.serve(_server_class()(config))


def _server_class() -> type[uvicorn.Server]:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn without its signal handling: `Shutdown`'s handlers stay in place."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server
