"""The web application: REST under /api, OpenAPI at /openapi.json, docs at /docs, and the Gradio
UI mounted at / when asked for (Gradio is imported only then, so the CLI stays fast)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastapi import Depends, FastAPI

from cosmos_workflow import __version__
from cosmos_workflow.api.auth import TokenGuard
from cosmos_workflow.api.errors import install_error_handlers
from cosmos_workflow.api.routes import build_router
from cosmos_workflow.services.context import Context

if TYPE_CHECKING:
    from cosmos_workflow.worker.embedded import EmbeddedWorker

log = logging.getLogger(__name__)


def create_app(
    ctx: Context,
    *,
    token: str | None,
    with_ui: bool = True,
    worker: EmbeddedWorker | None = None,
) -> FastAPI:
    """Build the app. With a token, every /api route needs `Authorization: Bearer <token>` and
    the UI asks for it at a login page; without one, the server must only listen on loopback
    (the `serve` command enforces that). `worker` is the server's embedded worker, whose state
    `GET /api/worker` and the UI's banner show (None: the server runs without one)."""
    app = FastAPI(
        title="cosmos-workflow",
        version=__version__,
        description="Queue, smart batching and runs for NVIDIA Cosmos Transfer.",
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    install_error_handlers(app)
    app.include_router(build_router(ctx, worker), dependencies=[Depends(TokenGuard(token))])
    if with_ui:
        from cosmos_workflow.ui.app import mount_ui

        mount_ui(app, ctx, token=token, worker=worker)
    return app
