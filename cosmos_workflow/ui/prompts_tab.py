"""Prompts: a searchable table, creating a prompt for an input, queueing inference for several
prompts with a weight per control and the advanced parameters, and sweeps (ui/sweep_builder)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from cosmos_workflow.domain.controls import Control
from cosmos_workflow.services import inputs, prompts, queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.views import PromptView
from cosmos_workflow.ui import job_params, sweep_builder
from cosmos_workflow.ui.common import shown_errors

HEADERS = ["id", "name", "input", "text"]
CONTROLS = [c.value for c in Control]


def _rows(views: list[PromptView], names: dict[str, str]) -> list[list[str]]:
    return [[v.id, v.name or "", names.get(v.input_id, v.input_id), v.text] for v in views]


def _choices(views: list[PromptView]) -> list[tuple[str, str]]:
    return [(f"{v.name or v.text[:60]} ({v.id})", v.id) for v in views]


def build(ctx: Context) -> dict[str, Any]:
    with gr.Row():
        query = gr.Textbox(
            label="Search prompts",
            placeholder="words in the text or name",
            elem_id="prompts-search",
            scale=4,
        )
        search = gr.Button("Search", elem_id="prompts-search-button", scale=1)
    table = gr.Dataframe(
        headers=HEADERS, label="Prompts", interactive=False, wrap=True, elem_id="prompts-table"
    )
    with gr.Accordion("Create a prompt", open=False):
        input_choice = gr.Dropdown(label="Input", choices=[], elem_id="prompts-input")
        text = gr.Textbox(label="Prompt text", lines=3, elem_id="prompts-text")
        negative = gr.Textbox(
            label="Negative prompt (optional: empty uses the model's default)",
            elem_id="prompts-negative",
        )
        prompt_name = gr.Textbox(label="Name (optional)", elem_id="prompts-name")
        create = gr.Button("Create prompt", variant="primary", elem_id="prompts-create")
    with gr.Accordion("Queue inference", open=True):
        selected = gr.CheckboxGroup(
            label="Prompts to queue (select several)", choices=[], elem_id="prompts-selected"
        )
        gr.Markdown("Control weights: 0 leaves a control out; at least one must be above 0.")
        with gr.Row():
            sliders = [
                gr.Slider(
                    0.0,
                    1.0,
                    value=1.0 if c == Control.EDGE.value else 0.0,
                    step=0.05,
                    label=f"{c} weight",
                    elem_id=f"prompts-weight-{c}",
                )
                for c in CONTROLS
            ]
        with gr.Row():
            grouping = gr.Radio(
                ["one job per prompt", "one job with all prompts"],
                value="one job per prompt",
                label="Jobs",
                elem_id="prompts-grouping",
            )
            priority = gr.Number(
                value=0,
                precision=0,
                label="Priority (higher runs first)",
                elem_id="prompts-priority",
            )
        params = job_params.fields("prompts")
        enqueue = gr.Button("Queue inference", variant="primary", elem_id="prompts-queue")
        confirmation = gr.Markdown(elem_id="prompts-confirmation")
    sweep = sweep_builder.build(ctx)

    def load(words: str | None = "") -> tuple[Any, ...]:
        names = {v.id: v.name for v in inputs.list_inputs(ctx)}
        words = (words or "").strip()
        every = prompts.list_prompts(ctx)
        views = prompts.search_prompts(ctx, words) if words else every
        return (
            _rows(views, names),
            gr.update(choices=[(n, i) for i, n in names.items()]),
            gr.update(choices=_choices(every)),
            gr.update(choices=sweep_builder.prompt_choices(every)),
            *sweep_builder.listing(ctx),
        )

    @shown_errors
    def add(
        input_id: str | None, body: str | None, neg: str | None, given: str | None
    ) -> tuple[Any, ...]:
        if not input_id:
            raise gr.Error("Input: choose the input this prompt is for.")
        view = prompts.create_prompt(
            ctx,
            input_id,
            body or "",
            name=(given or "").strip() or None,
            negative=neg if neg and neg.strip() else None,
        )
        gr.Info(f"Created prompt {view.id}.")
        return (*load(), "")

    @shown_errors
    def submit(chosen: list[str], mode: str, prio: float | None, *values: Any) -> str:
        weights = {c: w for c, w in zip(CONTROLS, values[: len(CONTROLS)], strict=True) if w}
        params = job_params.chosen(values[len(CONTROLS) :])
        if not chosen:
            raise gr.Error("Prompts to queue: select at least one prompt.")
        groups = [[p] for p in chosen] if mode == "one job per prompt" else [list(chosen)]
        built = [queue.build_request(g, weights, params, priority=int(prio or 0)) for g in groups]
        job_ids = queue.enqueue_many(ctx, built).job_ids
        lines = [f"Queued {len(job_ids)} job(s) for {len(chosen)} prompt(s):"]
        for job_id in job_ids:
            job = queue.get_job(ctx, job_id)
            lines.append(
                f"- job `{job.id}`: {len(job.runs)} run(s), queue position #{job.position}"
            )
        return "\n".join(lines)

    loaded = [table, input_choice, selected, sweep.prompts, sweep.table, sweep.pick]
    search.click(shown_errors(load), inputs=[query], outputs=loaded)
    query.submit(shown_errors(load), inputs=[query], outputs=loaded)
    create.click(add, inputs=[input_choice, text, negative, prompt_name], outputs=[*loaded, text])
    enqueue.click(
        submit,
        inputs=[
            selected,
            grouping,
            priority,
            *sliders,
            *params,
        ],
        outputs=[confirmation],
    )
    return {"load": (load, loaded)}
