"""The Gradio UI, mounted at / in the API's FastAPI app. Every action calls the same service
functions as the CLI and the REST API. With a token, Gradio's login page asks for it (any user
name, the token as password)."""

from __future__ import annotations

import logging
import math
import re
import time
from typing import TYPE_CHECKING, Any

import gradio as gr
from fastapi import FastAPI

from cosmos_workflow.api.auth import token_matches
from cosmos_workflow.api.models import EmbeddedWorkerStatus
from cosmos_workflow.services import queue, workers
from cosmos_workflow.services.context import Context
from cosmos_workflow.ui import fleet_tab, inputs_tab, jobs_tab, prompts_tab, runs_tab
from cosmos_workflow.ui.media import previews_dir, served_dirs

if TYPE_CHECKING:
    from cosmos_workflow.worker.embedded import EmbeddedWorker

log = logging.getLogger(__name__)

TITLE = "Cosmos Workflow"


def banner(ctx: Context, worker: EmbeddedWorker | None = None) -> str:
    """What a user must know before anything else: this server's own worker, and whether work
    is real, simulated, or not running at all."""
    alive = [w for w in workers.list_workers(ctx) if w.alive]
    paused = queue.queue_status(ctx).paused
    parts = [embedded_worker_text(EmbeddedWorkerStatus.of(worker), time.time())]
    if not alive:
        parts.append("**No worker is running**: queued work will wait until one starts.")
    elif any(w.simulate for w in alive):
        hosts = ", ".join(sorted({w.host_name for w in alive if w.simulate}))
        parts.append(
            f"**SIMULATED work** on {hosts}: no GPU is used and outputs are synthetic "
            "videos. Declare hosts in cosmos.toml to run NVIDIA's models."
        )
    else:
        parts.append(
            f"{len(alive)} GPU slot(s) with a live worker on "
            + ", ".join(sorted({w.host_name for w in alive}))
            + " (Fleet tab)."
        )
    if paused:
        parts.append("The queue is **PAUSED** (Jobs tab: Resume queue).")
    return " ".join(parts)


def embedded_worker_text(status: EmbeddedWorkerStatus, now: float) -> str:
    """The banner's one line about this server's own worker (`GET /api/worker`)."""
    error = f" after: {_plain(status.last_error)}" if status.last_error else ""
    restarts = f" ({status.restarts} restart{'' if status.restarts == 1 else 's'})"
    if status.state == "none":
        return "No worker in this server (run `cosmos worker`)."
    if status.state == "running":
        return "Worker: running" + (restarts if status.restarts else "") + "."
    if status.state == "restarting":
        wait = max(0, math.ceil((status.next_start_at or now) - now))
        return f"**Worker restarting in {wait} s**{error}{restarts}."
    if status.state == "stopped":
        return f"**Worker stopped**{error}."
    return "Worker: starting."


def _plain(text: str) -> str:
    """Text shown as is in Markdown: its markup characters escaped."""
    return re.sub(r"([\\`*_\[\]<>|~])", r"\\\1", text)


def build_ui(ctx: Context, worker: EmbeddedWorker | None = None) -> gr.Blocks:
    blocks = gr.Blocks(title=TITLE)
    with blocks:
        gr.Markdown(f"# {TITLE}")
        status = gr.Markdown(elem_id="banner")
        with gr.Tabs():
            with gr.Tab("Inputs", id="inputs", elem_id="tab-inputs"):
                inputs_parts = inputs_tab.build(ctx)
            with gr.Tab("Prompts", id="prompts", elem_id="tab-prompts"):
                prompts_parts = prompts_tab.build(ctx)
            with gr.Tab("Runs", id="runs", elem_id="tab-runs"):
                runs_parts = runs_tab.build(ctx)
            with gr.Tab("Jobs", id="jobs", elem_id="tab-jobs"):
                jobs_parts = jobs_tab.build(ctx)
            with gr.Tab("Fleet", id="fleet", elem_id="tab-fleet"):
                fleet_parts = fleet_tab.build(ctx)
        blocks.load(lambda: banner(ctx, worker), outputs=[status])
        gr.Timer(5.0).tick(lambda: banner(ctx, worker), outputs=[status], show_progress="hidden")
        _on_load(blocks, inputs_parts)
        _on_load(blocks, prompts_parts)
        _on_load(blocks, runs_parts)
        _on_load(blocks, jobs_parts)
        _on_load(blocks, fleet_parts)
    return blocks


def _on_load(blocks: gr.Blocks, parts: dict[str, Any]) -> None:
    load, outputs = parts["load"]
    blocks.load(load, inputs=parts.get("load_inputs"), outputs=outputs)


def login_check(token: str) -> Any:
    def check(_username: str, password: str) -> bool:
        return token_matches(token, password)

    return check


def mount_ui(
    app: FastAPI, ctx: Context, *, token: str | None, worker: EmbeddedWorker | None = None
) -> FastAPI:
    previews_dir(ctx.settings).mkdir(parents=True, exist_ok=True)
    gr.mount_gradio_app(  # mounts the UI on `app` itself
        app,
        build_ui(ctx, worker),
        path="/",
        auth=login_check(token) if token else None,
        auth_message="Sign in with any user name and the server's token as the password.",
        # Outputs, thumbnails and previews only: never the database, logs or job folders.
        allowed_paths=[str(folder) for folder in served_dirs(ctx.settings)],
        ssr_mode=False,
        footer_links=["api"],
    )
    return app
