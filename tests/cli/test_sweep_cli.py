"""`cosmos sweep`, `cosmos sweeps list/show/cancel`, `runs list --sweep`, `queue import` of a
sweep line, and the queue list's weight ranges: exit codes and what is printed."""

from __future__ import annotations

import json
from pathlib import Path

from cosmos_workflow.cli.common import ranges_text
from cosmos_workflow.services.context import Context
from tests.cli.runner import cosmos, cosmos_json
from tests.services.helpers import seed_prompts
from tests.services.snapshot import database_snapshot


def test_a_sweep_prints_its_size_and_prediction_then_queues(ctx: Context) -> None:
    prompts = seed_prompts(ctx, 2)
    code, out, err = cosmos(
        "sweep", *prompts, "--weights", "depth=0.2:0.8:0.2", "-w", "seg=0.3,0.6", "--seeds",
        "1,2", "--name", "look", "--steps", "10",
    )  # fmt: skip
    assert code == 0, err
    assert "= 32 runs in 16 job(s)" in " ".join(out.split())
    assert "predicted GPU time" in out and "finish around" in out
    assert "queued sweep look" in out
    listed = cosmos_json("runs", "list", "--sweep", "look", "--limit", "100")["runs"]
    assert len(listed) == 32 and {r["params"]["steps"] for r in listed} == {10}
    sweeps = cosmos_json("sweeps", "list")["sweeps"]
    assert [(s["name"], s["runs"], s["status"]) for s in sweeps] == [("look", 32, "queued")]
    shown = cosmos_json("sweeps", "show", "look")
    assert shown["sweep"]["axes"] == {"depth": [0.2, 0.4, 0.6, 0.8], "seg": [0.3, 0.6]}
    assert len(shown["runs"]) == 32 and shown["runs"][0]["prompt_text"].startswith("prompt")


def test_the_queue_list_shows_each_jobs_weight_ranges(ctx: Context) -> None:
    prompts = seed_prompts(ctx, 1)
    assert cosmos("sweep", prompts[0], "-w", "depth=0.4,0.8,0.6")[0] == 0
    assert cosmos("batch", "analyze")[0] == 0
    assert cosmos("batch", "apply")[0] == 0
    jobs = cosmos_json("queue", "list")["jobs"]
    assert [j["weight_ranges"] for j in jobs] == [{"depth": [0.4, 0.8]}]
    assert ranges_text({"depth": [0.4, 0.8], "seg": [0.3, 0.3]}) == "depth=0.4-0.8,seg=0.3"


def test_a_large_sweep_needs_yes_and_refusals_change_nothing(ctx: Context) -> None:
    prompts = seed_prompts(ctx, 1)
    before = database_snapshot(ctx)
    code, out, err = cosmos("sweep", prompts[0], "-w", "edge=0.001:1:0.001")
    assert code == 2 and "above the limit of 500" in err and "--yes" in err
    assert "1000 runs" in out  # the preview was printed before the refusal
    for args in (
        ("-w", "edge=0.8:0.2:0.1"),
        ("-w", "edge=abc"),
        ("-w", "nope=0.5"),
        ("-w", "edge=0.5", "--seeds", "x"),
        ("-w", "edge=0.5", "--backend", "nope"),
    ):
        code, _, err = cosmos("sweep", prompts[0], *args)
        assert code == 2, (args, err)
    assert cosmos("sweep", "no-such-prompt", "-w", "edge=0.5")[0] == 1
    assert cosmos("sweep", prompts[0])[0] == 2  # --weights is required
    assert cosmos("sweep", prompts[0], "-w", "edge=0.5", "--dry-run")[0] == 0
    assert database_snapshot(ctx) == before
    code, out, _ = cosmos("sweep", prompts[0], "-w", "edge=0.001:1:0.001", "--yes")
    assert code == 0 and "1000 runs" in out


def test_cancelling_a_sweep_and_unknown_sweeps(ctx: Context) -> None:
    prompts = seed_prompts(ctx, 1)
    cosmos_json("sweep", prompts[0], "-w", "edge=0.2,0.4", "--name", "gone")
    result = cosmos_json("sweeps", "cancel", "gone")
    assert result["cancelled_runs"] == 2 and result["sweep"]["status"] == "finished"
    assert cosmos("sweeps", "cancel", "nothing")[0] == 1
    assert cosmos("sweeps", "show", "nothing")[0] == 1
    assert cosmos("runs", "list", "--sweep", "nothing")[0] == 1


def test_import_takes_sweep_lines_in_one_transaction(ctx: Context, tmp_path: Path) -> None:
    prompts = seed_prompts(ctx, 2)
    file = tmp_path / "work.jsonl"
    lines = [
        {"prompt_ids": prompts[:1], "weights": {"edge": 0.5}},
        {
            "sweep": {"weights": {"depth": "0.2:0.6:0.2", "seg": [0.3, 0.6]}, "seeds": [7, 8],
                      "name": "imported"},
            "prompt_ids": prompts,
            "steps": 20,
        },
    ]  # fmt: skip
    file.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    result = cosmos_json("queue", "import", str(file))
    assert result["runs"] == 1 + 2 * 3 * 2 * 2
    runs = cosmos_json("runs", "list", "--sweep", "imported", "--limit", "100")["runs"]
    assert len(runs) == 24 and {r["seed"] for r in runs} == {7, 8}
    assert {r["params"]["steps"] for r in runs} == {20}
    # A bad sweep line rejects the whole file.
    before = database_snapshot(ctx)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"prompt_ids": prompts, "weights": {"edge": 0.5}})
        + "\n"
        + json.dumps({"sweep": {"weights": {"depth": "0.8:0.2:0.2"}}, "prompt_ids": prompts})
        + "\n"
    )
    code, _, err = cosmos("queue", "import", str(bad))
    assert code == 2 and "line 2" in err and "stops" in err
    taken = tmp_path / "taken.jsonl"
    taken.write_text(json.dumps({"sweep": {"weights": {"edge": [0.5]}, "name": "imported"},
                                 "prompt_ids": prompts}) + "\n")  # fmt: skip
    assert cosmos("queue", "import", str(taken))[0] == 1
    assert database_snapshot(ctx) == before


def test_picking_a_run(ctx: Context) -> None:
    prompts = seed_prompts(ctx, 1)
    cosmos_json("sweep", prompts[0], "-w", "edge=0.2,0.4", "--name", "p")
    run_id = cosmos_json("runs", "list", "--sweep", "p")["runs"][0]["id"]
    assert cosmos_json("runs", "pick", run_id)["picked"] is True
    assert [r["id"] for r in cosmos_json("runs", "list", "--picked")["runs"]] == [run_id]
    assert cosmos_json("runs", "pick", run_id, "--undo")["picked"] is False
    assert cosmos("runs", "pick", "no-such-run")[0] == 1
