"""The simulator fails where NVIDIA's code fails, driven with NVIDIA-shaped command lines and files.

Every test starts the simulator as a real process (`python -m cosmos_workflow.simulator ARGV`) with
argv as NVIDIA documents it: `torchrun ... cosmos_transfer1/diffusion/inference/transfer.py
--controlnet_specs spec.json ...` (examples/inference_cosmos_transfer1_7b.md) and
`python examples/inference.py -i samples.jsonl -o out` (cosmos-transfer2.5 docs/inference.md)."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import datetime
from pathlib import Path

import av

from cosmos_workflow.simulator.video import read_comment
from tests.simulator.conftest import simulate
from tests.videos import make_video

T1_SCRIPT = "cosmos_transfer1/diffusion/inference/transfer.py"
UPSAMPLER = "cosmos_transfer1/auxiliary/upsampler/inference/upsampler_pipeline.py"
TORCHRUN = ["torchrun", "--nproc_per_node", "1", "--nnodes", "1", "--node_rank", "0"]
STAMP = re.compile(r"^\[(\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\|")


def transfer1(
    folder: Path,
    spec: dict,
    *flags: str,
    lines: list[dict] | None = None,
    faults: dict | None = None,
) -> subprocess.CompletedProcess[str]:
    """transfer.py with `spec` as --controlnet_specs and `lines` as --batch_input_path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    argv = [*TORCHRUN, T1_SCRIPT, "--controlnet_specs", "spec.json", "--video_save_folder", "out"]
    if lines is not None:
        text = "".join(json.dumps(line) + "\n" for line in lines)
        (folder / "batch.jsonl").write_text(text, encoding="utf-8")
        argv += ["--batch_input_path", "batch.jsonl"]
    return simulate([*argv, *flags], folder, faults)


def transfer2_5(
    folder: Path,
    samples: list[dict],
    *flags: str,
    faults: dict | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(sample) + "\n" for sample in samples)
    (folder / "samples.jsonl").write_text(text, encoding="utf-8")
    argv = ["python", "examples/inference.py", "-i", "samples.jsonl", "-o", "out", *flags]
    return simulate(argv, folder, faults, env)


def sample(name: str, video: Path, **extra: object) -> dict:
    return {"name": name, "prompt": f"a robot, {name}", "video_path": str(video), **extra}


def stamp(stdout: str, text: str) -> datetime:
    """When the first log line containing `text` was printed (simulated clock)."""
    line = next(line for line in stdout.splitlines() if text in line)
    match = STAMP.match(line)
    assert match, line
    return datetime.strptime(match.group(1), "%m-%d %H:%M:%S.%f")


def edge_spec(video: Path, **extra: object) -> dict:
    return {"input_video_path": str(video), "edge": {"control_weight": 0.5}, **extra}


# -- 1. empty negative prompt ----------------------------------------------------------------------


def test_transfer1_empty_negative_prompt_fails_in_torch_cat(
    tmp_path: Path, videos: dict[str, Path]
) -> None:
    # world_generation_pipeline.py 752-767 embeds only a truthy negative prompt; 447-448 cats None.
    by_spec = transfer1(tmp_path / "spec", edge_spec(videos["a"], negative_prompt=""))
    by_flag = transfer1(tmp_path / "flag", edge_spec(videos["a"]), "--negative_prompt", "")
    for done, folder in ((by_spec, tmp_path / "spec"), (by_flag, tmp_path / "flag")):
        assert done.returncode == 1
        assert "TypeError: expected Tensor as element 0 in argument 0, but got NoneType" in (
            done.stderr
        )
        assert 'world_generation_pipeline.py", line 448, in _run_model_with_offload' in done.stderr
        assert not (folder / "out/output.mp4").exists()


def test_transfer2_5_empty_negative_prompt_fails_or_leaks(
    tmp_path: Path, videos: dict[str, Path]
) -> None:
    empty = sample("empty", videos["b"], negative_prompt="", edge={})
    # Guardrails on: the Blocklist refuses the empty text before any embedding.
    guarded = transfer2_5(tmp_path / "guarded", [empty])
    assert guarded.returncode == 0
    assert "Guardrail blocked generation. Negative prompt: " in guarded.stdout
    assert not (tmp_path / "guarded/out/empty.mp4").exists()
    # First sample of the process: neg_t5_embeddings was never set.
    first = transfer2_5(tmp_path / "first", [empty], "--disable-guardrails")
    assert first.returncode == 1
    assert "AttributeError: 'ControlVideo2WorldInference' object has no attribute" in first.stderr
    # After a sample with a negative prompt, the empty one reuses that embedding.
    leaked = sample("before", videos["a"], negative_prompt="blurry, dark", edge={})
    leak = transfer2_5(tmp_path / "leak", [leaked, empty], "--disable-guardrails")
    assert leak.returncode == 0, leak.stderr
    output = tmp_path / "leak/out/empty.mp4"
    assert read_comment(output)["conditioning"]["negative_prompt"] == "blurry, dark"
    # ... and renders exactly as if the sample had asked for it.
    explicit = {**empty, "negative_prompt": "blurry, dark"}
    alone = transfer2_5(tmp_path / "explicit", [explicit], "--disable-guardrails")
    assert alone.returncode == 0, alone.stderr
    assert output.read_bytes() == (tmp_path / "explicit/out/empty.mp4").read_bytes()


# -- 2. whole-batch guardrail block ----------------------------------------------------------------


def test_transfer1_whole_batch_block_ends_the_process(
    tmp_path: Path, videos: dict[str, Path]
) -> None:
    lines = [{"visual_input": str(videos["a"]), "prompt": f"prompt {n}"} for n in (1, 2, 3)]
    # --batch_size 1: one blocked prompt is a whole batch; line 3 never runs.
    text = transfer1(
        tmp_path / "text", edge_spec(videos["a"]), lines=lines, faults={"guardrail_block": [2]}
    )
    assert text.returncode == 1
    assert "Guardrail blocked generation for entire batch." in text.stdout
    assert "|CRITICAL|cosmos_transfer1/diffusion/inference/transfer.py:377:demo]" in text.stdout
    assert 'transfer.py", line 387, in demo' in text.stderr
    assert "TypeError: cannot unpack non-iterable NoneType object" in text.stderr
    out = tmp_path / "text/out"
    assert (out / "video_0/output.mp4").is_file()
    assert not (out / "video_1/output.mp4").exists() and not (out / "video_2").exists()
    # Every video of a batch blocked by the video guardrail ends it the same way.
    video = transfer1(
        tmp_path / "video",
        edge_spec(videos["a"]),
        "--batch_size",
        "2",
        lines=lines,
        faults={"video_guardrail_block": [1, 2]},
    )
    assert video.returncode == 1
    assert "All generated videos failed safety checks" in video.stdout
    assert "Guardrail blocked generation for entire batch." in video.stdout
    assert not list((tmp_path / "video/out").rglob("*.mp4"))


# -- 3. guardrail numbering and the output shift ---------------------------------------------------


def test_transfer1_guardrail_numbers_and_shifted_outputs(
    tmp_path: Path, videos: dict[str, Path]
) -> None:
    lines = [{"visual_input": str(videos["a"]), "prompt": f"prompt {n}"} for n in (1, 2, 3)]
    done = transfer1(
        tmp_path,
        edge_spec(videos["a"]),
        "--batch_size",
        "3",
        lines=lines,
        faults={"guardrail_block": [1], "video_guardrail_block": [3]},
    )
    assert done.returncode == 0, done.stderr
    critical = [line for line in done.stdout.splitlines() if "|CRITICAL|" in line]
    assert [line.split("] ", 1)[1] for line in critical] == [
        "GUARDRAIL BLOCKED: LLAMAGUARD3: Prompt blocked by Llama Guard 3.",
        "Input text prompt 1 is not safe",  # 1-based in the batch
        "GUARDRAIL BLOCKED: VIDEOCONTENTSAFETYFILTER: unsafe frames detected",
        "Generated video 2 is not safe",  # line 3 is the 2nd of the prompts that passed
    ]
    out = tmp_path / "out"
    # k = batch_start + index in the returned list: line 2 lands in video_0.
    assert (out / "video_0/prompt.txt").read_text(encoding="utf-8") == "prompt 2"
    assert (out / "video_0/output.mp4").is_file()
    assert not (out / "video_1/output.mp4").exists() and not (out / "video_2/output.mp4").exists()
    assert (out / "video_2").is_dir()  # folders are made for every line before generation


# -- 4. progress per clip --------------------------------------------------------------------------


def test_transfer1_progress_counts_clips_not_steps(tmp_path: Path) -> None:
    long = make_video(tmp_path / "long.mp4", frames=130)  # 121 + 9 frames: two clips
    done = transfer1(tmp_path, edge_spec(long), "--num_steps", "20")
    assert done.returncode == 0, done.stderr
    bars = [line for line in done.stderr.splitlines() if "%|" in line]
    assert [re.search(r"\| (\d+/\d+) \[", bar).group(1) for bar in bars] == ["0/2", "1/2", "2/2"]
    # The steps still take their simulated time, ten per clip at several seconds each.
    spent = stamp(done.stdout, "Completed diffusion sampling") - stamp(
        done.stdout, "Starting diffusion sampling"
    )
    assert spent.total_seconds() > 20 * 5


# -- 5. upsampler ----------------------------------------------------------------------------------


def test_upsampler_environment_and_bare_print(tmp_path: Path, videos: dict[str, Path]) -> None:
    script = [UPSAMPLER, "--prompt", "a red cube", "--input_video", str(videos["a"])]
    one = simulate(
        ["torchrun", "--nproc_per_node", "1", *script], tmp_path, unset=["OMP_NUM_THREADS"]
    )
    assert one.returncode == 1
    assert 'upsampler_pipeline.py", line 69, in <module>' in one.stderr
    assert one.stderr.rstrip().endswith("KeyError: 'OMP_NUM_THREADS'")
    set_omp = simulate(
        ["torchrun", "--nproc_per_node=1", *script], tmp_path, env={"OMP_NUM_THREADS": "8"}
    )
    two = simulate(
        ["torchrun", "--nproc_per_node", "2", *script], tmp_path, unset=["OMP_NUM_THREADS"]
    )
    for done in (set_omp, two):
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[-1].startswith("Upsampled prompt: a red cube.")
    bare = simulate(["python", *script], tmp_path, unset=["RANK"])
    assert bare.returncode == 1 and "KeyError: 'RANK'" in bare.stderr


# -- 6. fps ----------------------------------------------------------------------------------------


def output_fps(path: Path) -> float:
    with av.open(str(path)) as container:
        return float(container.streams.video[0].average_rate)


def test_transfer1_writes_frames_at_fps(tmp_path: Path, videos: dict[str, Path]) -> None:
    single = transfer1(tmp_path / "single", edge_spec(videos["a"]), "--fps", "12")
    lines = [{"visual_input": str(videos["a"]), "prompt": "p"}]
    batch = transfer1(tmp_path / "batch", edge_spec(videos["a"]), "--fps", "30", lines=lines)
    upscale = {"input_video_path": str(videos["a"]), "upscale": {"control_weight": 0.5}}
    up = transfer1(tmp_path / "up", upscale, "--fps", "16", "--num_steps", "2")
    for done in (single, batch, up):
        assert done.returncode == 0, done.stderr
    assert output_fps(tmp_path / "single/out/output.mp4") == 12
    assert output_fps(tmp_path / "batch/out/video_0/output.mp4") == 30
    assert output_fps(tmp_path / "up/out/output.mp4") == 16


# -- 7. Transfer2.5 sample lines -------------------------------------------------------------------


def test_transfer2_5_sample_start_and_save_lines(tmp_path: Path, videos: dict[str, Path]) -> None:
    samples = [sample("s1", videos["a"], edge={}), sample("s2", videos["b"], edge={})]
    done = transfer2_5(tmp_path / "ok", samples)
    assert done.returncode == 0, done.stderr
    lines = [line.split("|", 1)[1] for line in done.stdout.splitlines()]
    assert "INFO|cosmos_transfer2/inference.py:167:generate] [1/2] Processing sample s1" in lines
    assert "INFO|cosmos_transfer2/inference.py:167:generate] [2/2] Processing sample s2" in lines
    saved = "SUCCESS|cosmos_transfer2/inference.py:343:_generate_sample] Generated video saved to"
    assert f"{saved} out/s2.mp4" in lines
    twice = transfer2_5(tmp_path / "twice", [samples[0], samples[0]])
    assert twice.returncode == 1
    assert twice.stderr.strip() == "Error: Inference samplename s1 is not unique"
    assert not (tmp_path / "twice/out").exists()  # refused before the output folder is made


# -- 8. Transfer2.5 guardrails ---------------------------------------------------------------------


def test_transfer2_5_video_block_is_only_in_debug_log(
    tmp_path: Path, videos: dict[str, Path]
) -> None:
    samples = [sample("s1", videos["a"], edge={}), sample("s2", videos["b"], edge={})]
    done = transfer2_5(tmp_path / "keep", samples, faults={"video_guardrail_block": ["s1"]})
    assert done.returncode == 0, done.stderr
    out = tmp_path / "keep/out"
    assert "GUARDRAIL" not in done.stdout
    assert "GUARDRAIL" not in (out / "console.log").read_text(encoding="utf-8")
    debug = (out / "debug.log").read_text(encoding="utf-8")
    where = "cosmos_transfer2/_src/imaginaire/auxiliary/guardrail/common/presets.py:74"
    assert f"|CRITICAL|{where}:run_video_guardrail] GUARDRAIL BLOCKED: " in debug
    assert (out / "s1.json").is_file() and (out / "s1_control_edge.mp4").is_file()
    assert not (out / "s1.mp4").exists() and (out / "s2.mp4").is_file()
    # The text guardrail's block is logged by cosmos_transfer2/inference.py: visible on stdout.
    text = transfer2_5(tmp_path / "text", samples, faults={"guardrail_block": ["s1"]})
    assert "Guardrail blocked generation. Prompt: a robot, s1" in text.stdout
    assert "GUARDRAIL BLOCKED" not in text.stdout
    stop = transfer2_5(
        tmp_path / "stop", samples, "--no-keep-going", faults={"video_guardrail_block": [1]}
    )
    assert stop.returncode == 1
    assert stop.stderr.rstrip().endswith("Exception: Guardrail blocked video2world generation.")
    assert not (tmp_path / "stop/out/s2.json").exists()


# -- 9. Transfer2.5 distilled ----------------------------------------------------------------------


def test_transfer2_5_distilled_keys_and_steps(tmp_path: Path, videos: dict[str, Path]) -> None:
    distilled = ("--model", "edge/distilled")
    env = {"COSMOS_EXPERIMENTAL_CHECKPOINTS": "1"}
    vis = transfer2_5(tmp_path / "vis", [sample("v", videos["a"], vis={})], *distilled, env=env)
    assert vis.returncode == 1
    assert vis.stderr.rstrip().endswith("KeyError: ModelKey(variant='vis', distilled=True)")
    assert 'cosmos_transfer2/inference.py", line 54, in __init__' in vis.stderr
    # Several keys across the process look up all four models; vis is the second.
    mixed = [sample("e", videos["a"], edge={}), sample("d", videos["b"], depth={})]
    several = transfer2_5(tmp_path / "several", mixed, *distilled, env=env)
    assert several.returncode == 1
    assert several.stderr.rstrip().endswith("KeyError: ModelKey(variant='vis', distilled=True)")
    spent = {}
    for steps in (4, 35):
        folder = tmp_path / f"steps{steps}"
        edge = sample("e", videos["a"], edge={}, num_steps=steps)
        done = transfer2_5(folder, [edge], *distilled, env=env)
        assert done.returncode == 0, done.stderr
        debug = (folder / "out/debug.log").read_text(encoding="utf-8")
        warning = f"Inference: Student: num_steps {steps} greater than selected_sampling_time 4."
        assert (warning in debug) == (steps > 4)
        assert "Inference: Student" not in done.stdout
        spent[steps] = stamp(done.stdout, "Generated video saved") - stamp(
            done.stdout, "Processing sample"
        )
    assert spent[35] > 5 * spent[4]


# -- 10. outputs depend on the noise an item receives ----------------------------------------------


def test_transfer1_batch_position_changes_outputs(tmp_path: Path, videos: dict[str, Path]) -> None:
    lines = [{"visual_input": str(videos["a"]), "prompt": f"prompt {n}"} for n in (1, 2)]
    spec = edge_spec(videos["a"])
    alone = transfer1(tmp_path / "alone", spec, lines=lines)
    again = transfer1(tmp_path / "again", spec, lines=lines)
    batched = transfer1(tmp_path / "batched", spec, "--batch_size", "2", lines=lines)
    single = transfer1(tmp_path / "single", spec, "--prompt", "prompt 2")
    for done in (alone, again, batched, single):
        assert done.returncode == 0, done.stderr

    def output(run: str, k: int) -> bytes:
        return (tmp_path / run / f"out/video_{k}/output.mp4").read_bytes()

    assert output("alone", 0) == output("again", 0) and output("alone", 1) == output("again", 1)
    # Position 0 of a batch gets the stream's first slice: what the item gets alone.
    assert output("batched", 0) == output("alone", 0)
    assert output("batched", 1) != output("alone", 1)
    # A batch of one is the single-video run of the same prompt.
    assert output("alone", 1) == (tmp_path / "single/out/output.mp4").read_bytes()
    # Extra controls at weight 0 add nothing.
    zero = {**spec, "depth": {"control_weight": 0.0, "input_control": str(videos["depth"])}}
    padded = transfer1(tmp_path / "padded", zero, "--prompt", "prompt 2")
    assert padded.returncode == 0, padded.stderr
    assert (tmp_path / "padded/out/output.mp4").read_bytes() == (
        tmp_path / "single/out/output.mp4"
    ).read_bytes()
    assert read_comment(tmp_path / "batched/out/video_1/output.mp4")["noise"] == [[1, 1]]


def test_transfer2_5_model_choice_changes_outputs(tmp_path: Path, videos: dict[str, Path]) -> None:
    s1 = sample("s1", videos["a"], edge={"control_weight": 0.8})
    edge_mate = sample("s2", videos["b"], edge={})
    depth_mate = sample("s2", videos["b"], depth={"control_path": str(videos["depth"])})
    runs = {"alone": [s1], "edge": [s1, edge_mate], "multi": [s1, depth_mate]}
    for name, samples in runs.items():
        done = transfer2_5(tmp_path / name, samples)
        assert done.returncode == 0, done.stderr

    def output(run: str) -> bytes:
        return (tmp_path / run / "out/s1.mp4").read_bytes()

    assert output("alone") == output("edge")  # another sample of the same model: no influence
    assert output("alone") != output("multi")  # the multicontrol model renders differently
    assert read_comment(tmp_path / "multi/out/s1.mp4")["model"].endswith("/multicontrol")


# -- remaining Transfer1 validation ----------------------------------------------------------------


def test_transfer1_distilled_and_weight_refusals(tmp_path: Path, videos: dict[str, Path]) -> None:
    video = str(videos["a"])
    vis = transfer1(tmp_path / "vis", {"input_video_path": video, "vis": {}}, "--use_distilled")
    assert vis.returncode == 1
    assert vis.stderr.rstrip().endswith(
        "ValueError: No default distilled checkpoint for vis. Users must specify ckpt_path in "
        "config."
    )
    # With a checkpoint for every key, the distilled network refuses two controls when it loads.
    two = {"input_video_path": video, "edge": {}, "vis": {"ckpt_path": "vis_distilled.pt"}}
    both = transfer1(tmp_path / "both", two, "--use_distilled")
    assert both.returncode == 1
    assert 'world_generation_pipeline.py", line 1287, in _load_network' in both.stderr
    assert both.stderr.rstrip().endswith(
        "AssertionError: Distilled model only supports single control input"
    )
    # inference_utils.py 1266-1275: a negative weight is re-raised with the generic message.
    negative = transfer1(
        tmp_path / "neg", {"input_video_path": video, "edge": {"control_weight": -1}}
    )
    assert negative.returncode == 1
    assert negative.stderr.rstrip().endswith(
        "ValueError: Control weight for edge must be a valid non-negative float or a path to a "
        ".pt file."
    )
