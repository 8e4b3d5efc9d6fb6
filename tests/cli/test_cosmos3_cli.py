"""`--backend cosmos3` on the command line: `queue add`, `sweep` and `queue import` queue runs
holding the Cosmos 3 values, and what Cosmos 3 cannot render is refused (exit 2, nothing
changed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cosmos_workflow.config import load_settings
from cosmos_workflow.domain.params import Backend
from cosmos_workflow.services import prompts
from cosmos_workflow.services.context import Context
from tests.cli.runner import cosmos, cosmos_json
from tests.services.helpers import seed_input
from tests.services.snapshot import database_snapshot

C3_OPTIONS = (
    "--backend", "cosmos3", "--checkpoint", "Cosmos3-Super", "--sampler", "edm",
    "--sigma-max", "80", "--no-diffusion-cache", "--control-guidance", "2.5", "--shift", "5",
    "--resolution", "480", "--chunk-frames", "121", "--conditional-frames", "2",
    "--max-frames", "200", "--guidance", "4", "--steps", "20", "--fps", "24",
    "--blur", "low", "--canny", "high",
)  # fmt: skip
C3_VALUES = {
    "backend": "cosmos3",
    "checkpoint": "Cosmos3-Super",
    "sampler": "edm",
    "sigma_max": 80.0,
    "diffusion_cache": False,
    "control_guidance": 2.5,
    "shift": 5.0,
    "resolution": "480",
    "chunk_frames": 121,
    "conditional_frames": 2,
    "max_frames": 200,
    "guidance": 4.0,
    "steps": 20,
    "fps": 24,
    "blur": "low",
    "canny": "high",
}


def seed_prompt(
    ctx: Context, name: str = "c3", controls: tuple[str, ...] = ("depth", "wsm")
) -> str:
    seed_input(ctx, name, controls=controls)
    return prompts.create_prompt(ctx, name, "a forklift in a warehouse").id


def _runs(job_id: str) -> list[dict[str, object]]:
    runs: list[dict[str, object]] = cosmos_json("runs", "list", "--job", job_id)["runs"]
    return runs


def test_queue_add_with_cosmos3_queues_one_run_per_output(ctx: Context) -> None:
    prompt = seed_prompt(ctx)
    made = cosmos_json(
        "queue", "add", prompt, "--weights", "depth=0.4,wsm=0.6", *C3_OPTIONS,
        "--seed", "11", "--num-outputs", "3",
    )  # fmt: skip
    assert len(made["run_ids"]) == 3
    runs = _runs(made["job_id"])
    assert sorted(r["params"]["seed"] for r in runs) == [11, 12, 13]  # type: ignore[index]
    params = runs[0]["params"]
    assert {k: params[k] for k in C3_VALUES} == C3_VALUES  # type: ignore[index]


def test_queue_add_cosmos3_defaults_follow_nvidia_and_the_cache_flag_turns_on(
    ctx: Context,
) -> None:
    prompt = seed_prompt(ctx)
    code, _, err = cosmos("queue", "add", prompt, "--weights", "seg=0.5", "--backend", "cosmos3")
    assert code == 2 and "no seg control video" in err  # this input has depth and wsm only
    made = cosmos_json(
        "queue", "add", prompt, "--weights", "depth=1", "--backend", "cosmos3",
        "--diffusion-cache",
    )  # fmt: skip
    [run] = _runs(made["job_id"])
    params = run["params"]
    assert params["diffusion_cache"] is True and params["checkpoint"] == "Cosmos3-Nano"  # type: ignore[index]
    assert params["guidance"] == 3.0 and params["control_guidance"] == 1.5  # type: ignore[index]


def test_cosmos3_options_are_refused_with_another_backend(ctx: Context) -> None:
    prompt = seed_prompt(ctx)
    before = database_snapshot(ctx)
    for option, value in (("--checkpoint", "Cosmos3-Nano"), ("--num-outputs", "2")):
        code, _, err = cosmos("queue", "add", prompt, option, value)
        assert code == 2 and "is a Cosmos 3 parameter" in err, err
        code, _, err = cosmos("sweep", prompt, "-w", "edge=0.2,0.4", option, value)
        assert code == 2 and "is a Cosmos 3 parameter" in err, err
    code, _, err = cosmos(
        "queue", "add", prompt, "--no-diffusion-cache", "--backend", "transfer2.5"
    )
    assert code == 2 and "diffusion_cache is a Cosmos 3 parameter" in err
    assert database_snapshot(ctx) == before


def test_a_cosmos3_sweep_holds_the_cosmos3_values(ctx: Context) -> None:
    prompt = seed_prompt(ctx)
    result = cosmos_json(
        "sweep", prompt, "-w", "depth=0.2,0.8", "-w", "wsm=0.5", *C3_OPTIONS,
        "--num-outputs", "2", "--name", "c3look",
    )  # fmt: skip
    assert result["sweep"]["runs"] == 4 and result["preview"]["runs"] == 4
    listed = cosmos_json("runs", "list", "--sweep", "c3look")["runs"]
    assert len(listed) == 4
    assert sorted(r["params"]["seed"] for r in listed) == [2026, 2026, 2027, 2027]
    assert all({k: r["params"][k] for k in C3_VALUES} == C3_VALUES for r in listed)


def test_a_cosmos3_sweep_of_one_controls_weight_is_refused(ctx: Context) -> None:
    prompt = seed_prompt(ctx)
    before = database_snapshot(ctx)
    code, _, err = cosmos("sweep", prompt, "-w", "depth=0.2:0.8:0.2", "--backend", "cosmos3")
    assert code == 2 and "renders one video per seed" in " ".join(err.split())
    assert database_snapshot(ctx) == before


def test_a_cosmos3_sweep_preview_warns_of_combinations_rendering_alike(ctx: Context) -> None:
    prompt = seed_prompt(ctx)
    code, out, err = cosmos(
        "sweep", prompt, "-w", "depth=0.2,0.4", "-w", "wsm=0.2,0.4", "--backend", "cosmos3",
        "--dry-run",
    )  # fmt: skip
    assert code == 0, err
    assert "1 combination(s) render the same video as another" in " ".join(out.split())


def test_queue_import_passes_cosmos3_params_through(ctx: Context, tmp_path: Path) -> None:
    prompt = seed_prompt(ctx)
    lines = tmp_path / "jobs.jsonl"
    job = {
        "prompt_ids": [prompt],
        "weights": {"depth": 0.5, "vis": 0.5},
        "params": {**C3_VALUES, "seed": 3, "num_outputs": 2},
    }
    sweep = {
        "prompt_ids": [prompt],
        "sweep": {"weights": {"depth": [0.3, 0.6], "edge": [0.5]}},
        "params": {"backend": "cosmos3", "checkpoint": "Cosmos3-Super"},
    }
    lines.write_text(f"{json.dumps(job)}\n{json.dumps(sweep)}\n")
    result = cosmos_json("queue", "import", str(lines))
    assert result["runs"] == 4 and len(result["job_ids"]) == 3
    runs = _runs(result["job_ids"][0])
    assert sorted(r["params"]["seed"] for r in runs) == [3, 4]  # type: ignore[index]
    expected = {k: v for k, v in C3_VALUES.items()}
    assert all({k: r["params"][k] for k in expected} == expected for r in runs)  # type: ignore[index]
    swept = _runs(result["job_ids"][1])
    assert swept[0]["params"]["checkpoint"] == "Cosmos3-Super"  # type: ignore[index]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"weights": {"wsm": 0.5}}, "no wsm control video"),
        ({"weights": {"edge": 0.5}, "params": {"backend": "cosmos3", "fps": 30}}, "fps 30"),
        (
            {"sweep": {"weights": {"edge": "0.2:0.8:0.2"}}, "params": {"backend": "cosmos3"}},
            "renders one video per seed",
        ),
    ],
)
def test_queue_import_refuses_what_cosmos3_cannot_render(
    ctx: Context, tmp_path: Path, line: dict[str, object], message: str
) -> None:
    bare = seed_prompt(ctx, "bare", controls=())
    content = {"prompt_ids": [bare], "params": {"backend": "cosmos3"}, **line}
    lines = tmp_path / "jobs.jsonl"
    lines.write_text(json.dumps(content) + "\n")
    before = database_snapshot(ctx)
    code, _, err = cosmos("queue", "import", str(lines))
    assert code == 2 and message in " ".join(err.split()), err
    assert database_snapshot(ctx) == before


def test_a_cosmos_toml_host_may_run_cosmos3(
    ctx: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "cosmos.toml"
    config.write_text('[[hosts]]\nname = "gpu1"\nbackend = "cosmos3"\nsimulate = true\n')
    monkeypatch.setenv("COSMOS_CONFIG", str(config))
    [host] = load_settings().hosts
    assert host.backend is Backend.COSMOS3
    assert cosmos("queue", "status")[0] == 0
    config.write_text('[[hosts]]\nname = "gpu1"\nbackend = "cosmos4"\n')
    code, _, err = cosmos("queue", "status")
    assert code == 2 and "backend" in err


def test_every_backend_flag_says_which_backend_reads_it() -> None:
    for command in (("queue", "add"), ("sweep",)):
        code, out, _ = cosmos(*command, "--help")
        text = " ".join(out.split())
        assert code == 0 and "transfer1, transfer2.5 or cosmos3" in text
        for flag in ("--checkpoint", "--sampler", "--control-guidance", "--num-outputs"):
            assert flag in text
        assert text.count("Cosmos 3:") >= 10
    code, out, _ = cosmos("verify-batching", "--help")
    assert code == 0 and "cosmos3" in out
