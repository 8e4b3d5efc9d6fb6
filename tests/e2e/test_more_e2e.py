"""More end-to-end paths through real worker and simulator processes: an SSH host, calibration
on a held-out batch, upscale and enhance, guardrail blocks, crash retries, and the demo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from cosmos_workflow.services import media
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.models import JobRow, PromptRow, RunRow, TimingRow
from tests.e2e.conftest import Cosmos
from tests.hosts.sshd import SSHServer, sshd

pytestmark = pytest.mark.slow
__all__ = ["sshd"]


def _prompts(cosmos: Cosmos, scene: str, count: int) -> list[str]:
    return [
        cosmos.json("prompt", "create", f"a scene, take {i}", "--input", scene)["id"]
        for i in range(count)
    ]


def _runs(ctx: Context) -> list[RunRow]:
    with ctx.db.read() as session:
        return list(session.scalars(select(RunRow)).all())


def test_worker_on_an_ssh_host(
    ctx: Context, cosmos: Cosmos, scene: str, sshd: SSHServer, env: dict[str, str], tmp_path: Path
) -> None:
    remote = tmp_path / "remote-jobs"
    Path(env["COSMOS_CONFIG"]).write_text(
        "[[hosts]]\n"
        'name = "gpu-ssh"\n'
        f'ssh = "{sshd.target}"\n'
        f"ssh_port = {sshd.port}\n"
        f'ssh_key = "{sshd.client_key}"\n'
        f'known_hosts = "{sshd.known_hosts}"\n'
        f'workdir = "{remote}"\n'
        "simulate = true\n"
    )
    prompt_ids = _prompts(cosmos, scene, 3)
    job = cosmos.json("queue", "add", *prompt_ids, "--weights", "depth=0.6")
    cosmos("worker", "--exit-when-idle")
    shown = cosmos.json("job", "show", job["job_id"])
    assert shown["status"] == "succeeded" and shown["host_name"] == "gpu-ssh"
    for run in shown["runs"]:
        assert run["status"] == "succeeded"
        assert Path(run["output_path"]).is_relative_to(Path(env["COSMOS_HOME"]))
        assert media.video_decodes(Path(run["output_path"]))
    log = cosmos("logs", job["job_id"]).stdout
    assert "Saved video" in log
    # Only the simulated machine's device locks stay (docs/fleet.md), never a job's directory.
    left = [p.name for p in remote.glob("*") if p.name != ".simulated-gpus"]
    assert not left, "a succeeded job's remote directory is removed"


def test_calibration_predicts_a_held_out_batch(ctx: Context, cosmos: Cosmos, scene: str) -> None:
    prompt_ids = _prompts(cosmos, scene, 6)
    shapes = [
        ("edge=0.5", "35"),
        ("depth=0.5", "35"),
        ("depth=0.4,seg=0.4", "35"),
        ("edge=0.5", "20"),
        ("vis=0.3,edge=0.3", "35"),
        ("seg=0.7", "35"),
        ("edge=0.5,depth=0.5,seg=0.5", "20"),
    ]
    for weights, steps in shapes:
        cosmos.json("queue", "add", prompt_ids[0], "--weights", weights, "--steps", steps)
        cosmos.json("queue", "add", *prompt_ids[:3], "--weights", weights, "--steps", steps)
    cosmos("worker", "--simulate", "--exit-when-idle")
    report = cosmos.json("calibrate")
    assert report["samples"] == 2 * len(shapes)
    held_out = [
        cosmos.json("queue", "add", p, "--weights", "depth=0.5,edge=0.3", "--steps", "30")
        for p in prompt_ids
    ]
    plan = cosmos.json("batch", "analyze", "--mode", "strict")
    assert plan["calibrated"] is True
    (batch,) = [b for b in plan["batches"] if len(b["run_ids"]) == len(held_out)]
    cosmos.json("batch", "apply", plan["plan_id"])
    cosmos("worker", "--simulate", "--exit-when-idle")
    with ctx.db.read() as session:
        timing = session.scalars(select(TimingRow).order_by(TimingRow.id.desc())).first()
    assert timing is not None and timing.runs == len(held_out)
    measured = timing.load_seconds + timing.compute_seconds
    error = abs(batch["predicted_seconds"] - measured) / measured
    assert error < 0.10, f"predicted {batch['predicted_seconds']:.0f}s, measured {measured:.0f}s"


def test_upscale_and_enhance_through_the_worker(ctx: Context, cosmos: Cosmos, scene: str) -> None:
    (prompt_id,) = _prompts(cosmos, scene, 1)
    job = cosmos.json("queue", "add", prompt_id, "--weights", "edge=0.6")
    cosmos("worker", "--simulate", "--exit-when-idle")
    upscale = cosmos.json("queue", "upscale", job["run_ids"][0])
    enhance = cosmos.json("queue", "enhance", prompt_id)
    plan = cosmos.json("batch", "analyze", "--mode", "auto")
    assert plan["batches"] == [], "upscale and enhance are never batched"
    cosmos("worker", "--simulate", "--exit-when-idle")
    upscaled = cosmos.json("job", "show", upscale["job_id"])
    assert upscaled["status"] == "succeeded", upscaled
    assert media.video_decodes(Path(upscaled["runs"][0]["output_path"]))
    enhanced = cosmos.json("job", "show", enhance["job_id"])
    assert enhanced["status"] == "succeeded", enhanced
    new_prompt = enhanced["runs"][0]["result_prompt_id"]
    with ctx.db.read() as session:
        row = session.get(PromptRow, new_prompt)
        assert row is not None and row.parent_prompt_id == prompt_id and row.text


def test_guardrail_block_fails_only_that_run(ctx: Context, cosmos: Cosmos, scene: str) -> None:
    """With `--batch_size 1` a blocked prompt is a whole-batch block, which ends Transfer1 with
    exit 1 before the later JSONL lines: those runs go back to the queue as a new job, with
    none of their attempts used, and render there."""
    prompt_ids = _prompts(cosmos, scene, 3)
    job = cosmos.json("queue", "add", *prompt_ids, "--weights", "edge=0.6")
    worker = cosmos.start(
        "worker",
        "--simulate",
        "--exit-when-idle",
        extra_env={"COSMOS_SIM_FAULTS": json.dumps({"guardrail_block": [2]})},
    )
    worker.communicate(timeout=240)
    first, blocked_id, later = job["run_ids"]
    with ctx.db.read() as session:
        runs = {r.id: r for r in session.scalars(select(RunRow)).all()}
        source = session.get(JobRow, job["job_id"])
        assert source is not None and source.attempts == 1, "a guardrail block is not retried"
        assert source.status == "failed" and source.failure_class == "guardrail"
        assert runs[blocked_id].status == "failed"
        assert runs[blocked_id].failure_class == "guardrail"
        assert runs[first].status == "succeeded" and runs[first].job_id == job["job_id"]
        assert runs[later].status == "succeeded", runs[later].error
        assert runs[later].job_id != job["job_id"], "the run the process never reached moved"
        assert runs[later].attempts == 1, "only the attempt that reached it counts"
        requeued = session.get(JobRow, runs[later].job_id)
        assert requeued is not None and requeued.attempts == 1
        assert requeued.position == source.position, "it keeps its place in the queue"


def test_a_crash_is_retried_then_quarantined(ctx: Context, cosmos: Cosmos, scene: str) -> None:
    (prompt_id,) = _prompts(cosmos, scene, 1)
    job = cosmos.json("queue", "add", prompt_id, "--weights", "seg=0.6")
    worker = cosmos.start(
        "worker",
        "--simulate",
        "--exit-when-idle",
        extra_env={"COSMOS_SIM_FAULTS": json.dumps({"crash_after_steps": 3})},
    )
    worker.communicate(timeout=240)
    shown = cosmos.json("job", "show", job["job_id"])
    assert shown["status"] == "failed" and shown["attempts"] == shown["max_attempts"]
    assert shown["failure_class"] == "crash"
    assert shown["runs"][0]["status"] == "failed"


def test_demo_json(tmp_path: Path, cosmos: Cosmos) -> None:
    result = cosmos.json("demo", "--home", str(tmp_path / "demo"), "--time-scale", "0")
    for key in (
        "predicted_speedup",
        "measured_speedup",
        "measured_seconds_unbatched",
        "measured_seconds_batched",
        "calibration_error_pct",
    ):
        assert isinstance(result[key], float), key
    assert result["runs"] >= 24
    assert result["measured_speedup"] > 1.0
    assert result["measured_seconds_batched"] < result["measured_seconds_unbatched"]
    assert result["unbatched"]["runs_succeeded"] == result["runs"]
    assert result["batched"]["runs_succeeded"] == result["runs"]
    # It ends with a rendered 4 x 2 sweep, and the review grid lays it out.
    assert result["sweep"]["runs_succeeded"] == 8
    demo = Cosmos({"COSMOS_HOME": str(tmp_path / "demo")})
    demo.env.pop("COSMOS_DATABASE_URL", None)
    sweep = demo.json("sweeps", "show", result["sweep_name"])["sweep"]
    assert sweep["id"] == result["sweep_id"] and sweep["counts"] == {"succeeded": 8}
    grid = demo.json("review", result["sweep_name"])
    assert grid["url"].endswith(f"/review?sweep={result['sweep_name']}")
    # Then a Cosmos 3 sweep over six control mixes on two prompts: one process, identical.
    c3 = result["cosmos3"]
    assert (c3["runs"], c3["jobs_as_queued"], c3["batches"], c3["batches_identical"]) == (
        12,
        6,
        1,
        1,
    )
    assert c3["execution"]["runs_succeeded"] == 12 and c3["execution"]["jobs"] == 1
    assert c3["predicted_speedup"] > 1.0
