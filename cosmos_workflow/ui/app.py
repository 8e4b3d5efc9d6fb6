"""The Gradio UI, mounted at / in the API's FastAPI app. Every action calls the same service
functions as the CLI and the REST API. With a token, Gradio's login page asks for it (any user
name, the token as password); the login also sets the session cookie (api/auth.py) that lets the
page's script read /api/events.

Live updates: LIVE_JS opens one EventSource on /api/events per page. An event of a kind a tab
shows marks that tab; 300 ms after the last one (a burst of progress and log events is one
update) the script clicks the hidden trigger (ui/common.live_trigger) of each marked tab that is
on screen, and the tab's own handler re-reads everything it shows through the services. A tab
opened later re-reads when selected. Polling remains only as a fallback: while the stream is
down (server restarting, no session cookie) the script triggers the visible tab every 5 s, and
every 30 s in any case, for the texts that move with the clock alone (ETAs, the Fleet chart)."""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING, Any

import gradio as gr
from fastapi import FastAPI

from cosmos_workflow.api.auth import token_matches
from cosmos_workflow.api.models import EmbeddedWorkerStatus
from cosmos_workflow.services import queue, workers
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.media import previews_dir, served_dirs
from cosmos_workflow.ui import fleet_tab, inputs_tab, jobs_tab, prompts_tab, runs_tab
from cosmos_workflow.ui.common import escaped, live_trigger

if TYPE_CHECKING:
    from cosmos_workflow.worker.embedded import EmbeddedWorker

log = logging.getLogger(__name__)

TITLE = "Cosmos Workflow"
# Which event kinds (api/stream.py, store/events.py) each live trigger follows.
LIVE_JS = """
() => {
  const DEBOUNCE_MS = 300, FALLBACK_MS = 5000, CLOCK_MS = 30000, RETRY_MS = 10000;
  const other = (kind) => /^(input|prompt)\\./.test(kind);
  const FOLLOWS = {
    jobs: (kind) => !other(kind),
    runs: (kind) => /^runs?\\./.test(kind) || kind === "jobs.enqueued" || kind === "job.status",
    fleet: (kind) => !other(kind) && kind !== "job.log" && !/^run\\.(rated|picked)$/.test(kind),
    banner: (kind) => /^(worker|queue)\\./.test(kind),
  };
  const live = (window.cosmosLive = { open: false, events: 0, updates: 0 });
  const marked = new Set();
  let timer = null;
  let updatedAt = Date.now();
  const onScreen = (name) => {
    if (name === "banner") return true;
    const panel = document.getElementById("tab-" + name);
    return !!panel && panel.getClientRects().length > 0;
  };
  const update = () => {
    timer = null;
    for (const name of marked) {
      const trigger = document.getElementById("live-" + name);
      if (trigger && onScreen(name)) { trigger.click(); live.updates += 1; }
    }
    marked.clear();
    updatedAt = Date.now();
  };
  const mark = (names) => {
    names.forEach((name) => marked.add(name));
    if (marked.size && timer === null) timer = setTimeout(update, DEBOUNCE_MS);
  };
  const connect = () => {
    const source = new EventSource("api/events");
    source.onopen = () => { live.open = true; mark(Object.keys(FOLLOWS)); };
    source.onmessage = (message) => {
      let kind = "";
      try { kind = JSON.parse(message.data).kind || ""; } catch (error) { return; }
      live.events += 1;
      mark(Object.keys(FOLLOWS).filter((name) => FOLLOWS[name](kind)));
    };
    source.onerror = () => {
      live.open = false;
      // A refused stream (401) is closed for good: try again later (the browser retries
      // dropped connections itself).
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, RETRY_MS);
    };
  };
  connect();
  setInterval(() => {
    const idle = Date.now() - updatedAt;
    if ((!live.open && idle >= FALLBACK_MS) || idle >= CLOCK_MS) mark(["jobs", "runs", "fleet"]);
  }, FALLBACK_MS);
}
"""


def banner(ctx: Context, worker: EmbeddedWorker | None = None) -> str:
    """What a user must know before anything else: this server's own worker, and whether work
    is real, simulated, or not running at all."""
    alive = [w for w in workers.list_workers(ctx) if w.alive]
    paused = queue.is_paused(ctx)
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
    error = f" after: {escaped(status.last_error)}" if status.last_error else ""
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


def build_ui(ctx: Context, worker: EmbeddedWorker | None = None) -> gr.Blocks:
    blocks = gr.Blocks(title=TITLE)
    with blocks:
        gr.Markdown(f"# {TITLE}")
        status = gr.Markdown(elem_id="banner")
        banner_trigger = live_trigger("banner")
        with gr.Tabs():
            with gr.Tab("Inputs", id="inputs", elem_id="tab-inputs"):
                inputs_parts = inputs_tab.build(ctx)
            with gr.Tab("Prompts", id="prompts", elem_id="tab-prompts"):
                prompts_parts = prompts_tab.build(ctx)
            with gr.Tab("Runs", id="runs", elem_id="tab-runs") as runs_tab_shown:
                runs_parts = runs_tab.build(ctx)
            with gr.Tab("Jobs", id="jobs", elem_id="tab-jobs") as jobs_tab_shown:
                jobs_parts = jobs_tab.build(ctx)
            with gr.Tab("Fleet", id="fleet", elem_id="tab-fleet") as fleet_tab_shown:
                fleet_parts = fleet_tab.build(ctx)
        blocks.load(lambda: banner(ctx, worker), outputs=[status])
        banner_trigger.click(lambda: banner(ctx, worker), outputs=[status], show_progress="hidden")
        # Workers' liveness is their heartbeat, which records no event: the banner keeps its
        # own slow look.
        gr.Timer(5.0).tick(lambda: banner(ctx, worker), outputs=[status], show_progress="hidden")
        # A tab the stream's updates skipped while it was hidden reads afresh when opened.
        for shown, parts in (
            (runs_tab_shown, runs_parts),
            (jobs_tab_shown, jobs_parts),
            (fleet_tab_shown, fleet_parts),
        ):
            _on_select(shown, parts)
        _on_load(blocks, inputs_parts)
        _on_load(blocks, prompts_parts)
        _on_load(blocks, runs_parts)
        _on_load(blocks, jobs_parts)
        _on_load(blocks, fleet_parts)
    return blocks


def _on_load(blocks: gr.Blocks, parts: dict[str, Any]) -> None:
    load, outputs = parts["load"]
    blocks.load(load, inputs=parts.get("load_inputs"), outputs=outputs)


def _on_select(shown: gr.Tab, parts: dict[str, Any]) -> None:
    load, outputs = parts["load"]
    shown.select(load, inputs=parts.get("load_inputs"), outputs=outputs, show_progress="hidden")


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
        js=LIVE_JS,
    )
    return app
