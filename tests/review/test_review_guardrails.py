"""`cosmos review export` keeps the guardrail posture each picked output was made with, in the
JSON and CSV manifests: here Transfer1 runs on a host that asks for them off, which Transfer1
cannot do."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosmos_workflow.config import load_settings
from cosmos_workflow.services import review, runs
from cosmos_workflow.services.context import Context
from tests.review.helpers import finish_all, queue_small_sweep

UNGUARDED_HOST = """[[hosts]]
name = "gpu1"
simulate = true
code_dir = "/opt/cosmos-transfer"
disable_guardrails = true
"""


@pytest.fixture
def unguarded(ctx: Context) -> Iterator[Context]:
    Path(os.environ["COSMOS_CONFIG"]).write_text(UNGUARDED_HOST)
    context = Context(load_settings())
    yield context
    context.db.dispose()


def test_the_export_manifests_carry_each_picked_runs_guardrail_posture(
    unguarded: Context, tmp_path: Path
) -> None:
    sweep = queue_small_sweep(unguarded)
    finish_all(unguarded)
    picked = [r for r in runs.list_runs(unguarded, sweep=sweep.name).runs if r.weights][:2]
    for run in picked:
        runs.pick_run(unguarded, run.id, True)
    folder = tmp_path / "picked"
    result = review.export_picked(unguarded, sweep.name, folder)
    assert [(r.guardrails_asked, r.guardrails_got) for r in result.runs] == [("off", "on")] * 2
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [(e["guardrails_asked"], e["guardrails_got"]) for e in manifest["runs"]] == [
        ("off", "on")
    ] * 2
    with (folder / "manifest.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["guardrails_asked"], r["guardrails_got"]) for r in rows] == [("off", "on")] * 2
