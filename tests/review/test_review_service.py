"""The review grid and the export of picked runs, through the services on SQLite and PostgreSQL
with a real simulated worker's outputs."""

from __future__ import annotations

import csv
import json
import shlex
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from cosmos_workflow.domain.errors import Conflict, InvalidInput, NotFound
from cosmos_workflow.domain.sweeps import parse_axis
from cosmos_workflow.services import queue, review, runs, sweeps
from cosmos_workflow.services.contact_sheet import BORDER, PICKED, cell_origin, sheet_size
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.models import AttemptRow
from tests.review.helpers import finish_all, queue_small_sweep, with_host
from tests.services.helpers import seed_prompts
from tests.services.snapshot import database_snapshot


@pytest.fixture
def hosted(ctx: Context) -> Context:
    return with_host(ctx)


def test_a_two_axis_sweep_lays_out_one_grid_per_seed(hosted: Context) -> None:
    sweep = queue_small_sweep(hosted)
    queued = review.review_grid(hosted, sweep.name)
    assert queued.counts == {"queued": 6} and queued.runs == queued.total == 6
    assert [(a.control, a.values) for a in queued.axes] == [("depth", [0, 0.4]), ("seg", [0, 0.6])]
    assert [p.seed for p in queued.pages] == [1, 2]
    assert finish_all(hosted) == 6
    grid = review.review_grid(hosted, sweep.id)
    assert grid.counts == {"succeeded": 6}
    for page in grid.pages:
        assert page.rows and page.rows.control == "depth" and page.rows.values == [0, 0.4]
        assert page.columns and page.columns.control == "seg" and page.columns.values == [0, 0.6]
        assert page.input_name == "scene" and page.prompt_text == "prompt number 0"
        assert set(page.control_video_urls) == {"depth", "seg"}
        empty = page.cells[0][0]
        assert empty.run is None and empty.weights == {"depth": 0, "seg": 0}
        for r, depth in enumerate(page.rows.values):
            for c, seg in enumerate(page.columns.values):
                cell = page.cells[r][c]
                if (depth, seg) == (0, 0):
                    continue
                assert cell.run is not None and cell.run.seed == page.seed
                wanted = {k: v for k, v in (("depth", depth), ("seg", seg)) if v}
                assert cell.run.weights == wanted and cell.run.status == "succeeded"
                assert cell.video_url == f"/api/runs/{cell.run.id}/video"


def test_a_one_axis_sweep_is_a_single_row_per_prompt(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 2)
    request = sweeps.build_sweep(prompt_ids, [parse_axis("edge=0.2:0.6:0.2")], name="one")
    sweeps.queue_sweep(ctx, request)
    grid = review.review_grid(ctx, "one")
    assert [p.prompt_id for p in grid.pages] == prompt_ids
    for page in grid.pages:
        assert page.rows is None and page.columns and page.columns.values == [0.2, 0.4, 0.6]
        assert len(page.cells) == 1 and [c.run.weights for c in page.cells[0] if c.run] == [
            {"edge": 0.2},
            {"edge": 0.4},
            {"edge": 0.6},
        ]
        assert all(c.run and c.run.status == "queued" for c in page.cells[0])
        assert all(c.video_url is None for c in page.cells[0])


def test_a_third_axis_makes_a_page_per_value_and_a_retry_shows_the_newest(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 1)
    axes = [parse_axis(a) for a in ("depth=0.5", "seg=0.5", "edge=0.1,0.9")]
    sweeps.queue_sweep(ctx, sweeps.build_sweep(prompt_ids, axes, name="three"))
    grid = review.review_grid(ctx, "three")
    assert [p.fixed for p in grid.pages] == [{"edge": 0.1}, {"edge": 0.9}]
    first = grid.pages[0].cells[0][0].run
    assert first is not None
    queue.cancel_job(ctx, first.job_id)
    retried = queue.retry_job(ctx, first.job_id)
    cell = review.review_grid(ctx, "three").pages[0].cells[0][0]
    assert cell.run is not None and cell.run.id == retried.run_ids[0]
    assert cell.earlier_run_ids == [first.id] and cell.run.status == "queued"


def test_without_a_sweep_the_runs_lie_out_by_their_varying_weights(ctx: Context) -> None:
    prompt_ids = seed_prompts(ctx, 1)
    for weights in ({"edge": 0.3, "depth": 0.5}, {"edge": 0.7, "depth": 0.5}):
        queue.enqueue(ctx, queue.build_request(prompt_ids, weights))
    grid = review.review_grid(ctx, prompt_id=prompt_ids[0])
    assert grid.sweep is None and [(a.control, a.values) for a in grid.axes] == [
        ("edge", [0.3, 0.7])
    ]
    assert [c.run.weights["edge"] for c in grid.pages[0].cells[0] if c.run] == [0.3, 0.7]


def test_unknown_sweeps_and_bad_filters_are_refused(ctx: Context) -> None:
    with pytest.raises(NotFound, match="no sweep"):
        review.review_grid(ctx, "nowhere")
    with pytest.raises(InvalidInput, match="status"):
        review.review_grid(ctx, status="bogus")


def test_export_writes_exactly_the_picked_runs(hosted: Context, tmp_path: Path) -> None:
    sweep = queue_small_sweep(hosted)
    finish_all(hosted)
    grid = review.review_grid(hosted, sweep.name)
    chosen = [grid.pages[0].cells[1][1].run, grid.pages[1].cells[0][1].run]
    assert chosen[0] is not None and chosen[1] is not None
    for run in chosen:
        runs.pick_run(hosted, run.id, True)
    runs.rate_run(hosted, chosen[0].id, 5)
    folder = tmp_path / "picked"
    result = review.export_picked(hosted, sweep.name, folder)
    videos = sorted(p.name for p in folder.glob("*.mp4"))
    assert videos == sorted(r.output_file for r in result.runs)
    assert len(videos) == 2 and {r.run_id for r in result.runs} == {r.id for r in chosen}
    assert "_depth0.4_seg0.6_seed1.mp4" in " ".join(videos) and "_seg0.6_seed2.mp4" in videos[1]
    for run in result.runs:
        assert (folder / run.output_file).read_bytes() == Path(run.source_path).read_bytes()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["sweep"]["name"] == "look" and len(manifest["runs"]) == 2
    for entry in manifest["runs"]:
        assert entry["params"]["steps"] == 5 and entry["seed"] in (1, 2)
        assert entry["command"] and entry["command_error"] is None
        assert entry["ran_command"] and entry["ran_on_host"]  # what really made the output
        script = (folder / entry["command_script"]).read_text()
        assert shlex.join(shlex.split(entry["command"])) in script
        assert str(folder / "commands" / entry["job_id"]) in script
    with (folder / "manifest.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {r["run_id"] for r in rows} == {r.id for r in chosen}
    top = next(r for r in rows if r["run_id"] == chosen[0].id)
    assert top["rating"] == "5" and top["weight_depth"] == "0.4" and top["param_steps"] == "5"
    assert top["prompt_text"] == "prompt number 0" and top["command"]
    pages = review.review_grid(hosted, sweep.name).pages
    with Image.open(folder / "contact-sheet.png") as sheet:
        assert sheet.size == sheet_size(pages)
        columns = max(len(p.cells[0]) for p in pages)
        assert sheet.width > columns * 192 and len(pages) == 2
        picked_at = cell_origin(pages, 0, 1, 1)
        plain_at = cell_origin(pages, 0, 1, 0)
        assert sheet.getpixel((picked_at[0] + 1, picked_at[1] + BORDER * 4)) == PICKED
        assert sheet.getpixel((plain_at[0] + 1, plain_at[1] + BORDER * 4)) != PICKED


def test_export_refusals_change_nothing(hosted: Context, tmp_path: Path) -> None:
    sweep = queue_small_sweep(hosted)
    folder = tmp_path / "out"
    before = database_snapshot(hosted)
    with pytest.raises(Conflict, match="no run of sweep look is picked"):
        review.export_picked(hosted, sweep.name, folder)
    queued = review.review_grid(hosted, sweep.name).pages[0].cells[0][1].run
    assert queued is not None
    runs.pick_run(hosted, queued.id, True)
    with pytest.raises(Conflict, match=f"{queued.id} have no output"):
        review.export_picked(hosted, sweep.name, folder)
    assert not folder.exists()
    with pytest.raises(InvalidInput, match="outside the allowed roots"):
        review.export_picked(hosted, sweep.name, "/etc/cosmos-export")
    with pytest.raises(InvalidInput, match="NUL"):
        review.export_picked(hosted, sweep.name, str(tmp_path / "a\x00b"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidInput, match="not a folder"):
        review.export_picked(hosted, sweep.name, tmp_path / "file")
    finish_all(hosted)
    folder.mkdir()
    (folder / "manifest.json").write_text("mine")
    with pytest.raises(Conflict, match=r"already holds manifest\.json.*--overwrite"):
        review.export_picked(hosted, sweep.name, folder)
    assert [p.name for p in folder.iterdir()] == ["manifest.json"]
    assert (folder / "manifest.json").read_text() == "mine"
    del before  # the picks above changed the database on purpose; the refusals did not
    snapshot = database_snapshot(hosted)
    result = review.export_picked(hosted, sweep.name, folder, overwrite=True)
    assert database_snapshot(hosted) == snapshot
    assert len(result.runs) == 1 and json.loads((folder / "manifest.json").read_text())["runs"]


def test_without_a_renderable_host_the_manifest_says_why(ctx: Context, tmp_path: Path) -> None:
    sweep = queue_small_sweep(ctx)
    finish_all(ctx)
    run = review.review_grid(ctx, sweep.name).pages[0].cells[1][0].run
    assert run is not None
    runs.pick_run(ctx, run.id, True)
    result = review.export_picked(ctx, sweep.name, tmp_path / "x")
    (entry,) = result.runs
    assert entry.command is None and entry.command_error and "code_dir" in entry.command_error
    # What ran is known whatever the configuration can render now: the attempt's own argv.
    assert entry.ran_command and entry.ran_on_host == "local-simulated"
    with ctx.db.read() as session:
        argvs = [a.argv for a in session.scalars(select(AttemptRow)) if a.job_id == run.job_id]
    assert shlex.split(entry.ran_command) == argvs[-1]
    assert entry.render_command == f"cosmos job render {run.job_id} --out commands/{run.job_id}"


def test_input_and_control_videos_are_found_and_confined(ctx: Context) -> None:
    seed_prompts(ctx, 1)
    assert review.input_video(ctx, "scene").name.startswith("color")
    assert review.control_video(ctx, "scene", "depth").stem == "depth"
    assert review.control_video(ctx, "scene", "segmentation").stem == "seg"
    with pytest.raises(NotFound, match="no edge control"):
        review.control_video(ctx, "scene", "edge")
    with pytest.raises(InvalidInput, match="unknown control") as refused:
        review.control_video(ctx, "scene", "nope")
    assert refused.value.field == "control"
    with pytest.raises(NotFound):
        review.input_video(ctx, "nowhere")
