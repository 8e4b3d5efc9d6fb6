"""The web application: REST under /api, OpenAPI at /openapi.json, docs at /docs, and the Gradio
UI mounted at / when asked for (Gradio is imported only then, so the CLI stays fast)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastapi import Depends, FastAPI

from cosmos_workflow import __version__
from cosmos_workflow.api.auth import LoginSession, TokenGuard, add_session_route
from cosmos_workflow.api.browser import CrossSiteGuard, HostGuard, HostRule
from cosmos_workflow.api.errors import document_write_refusals, install_error_handlers
from cosmos_workflow.api.fallback import install_api_fallback
from cosmos_workflow.api.limits import BodyLimit
from cosmos_workflow.api.review_routes import add_review_page
from cosmos_workflow.api.routes import build_router
from cosmos_workflow.services.context import Context

if TYPE_CHECKING:
    from cosmos_workflow.worker.embedded import EmbeddedWorker

log = logging.getLogger(__name__)

# In process (tests, an embedding program) the app answers loopback names at any port.
IN_PROCESS = ("127.0.0.1", None)


def create_app(
    ctx: Context,
    *,
    token: str | None,
    with_ui: bool = True,
    worker: EmbeddedWorker | None = None,
    bind: tuple[str, int | None] = IN_PROCESS,
) -> FastAPI:
    """Build the app. With a token, every /api route needs `Authorization: Bearer <token>` (or
    the session cookie that `POST /api/session` and the UI's login set) and the UI asks for it
    at a login page; without one, the server must only listen on loopback
    (the `serve` command enforces that). A token shorter than 16 characters is a ConfigError.
    `worker` is the server's embedded worker, whose state `GET /api/worker` and the UI's banner
    show (None: the server runs without one). `bind` is the address and port the server listens
    on: requests must name it (or a configured `allowed_hosts` name) in `Host`."""
    guard = TokenGuard(token)
    app = FastAPI(
        title="cosmos-workflow",
        version=__version__,
        description="Queue, smart batching and runs for NVIDIA Cosmos Transfer.",
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    install_error_handlers(app)
    api = build_router(ctx, worker)
    add_session_route(api, guard)
    app.include_router(api, dependencies=[Depends(guard)])
    install_api_fallback(app, api)
    add_review_page(app)  # before the UI's mount at /, which would answer /review otherwise
    document_write_refusals(app)
    if with_ui:
        # Innermost: it sees only what the Host, size and cross-site guards let through.
        app.add_middleware(LoginSession, guard=guard)
    _install_guards(app, ctx, bind)
    if with_ui:
        from cosmos_workflow.ui.app import mount_ui

        mount_ui(app, ctx, token=token, worker=worker)
    return app


def _install_guards(app: FastAPI, ctx: Context, bind: tuple[str, int | None]) -> None:
    """Outermost first: the Host check, then the body limit, then the cross-site check (each
    add_middleware wraps the ones added before it)."""
    settings = ctx.settings
    app.add_middleware(CrossSiteGuard, allowed_origins=settings.allowed_origins)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(HostGuard, rule=HostRule.of(bind[0], bind[1], settings.allowed_hosts))
