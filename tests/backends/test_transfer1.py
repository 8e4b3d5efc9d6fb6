"""Contract tests of what the Transfer1 backend renders and how it reads results."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from cosmos_workflow.backends import get_backend
from cosmos_workflow.backends.base import Progress, PromptUpsampled, RenderedJob, RunOutcome
from cosmos_workflow.backends.transfer1 import (
    BATCH_FILE,
    DEFAULT_NEGATIVE_PROMPT,
    SPEC_FILE,
    TRANSFER_SCRIPT,
    UPSAMPLER_SCRIPT,
)
from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.domain.params import Backend, JobKind, default_params
from cosmos_workflow.domain.states import FailureClass
from cosmos_workflow.domain.work import HostTarget, JobWork
from tests.backends.jobs import job_work, run_work
from tests.backends.nvidia_cli import transfer1_args, upsampler_parser

BACKEND = get_backend(Backend.TRANSFER1)
TARGET = HostTarget(
    gpus=1, gpu_memory_gb=80.0, code_dir="/opt/cosmos-transfer1", checkpoint_dir="/ckpt"
)
WORKDIR = "/jobs/job1"
RGB = Path("/data/in.mp4")
DEPTH = Path("/data/depth.mp4")


def flag_value(argv: tuple[str, ...], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def single_job() -> JobWork:
    run = run_work(
        "run_a", {Control.EDGE: 0.6, Control.DEPTH: 0.3}, RGB, control_paths={Control.DEPTH: DEPTH}
    )
    return job_work([run])


def test_single_run_argv_has_every_flag_as_separate_tokens() -> None:
    rendered = BACKEND.render(single_job(), TARGET, WORKDIR)
    argv = rendered.argv
    assert argv[:8] == (
        "torchrun",
        "--nproc_per_node",
        "1",
        "--nnodes",
        "1",
        "--node_rank",
        "0",
        f"/opt/cosmos-transfer1/{TRANSFER_SCRIPT}",
    )
    expected = {
        "--checkpoint_dir": "/ckpt",
        "--controlnet_specs": f"{WORKDIR}/{SPEC_FILE}",
        "--video_save_name": "run_a",
        "--num_steps": "35",
        "--guidance": "5.0",
        "--seed": "1",
        "--sigma_max": "70.0",
        "--fps": "24",
        "--blur_strength": "medium",
        "--canny_threshold": "medium",
        "--negative_prompt": "blurry, low quality",
        "--num_gpus": "1",
        "--video_save_folder": f"{WORKDIR}/outputs",
    }
    for flag, value in expected.items():
        assert flag_value(argv, flag) == value
    assert not any(token.startswith("--") and "=" in token for token in argv)
    assert "--batch_input_path" not in argv and "--use_distilled" not in argv
    assert not any(token.startswith("--offload") for token in argv)
    assert rendered.cwd == "/opt/cosmos-transfer1"
    assert rendered.env == {"PYTHONPATH": "/opt/cosmos-transfer1"}
    assert rendered.outputs == {"run_a": "outputs/run_a.mp4"}


def test_single_run_spec_holds_prompt_video_and_its_controls() -> None:
    rendered = BACKEND.render(single_job(), TARGET, WORKDIR)
    spec = json.loads(rendered.files[SPEC_FILE])
    assert spec == {
        "prompt": "a robot arm picks up a red cube",
        "input_video_path": f"{WORKDIR}/inputs/run_a/input.mp4",
        "edge": {"control_weight": 0.6},
        "depth": {"control_weight": 0.3, "input_control": f"{WORKDIR}/inputs/run_a/depth.mp4"},
    }
    assert rendered.stage == {"inputs/run_a/input.mp4": RGB, "inputs/run_a/depth.mp4": DEPTH}


def test_workdir_dot_renders_relative_paths() -> None:
    rendered = BACKEND.render(single_job(), TARGET, ".")
    assert flag_value(rendered.argv, "--controlnet_specs") == SPEC_FILE
    assert flag_value(rendered.argv, "--video_save_folder") == "outputs"
    spec = json.loads(rendered.files[SPEC_FILE])
    assert spec["input_video_path"] == "inputs/run_a/input.mp4"


def mixed_batch() -> JobWork:
    runs = [
        run_work("r1", {Control.EDGE: 0.5}, Path("/data/a.mp4")),
        run_work(
            "r2",
            {Control.DEPTH: 0.4},
            Path("/data/b.mp4"),
            control_paths={Control.DEPTH: Path("/data/b_depth.mp4")},
        ),
        run_work("r3", {Control.EDGE: 0.2, Control.DEPTH: 0.7}, Path("/data/c.mp4")),
    ]
    return job_work(runs, gpu_batch_size=2)


def test_batch_spec_keeps_input_video_path_and_holds_the_union() -> None:
    rendered = BACKEND.render(mixed_batch(), TARGET, WORKDIR)
    spec = json.loads(rendered.files[SPEC_FILE])
    assert spec["input_video_path"] == f"{WORKDIR}/inputs/r1/input.mp4"
    assert set(spec) == {"input_video_path", "edge", "depth"}
    assert flag_value(rendered.argv, "--batch_input_path") == f"{WORKDIR}/{BATCH_FILE}"
    assert flag_value(rendered.argv, "--batch_size") == "2"
    assert "--video_save_name" not in rendered.argv
    assert rendered.outputs == {f"r{i + 1}": f"outputs/video_{i}/output.mp4" for i in range(3)}


def test_each_batch_line_gives_the_run_exactly_its_own_controls() -> None:
    job = mixed_batch()
    rendered = BACKEND.render(job, TARGET, WORKDIR)
    spec = json.loads(rendered.files[SPEC_FILE])
    lines = [json.loads(line) for line in rendered.files[BATCH_FILE].splitlines()]
    assert len(lines) == len(job.runs)
    for run, line in zip(job.runs, lines, strict=True):
        assert set(line) == {"visual_input", "prompt", "control_overrides"}
        own_video = f"{WORKDIR}/inputs/{run.run_id}/input.mp4"
        assert line["visual_input"] == own_video
        assert line["prompt"] == run.prompt
        # Every control of the spec is overridden, with both keys, so nothing leaks from run 1.
        overrides = line["control_overrides"]
        assert set(overrides) == set(spec) - {"input_video_path"}
        for entry in overrides.values():
            assert set(entry) == {"control_weight", "input_control"}
        merged = {key: {**spec[key], **entry} for key, entry in overrides.items()}
        effective = {
            Control(k): v["control_weight"] for k, v in merged.items() if v["control_weight"] > 0
        }
        assert effective == dict(run.weights)
        for key, entry in merged.items():
            if entry["control_weight"] == 0:
                assert entry["input_control"] == own_video  # no preprocessor for nothing
            elif Control(key) in run.control_paths:
                assert entry["input_control"] == f"{WORKDIR}/inputs/{run.run_id}/{key}.mp4"
            else:
                assert entry["input_control"] is None  # computed on the fly for this line


def test_runs_that_differ_in_process_global_settings_cannot_share_a_process() -> None:
    other = default_params(Backend.TRANSFER1).__class__(seed=7)
    runs = [
        run_work("r1", {Control.EDGE: 0.5}, RGB),
        run_work("r2", {Control.EDGE: 0.5}, RGB, params=other),
    ]
    with pytest.raises(InvalidInput, match="global to the process"):
        BACKEND.render(job_work(runs, gpu_batch_size=2), TARGET, WORKDIR)


def test_offload_flags_only_below_the_published_memory() -> None:
    small = HostTarget(gpu_memory_gb=48.0)
    argv = BACKEND.render(single_job(), small, WORKDIR).argv
    assert "--offload_text_encoder_model" in argv and "--offload_guardrail_models" in argv
    assert "--offload_diffusion_transformer" not in argv
    big = BACKEND.render(single_job(), HostTarget(gpu_memory_gb=141.0), WORKDIR).argv
    assert not any(token.startswith("--offload") for token in big)


def test_multi_gpu_sets_nproc_and_num_gpus_alike() -> None:
    argv = BACKEND.render(single_job(), HostTarget(gpus=4), WORKDIR).argv
    assert flag_value(argv, "--nproc_per_node") == "4"
    assert flag_value(argv, "--num_gpus") == "4"


def test_distilled_takes_edge_alone() -> None:
    params = default_params(Backend.TRANSFER1).__class__(distilled=True)
    edge = job_work([run_work("r1", {Control.EDGE: 1.0}, RGB, params=params)])
    assert "--use_distilled" in BACKEND.render(edge, TARGET, WORKDIR).argv
    depth = job_work([run_work("r1", {Control.DEPTH: 1.0}, RGB, params=params)])
    with pytest.raises(InvalidInput, match="edge control alone"):
        BACKEND.render(depth, TARGET, WORKDIR)


def test_upscale_spec_and_argv() -> None:
    params = default_params(Backend.TRANSFER1).__class__(steps=10, upscale_weight=0.7)
    run = run_work("up1", {Control.EDGE: 0.5}, Path("/outputs/r1/output.mp4"), params=params)
    job = JobWork("job1", JobKind.UPSCALE, Backend.TRANSFER1, (run,))
    rendered = BACKEND.render(job, TARGET, WORKDIR)
    assert json.loads(rendered.files[SPEC_FILE]) == {
        "input_video_path": f"{WORKDIR}/inputs/up1/input.mp4",
        "upscale": {"control_weight": 0.7},
    }
    assert flag_value(rendered.argv, "--num_steps") == "10"
    assert "--batch_size" not in rendered.argv and "--offload_text_encoder_model" in rendered.argv
    assert rendered.stage == {"inputs/up1/input.mp4": Path("/outputs/r1/output.mp4")}
    assert rendered.outputs == {"up1": "outputs/up1.mp4"}


def enhance_job(prompt: str = "a cube") -> JobWork:
    run = run_work("en1", {Control.EDGE: 0.5}, RGB, prompt=prompt)
    return JobWork("job1", JobKind.ENHANCE, Backend.TRANSFER1, (run,))


def test_enhance_argv_and_environment() -> None:
    rendered = BACKEND.render(enhance_job(), HostTarget(gpus=4, code_dir="/c"), WORKDIR)
    assert rendered.argv == (
        "torchrun",
        "--nproc_per_node",
        "1",
        "--nnodes",
        "1",
        "--node_rank",
        "0",
        f"/c/{UPSAMPLER_SCRIPT}",
        "--prompt",
        "a cube",
        "--input_video",
        f"{WORKDIR}/inputs/en1/input.mp4",
        "--checkpoint_dir",
        "/c/checkpoints",
        "--offload_prompt_upsampler",
    )
    # The upsampler's __main__ deletes OMP_NUM_THREADS, which one-process torchrun never sets.
    assert rendered.env == {"PYTHONPATH": "/c", "OMP_NUM_THREADS": "1"}


def test_enhanced_prompt_is_read_from_the_bare_print_line() -> None:
    job = enhance_job()
    rendered = BACKEND.render(job, TARGET, WORKDIR)
    log = [
        "[05-01 10:00:00|INFO|upsampler_pipeline.py:10:main] loading",
        "Processed prompts: 100%|##########| 1/1 [00:03<00:00,  3.2s/it]",
        "Upsampled prompt: A red cube",
        "",
        "on a wooden table.",
        "[05-01 10:00:10|INFO|upsampler.py:120:_offload] later loguru line",
        "not part of the answer",
    ]
    outcome = BACKEND.collect(job, rendered, set(), log, 0)["en1"]
    assert outcome.enhanced_prompt == "A red cube\n\non a wooden table."
    ending = ["Upsampled prompt: -dash first", "and a second line"]
    assert BACKEND.collect(job, rendered, set(), ending, 0)["en1"].enhanced_prompt == (
        "-dash first\nand a second line"
    )
    assert BACKEND.parse_line(log[2]) == PromptUpsampled("A red cube")
    # NVIDIA's line has no loguru prefix; a prefixed look-alike is not the answer.
    prefixed = ["[05-01 10:00:09|INFO|x.py:1:f] Upsampled prompt: not it"]
    assert BACKEND.collect(job, rendered, set(), prefixed, 0)["en1"].enhanced_prompt is None
    assert BACKEND.collect(job, rendered, set(), log[:1], 0)["en1"].enhanced_prompt is None


def test_progress_counts_clips() -> None:
    bar = "100%|##########| 2/3 [04:00<02:00, 120.0s/it]"
    assert BACKEND.parse_line(bar) == Progress(step=2, total=3, clip=2)


# -- negative prompt and text values -----------------------------------------------------------


def test_no_negative_prompt_renders_nvidia_default() -> None:
    job = job_work([dataclasses.replace(single_job().runs[0], negative_prompt=None)])
    argv = BACKEND.render(job, TARGET, WORKDIR).argv
    assert flag_value(argv, "--negative_prompt") == DEFAULT_NEGATIVE_PROMPT
    assert DEFAULT_NEGATIVE_PROMPT.startswith("The video captures a game playing, with bad")
    assert DEFAULT_NEGATIVE_PROMPT.endswith("Overall, the video is unrealistic at all.")


def test_empty_negative_prompt_is_refused() -> None:
    job = job_work([dataclasses.replace(single_job().runs[0], negative_prompt="")])
    with pytest.raises(InvalidInput, match="empty negative prompt"):
        BACKEND.render(job, TARGET, WORKDIR)


def test_text_starting_with_a_dash_reaches_nvidia_argparse(tmp_path: Path) -> None:
    run = dataclasses.replace(single_job().runs[0], negative_prompt="-blurry, low quality")
    rendered = BACKEND.render(job_work([run]), TARGET, str(tmp_path))
    (tmp_path / SPEC_FILE).write_text(rendered.files[SPEC_FILE])
    script = rendered.argv.index(f"/opt/cosmos-transfer1/{TRANSFER_SCRIPT}")
    assert "--negative_prompt=-blurry, low quality" in rendered.argv
    # The spec never holds negative_prompt, so transfer.py's `--key in sys.argv` check cannot
    # let a spec value win over the joined `--negative_prompt=...` token.
    assert "negative_prompt" not in json.loads(rendered.files[SPEC_FILE])
    args = transfer1_args(rendered.argv[script + 1 :])
    assert args.negative_prompt == "-blurry, low quality"
    assert args.prompt == run.prompt and args.seed == 1

    enhance = BACKEND.render(enhance_job("-a cube"), TARGET, WORKDIR).argv
    assert "--prompt=-a cube" in enhance
    assert upsampler_parser().parse_args(list(enhance[8:])).prompt == "-a cube"


def test_a_dash_value_as_its_own_token_is_what_argparse_refuses() -> None:
    with pytest.raises(SystemExit) as exited:
        upsampler_parser().parse_args(["--prompt", "-a", "--input_video", "x.mp4"])
    assert exited.value.code == 2


# -- output collection with guardrail drops ----------------------------------------------------


def batch_of(count: int, size: int) -> tuple[JobWork, RenderedJob]:
    runs = [run_work(f"r{i}", {Control.EDGE: 0.5}, RGB) for i in range(count)]
    job = job_work(runs, gpu_batch_size=size)
    return job, BACKEND.render(job, TARGET, WORKDIR)


def line(message: str, level: str = "INFO") -> str:
    return f"[05-01 10:00:00.000|{level}|transfer.py:1:demo] {message}"


def started(size: int) -> str:
    """The first line of every `generate()` call, i.e. of every GPU batch."""
    return line(f"Running batch generation with batch_size={size}")


def saved(k: int) -> str:
    return line(f"Saved video to {WORKDIR}/outputs/video_{k}/output.mp4")


def text_blocked(n: int) -> str:
    return line(f"Input text prompt {n} is not safe", "CRITICAL")


def video_blocked(n: int) -> str:
    return line(f"Generated video {n} is not safe", "CRITICAL")


WHOLE_BATCH = line("Guardrail blocked generation for entire batch.", "CRITICAL")
# What transfer.py does right after the whole-batch line: unpack the None generate() returned.
TYPE_ERROR = [
    "Traceback (most recent call last):",
    '  File "cosmos_transfer1/diffusion/inference/transfer.py", line 387, in demo',
    "TypeError: cannot unpack non-iterable NoneType object",
]


def out(*ks: int) -> set[str]:
    return {f"outputs/video_{k}/output.mp4" for k in ks}


def outputs_of(outcomes: dict[str, RunOutcome]) -> dict[str, str | None]:
    return {run_id: outcome.output for run_id, outcome in outcomes.items()}


def test_clean_batch_maps_each_run_to_its_index() -> None:
    job, rendered = batch_of(3, 3)
    log = [started(3), saved(0), saved(1), saved(2)]
    outcomes = BACKEND.collect(job, rendered, out(0, 1, 2), log, 0)
    assert outputs_of(outcomes) == {f"r{i}": f"outputs/video_{i}/output.mp4" for i in range(3)}


def test_text_block_shifts_the_later_items_of_its_batch_down() -> None:
    job, rendered = batch_of(3, 3)
    log = [started(3), text_blocked(2), saved(0), saved(1)]
    outcomes = BACKEND.collect(job, rendered, out(0, 1), log, 0)
    assert outcomes["r0"].output == "outputs/video_0/output.mp4"
    assert outcomes["r1"].output is None and outcomes["r1"].failure is FailureClass.GUARDRAIL
    assert outcomes["r2"].output == "outputs/video_1/output.mp4"


def test_video_numbers_count_the_items_that_passed_the_text_check() -> None:
    job, rendered = batch_of(4, 4)
    # Item 1 fails the text check; "Generated video 2" is then the 2nd of items 2-4: item 3.
    log = [started(4), text_blocked(1), video_blocked(2), saved(0), saved(1)]
    outcomes = BACKEND.collect(job, rendered, out(0, 1), log, 0)
    assert outcomes["r0"].failure is FailureClass.GUARDRAIL
    assert "prompt" in outcomes["r0"].message
    assert outcomes["r2"].failure is FailureClass.GUARDRAIL
    assert "generated video" in outcomes["r2"].message
    assert outcomes["r1"].output == "outputs/video_0/output.mp4"
    assert outcomes["r3"].output == "outputs/video_1/output.mp4"


def test_blocks_belong_to_the_gpu_batch_they_were_logged_in() -> None:
    job, rendered = batch_of(4, 2)
    log = [started(2), saved(0), saved(1), started(2), video_blocked(1), saved(2)]
    outcomes = BACKEND.collect(job, rendered, out(0, 1, 2), log, 0)
    assert outcomes["r0"].output == "outputs/video_0/output.mp4"
    assert outcomes["r1"].output == "outputs/video_1/output.mp4"
    assert outcomes["r2"].failure is FailureClass.GUARDRAIL
    assert outcomes["r3"].output == "outputs/video_2/output.mp4"


def test_whole_batch_block_ends_the_process_and_later_runs_were_not_attempted() -> None:
    job, rendered = batch_of(3, 1)  # --batch_size 1: each JSONL line is its own GPU batch
    log = [
        started(1),
        saved(0),
        started(1),
        text_blocked(1),
        line("All prompts failed safety checks", "CRITICAL"),
        WHOLE_BATCH,
        *TYPE_ERROR,
    ]
    outcomes = BACKEND.collect(job, rendered, out(0), log, 1)
    assert outcomes["r0"].output == "outputs/video_0/output.mp4"
    assert outcomes["r1"].failure is FailureClass.GUARDRAIL and not outcomes["r1"].not_attempted
    assert outcomes["r2"].not_attempted
    assert outcomes["r2"].failure is None and outcomes["r2"].output is None
    assert BACKEND.classify_failure(1, log) is FailureClass.GUARDRAIL


def test_whole_batch_blocked_at_the_video_check() -> None:
    job, rendered = batch_of(4, 2)
    log = [
        started(2),
        video_blocked(1),
        video_blocked(2),
        line("All generated videos failed safety checks", "CRITICAL"),
        WHOLE_BATCH,
        *TYPE_ERROR,
    ]
    outcomes = BACKEND.collect(job, rendered, set(), log, 1)
    for run_id in ("r0", "r1"):
        assert outcomes[run_id].failure is FailureClass.GUARDRAIL
        assert "generated video" in outcomes[run_id].message
    assert outcomes["r2"].not_attempted and outcomes["r3"].not_attempted


def test_unexplained_missing_output_fails_the_batch_as_unmatched() -> None:
    job, rendered = batch_of(3, 3)
    outcomes = BACKEND.collect(job, rendered, out(0, 1), [started(3), saved(0), saved(1)], 0)
    assert all(o.output is None for o in outcomes.values())
    assert all("cannot be matched" in o.message for o in outcomes.values())


def test_crash_keeps_outputs_written_before_it() -> None:
    job, rendered = batch_of(4, 2)
    log = [started(2), saved(0), saved(1), started(2), "RuntimeError: CUDA error"]
    outcomes = BACKEND.collect(job, rendered, out(0, 1), log, 1)
    assert outcomes["r0"].output and outcomes["r1"].output
    # A crash is retried as a job by the worker: its unfinished runs are not "not attempted".
    for run_id in ("r2", "r3"):
        assert outcomes[run_id].output is None and not outcomes[run_id].not_attempted


def test_single_run_blocked_by_the_guardrail() -> None:
    job = single_job()
    rendered = BACKEND.render(job, TARGET, WORKDIR)
    log = [started(1), text_blocked(1), WHOLE_BATCH, *TYPE_ERROR]
    outcome = BACKEND.collect(job, rendered, set(), log, 1)["run_a"]
    assert outcome.failure is FailureClass.GUARDRAIL
    assert BACKEND.classify_failure(1, log) is FailureClass.GUARDRAIL


# -- failure classes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (
            ["torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB."],
            FailureClass.OUT_OF_MEMORY,
        ),
        (
            ["ValueError: Must have 'input_video' specified if sigma_max < 80"],
            FailureClass.BAD_INPUT,
        ),
        (["ValueError: Invalid hint_key: foo. Must be one of {'vis'}"], FailureClass.BAD_INPUT),
        (
            ["transfer.py: error: the following arguments are required: --controlnet_specs"],
            FailureClass.BAD_INPUT,
        ),
        (
            ["FileNotFoundError: [Errno 2] No such file or directory: 'x.mp4'"],
            FailureClass.BAD_INPUT,
        ),
        ([WHOLE_BATCH, *TYPE_ERROR], FailureClass.GUARDRAIL),
        # A per-item block does not end transfer.py: a later exit is a crash.
        ([text_blocked(1), *TYPE_ERROR], FailureClass.CRASH),
        (
            ["RuntimeError: CUDA error: an illegal memory access was encountered"],
            FailureClass.CRASH,
        ),
    ],
)
def test_classify_failure(lines: list[str], expected: FailureClass) -> None:
    assert BACKEND.classify_failure(1, lines) is expected
    assert BACKEND.classify_failure(0, lines) is None
