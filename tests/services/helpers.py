"""Seed data through the real services."""

from __future__ import annotations

from pathlib import Path

from cosmos_workflow.services import inputs, prompts
from cosmos_workflow.services.context import Context
from tests.videos import make_input_folder


def seed_input(
    ctx: Context, name: str = "scene", controls: tuple[str, ...] = ("depth", "seg")
) -> str:
    folder = make_input_folder(Path(ctx.settings.home).parent / f"in-{name}", controls=controls)
    return inputs.add_input(ctx, folder, name=name).id


def seed_prompts(ctx: Context, count: int, input_name: str = "scene") -> list[str]:
    try:
        inputs.show_input(ctx, input_name)
    except Exception:
        seed_input(ctx, input_name)
    return [prompts.create_prompt(ctx, input_name, f"prompt number {i}").id for i in range(count)]
