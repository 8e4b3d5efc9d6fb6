"""Simulated cosmos_transfer1/diffusion/inference/transfer.py.

Arguments are parsed with argparse using transfer.py's names, types, choices and defaults
(reference 1.2); the spec and batch file are read and validated as transfer.py and
inference_utils.py do, with their messages, before anything "loads". A batch then runs through
`generate()` as world_generation_pipeline.py does, failing where it fails:

- the text guardrail drops prompts, the video guardrail drops generated videos, and outputs after a
  dropped item shift to lower `video_<k>` indices (world_generation_pipeline.py 728-800,
  transfer.py 390-399);
- a batch whose every prompt or every video is blocked makes generate() return None, and
  transfer.py logs that and then fails unpacking None (transfer.py 376-387): exit 1, later batch
  lines never run;
- an empty negative prompt is never embedded and torch.cat then meets None
  (world_generation_pipeline.py 752-767, 447-448): exit 1.

Rendering choices (the simulator cannot know checkpoint contents): an item's video depends on its
seed-derived noise slice (see video.py), its prompts, guidance, steps, sigma_max and its effective
control weights `w / max(sum, 1)` (inference_utils.py 1101, 1105), where a zero-weight control
counts for nothing (networks/general_dit_ctrl_enc.py 314-316). A run alone with controls S and the
same run in a process whose spec adds controls at weight 0 therefore render identically, although
on a GPU they can differ if a control checkpoint carries base weights that differ from
base_model.pt (world_generation_pipeline.py 335-361; reference correction 12)."""

from __future__ import annotations

import argparse
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

from cosmos_workflow.simulator import profiles
from cosmos_workflow.simulator.runtime import Runtime, out_of_memory, raise_traceback

if TYPE_CHECKING:  # video.py imports PyAV and numpy, which a refused run never needs
    from cosmos_workflow.simulator.video import VideoFacts

WHERE_MAIN = "cosmos_transfer1/diffusion/inference/transfer.py"
WHERE_PIPE = "cosmos_transfer1/diffusion/inference/world_generation_pipeline.py"
WHERE_UTILS = "cosmos_transfer1/diffusion/inference/inference_utils.py"
WHERE_BASE = "cosmos_transfer1/utils/base_world_generation_pipeline.py"
WHERE_GUARD = "cosmos_transfer1/auxiliary/guardrail/common/presets.py"
MODULE = (WHERE_MAIN, 433, "<module>")  # transfer.py 431-433: demo(args, control_inputs)
VALID_HINT_KEYS = ("vis", "seg", "edge", "depth", "keypoint", "upscale", "hdmap", "lidar")
DISTILLED_HINT_KEYS = ("edge",)  # inference_utils.py 87-89 default_distilled_model_names
PRESETS = ["very_low", "low", "medium", "high", "very_high"]
DEFAULT_PROMPT = (
    "The video captures a stunning, photorealistic scene with remarkable attention to detail, "
    "giving it a lifelike appearance that is almost indistinguishable from reality. It appears "
    "to be from a high-budget 4K movie, showcasing ultra-high-definition quality with "
    "impeccable resolution."
)
DEFAULT_NEGATIVE_PROMPT = (
    "The video captures a game playing, with bad crappy graphics and cartoonish frames. It "
    "represents a recording of old outdated games. The lighting looks very fake. The textures "
    "are very raw and basic. The geometries are very primitive. The images are very pixelated "
    "and of poor CG quality. There are many subtitles in the footage. Overall, the video is "
    "unrealistic at all."
)
CLIP_FRAMES = 121
UPSCALE_PATCHES = 9  # 3 x 3 overlapping 720p patches per step (reference 1.12)
# Preprocessor models run per item for depth/seg without input_control (reference 1.6).
NEURAL_PREPROCESSORS = ("depth", "seg", "keypoint")
EMBEDDING_GROUP = 8  # world_generation_pipeline.py 749: min(batch_size, 8) prompts per T5 call


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Control to world generation demo script"
    )
    add = parser.add_argument
    add("--prompt", type=str, default=DEFAULT_PROMPT)
    add("--negative_prompt", type=str, default=DEFAULT_NEGATIVE_PROMPT)
    add("--input_video_path", type=str, default="")
    add("--num_input_frames", type=int, default=1, choices=[1])
    add("--sigma_max", type=float, default=70.0)
    add("--blur_strength", type=str, default="medium", choices=PRESETS)
    add("--canny_threshold", type=str, default="medium", choices=PRESETS)
    add("--controlnet_specs", type=str, required=True)
    add("--is_av_sample", action="store_true")
    add("--checkpoint_dir", type=str, default="checkpoints")
    add("--tokenizer_dir", type=str, default="Cosmos-Tokenize1-CV8x8x8-720p")
    add("--video_save_name", type=str, default="output")
    add("--video_save_folder", type=str, default="outputs/")
    add("--batch_input_path", type=str)
    add("--batch_size", type=int, default=1)
    add("--num_steps", type=int, default=35)
    add("--guidance", type=float, default=5)
    add("--fps", type=int, default=24)
    add("--seed", type=int, default=1)
    add("--num_gpus", type=int, default=1)
    for flag in (
        "--offload_diffusion_transformer",
        "--offload_text_encoder_model",
        "--offload_guardrail_models",
        "--upsample_prompt",
        "--offload_prompt_upsampler",
        "--use_distilled",
        "--save_input_noise",
        "--benchmark",
    ):
        add(flag, action="store_true")
    return parser


def _file_not_found(path: str, where: tuple[str, int, str]) -> NoReturn:
    raise_traceback(
        [MODULE, where], f"FileNotFoundError: [Errno 2] No such file or directory: '{path}'"
    )


def _spec_error(message: str, line: int) -> NoReturn:
    """A ValueError of validate_controlnet_specs, called from demo (transfer.py 217)."""
    raise_traceback(
        [MODULE, (WHERE_MAIN, 217, "demo"), (WHERE_UTILS, line, "validate_controlnet_specs")],
        f"ValueError: {message}",
    )


def _load_spec(args: argparse.Namespace, argv: list[str]) -> dict[str, dict[str, Any]]:
    """load_controlnet_specs (inference_utils.py 1197-1213) + the JSON-to-CLI merge (transfer.py
    183-185): a non-dict key is copied onto the arguments unless the literal `--key` is in argv."""
    parse = (WHERE_MAIN, 432, "<module>"), (WHERE_MAIN, 177, "parse_arguments")
    if not os.path.isfile(args.controlnet_specs):
        _file_not_found(args.controlnet_specs, (WHERE_UTILS, 1198, "load_controlnet_specs"))
    with open(args.controlnet_specs, encoding="utf-8") as handle:
        raw: dict[str, Any] = json.load(handle)
    controls: dict[str, dict[str, Any]] = {}
    for key, value in raw.items():
        if key in VALID_HINT_KEYS:
            controls[key] = value
        elif isinstance(value, dict):
            raise_traceback(
                [*parse, (WHERE_UTILS, 1209, "load_controlnet_specs")],
                f"ValueError: Invalid hint_key: {key}. Must be one of {set(VALID_HINT_KEYS)}",
            )
        elif f"--{key}" not in argv:
            setattr(args, key, value)
    return controls


def _validate(args: argparse.Namespace, controls: dict[str, dict[str, Any]], rt: Runtime) -> None:
    """validate_controlnet_specs (inference_utils.py 1232-1275), key by key in spec order."""
    for key, config in controls.items():
        if not args.input_video_path and args.sigma_max < 80:
            _spec_error("Must have 'input_video' specified if sigma_max < 80", 1237)
        if not args.input_video_path and "input_control" not in config:
            _spec_error(
                f"{key} controlnet must have 'input_control' video specified if no "
                "'input_video' specified.",
                1240,
            )
        if "ckpt_path" not in config:
            _default_checkpoint(args, key, config, rt)
        _check_weight(key, config, rt)
    _check_files(args, controls)


def _default_checkpoint(
    args: argparse.Namespace, key: str, config: dict[str, Any], rt: Runtime
) -> None:
    where = f"{WHERE_UTILS}:1245:validate_controlnet_specs"
    rt.log(f"No checkpoint path specified for {key}. Using default.", where)
    name = "edge_control_distilled.pt" if args.use_distilled else f"{key}_control.pt"
    if args.use_distilled and key not in DISTILLED_HINT_KEYS:
        _spec_error(
            f"No default distilled checkpoint for {key}. Users must specify ckpt_path in config.",
            1251,
        )
    config["ckpt_path"] = f"{args.checkpoint_dir}/nvidia/Cosmos-Transfer1-7B/{name}"
    rt.log(f"Using default checkpoint path: {config['ckpt_path']}", where.replace("1245", "1256"))


def _check_weight(key: str, config: dict[str, Any], rt: Runtime) -> None:
    """A negative weight raises inside the try and is re-raised with the second message
    (inference_utils.py 1266-1275)."""
    if "control_weight" not in config:
        where = f"{WHERE_UTILS}:1261:validate_controlnet_specs"
        rt.log(f"No control weight specified for {key}. Setting to 0.5.", where, "WARNING")
        config["control_weight"] = "0.5"
        return
    weight = config["control_weight"]
    if isinstance(weight, str) and weight.endswith(".pt"):
        return
    try:
        valid = float(weight) >= 0
    except (TypeError, ValueError):
        valid = False
    if not valid:
        _spec_error(
            f"Control weight for {key} must be a valid non-negative float or a path to a .pt file.",
            1273,
        )


def _check_files(args: argparse.Namespace, controls: dict[str, dict[str, Any]]) -> None:
    """Named files must exist (the real code fails later, when it reads them)."""
    read = (WHERE_UTILS, 785, "read_video_or_image_into_frames_BCTHW")
    for config in controls.values():
        if config.get("input_control") and not os.path.isfile(config["input_control"]):
            _file_not_found(config["input_control"], read)
    if args.input_video_path and not os.path.isfile(args.input_video_path):
        _file_not_found(args.input_video_path, read)


def _check_distilled(args: argparse.Namespace, rt: Runtime) -> None:
    """transfer.py 235-237, before the pipeline is built."""
    if not args.use_distilled:
        return
    demo = (WHERE_MAIN, 236, "demo")
    if args.is_av_sample:
        raise_traceback([MODULE, demo], "AssertionError")
    if args.save_input_noise:
        raise_traceback(
            [MODULE, (WHERE_MAIN, 237, "demo")],
            "AssertionError: Saving input noise is not supported for distilled models",
        )


def _check_world(args: argparse.Namespace, nproc: int) -> None:
    if args.num_gpus == nproc:
        return
    raise_traceback(
        [
            MODULE,
            (WHERE_MAIN, 228, "demo"),
            ("megatron/core/parallel_state.py", 520, "initialize_model_parallel"),
        ],
        f"RuntimeError: world_size ({nproc}) is not divisible by tensor_model_parallel_size "
        f"(1) x pipeline_model_parallel_size (1) x context_parallel_size ({args.num_gpus})",
    )


@dataclass
class Item:
    """One prompt of the process; `index` is its 1-based position (the batch file's line)."""

    prompt: str | None
    video: str
    controls: dict[str, dict[str, Any]]
    index: int


def _items(
    args: argparse.Namespace, controls: dict[str, dict[str, Any]], rt: Runtime
) -> list[Item]:
    """read_prompts_from_file parses every line, a blank one too (utils/io.py 33-38)."""
    if not args.batch_input_path:
        return [Item(args.prompt, args.input_video_path, controls, 1)]
    rt.log(f"Reading batch inputs from path: {args.batch_input_path}", f"{WHERE_MAIN}:284:demo")
    frames = [MODULE, (WHERE_MAIN, 285, "demo")]
    if not os.path.isfile(args.batch_input_path):
        raise_traceback(
            [*frames, ("cosmos_transfer1/utils/io.py", 34, "read_prompts_from_file")],
            f"FileNotFoundError: [Errno 2] No such file or directory: '{args.batch_input_path}'",
        )
    items: list[Item] = []
    with open(args.batch_input_path, encoding="utf-8") as handle:
        for line in handle:
            try:
                data = json.loads(line.strip())
            except json.JSONDecodeError as exc:
                where = ("cosmos_transfer1/utils/io.py", 36, "read_prompts_from_file")
                raise_traceback([*frames, where], f"json.decoder.JSONDecodeError: {exc}")
            items.append(_item(data, controls, len(items) + 1, rt))
    return items


def _item(data: dict[str, Any], controls: dict[str, Any], index: int, rt: Runtime) -> Item:
    """control_overrides update a deep copy of the spec's controls (transfer.py 314-320)."""
    merged = json.loads(json.dumps(controls))
    for key, override in data.get("control_overrides", {}).items():
        if key in merged:
            merged[key].update(override)
        else:
            where = f"{WHERE_MAIN}:320:demo"
            rt.log(f"Ignoring unknown control key in override: {key}", where, "WARNING")
    # transfer.py passes `input_dict.get("visual_input")` on unchecked, None included.
    video = cast(str, data.get("visual_input"))
    read = (WHERE_UTILS, 785, "read_video_or_image_into_frames_BCTHW")
    for path in [video] + [c.get("input_control") for c in merged.values()]:
        if path and not os.path.isfile(path):
            _file_not_found(path, read)
    return Item(data.get("prompt"), video, merged, index)


def run_transfer(script_argv: list[str], nproc: int, rt: Runtime) -> None:
    args = _parser(Path(WHERE_MAIN).name).parse_args(script_argv)
    controls = _load_spec(args, script_argv)
    rt.log(f"control_inputs: {json.dumps(controls, indent=4)}", f"{WHERE_MAIN}:179:parse_arguments")
    _validate(args, controls, rt)
    _check_world(args, nproc)
    _check_distilled(args, rt)
    profile = profiles.current_profile()
    memory = rt.faults.memory_gb if rt.faults.memory_gb is not None else profile.memory_gb
    _load(args, controls, rt)
    items = _items(args, controls, rt)
    batch_size = args.batch_size
    if "upscale" in controls and batch_size > 1:
        batch_size = 1
        rt.log(
            "Setting batch_size=1 as upscale does not support batch generation",
            f"{WHERE_MAIN}:293:demo",
        )
    need = profiles.t1_memory_gb(
        len(controls),
        min(batch_size, len(items)),
        args.offload_text_encoder_model,
        args.offload_guardrail_models,
    )
    limit = rt.faults.oom_above_batch_size
    if need > memory or (limit is not None and batch_size > limit):
        out_of_memory(max(profiles.T1_ITEM_GB, need - memory), memory, WHERE_PIPE)
    os.makedirs(args.video_save_folder, exist_ok=True)
    for start in range(0, len(items), batch_size):
        _run_batch(args, items[start : start + batch_size], start, profile, rt)


def _load(args: argparse.Namespace, controls: dict[str, dict[str, Any]], rt: Runtime) -> None:
    """The pipeline constructor: model, T5, guardrails, network (base_world_generation_pipeline.py
    79-90). The distilled network refuses several controls only once it loads
    (world_generation_pipeline.py 1287)."""
    base = f"{args.checkpoint_dir}/nvidia/Cosmos-Transfer1-7B/base_model.pt"
    rt.log(f"Loading checkpoint {base}", f"{WHERE_PIPE}:334:_load_network")
    rt.advance(
        profiles.t1_load_seconds(
            len(controls), args.offload_text_encoder_model, args.offload_guardrail_models
        )
    )
    if args.use_distilled:
        rt.log("Loading distilled consolidated checkpoint", f"{WHERE_PIPE}:1279:_load_network")
        if len(controls) != 1:
            raise_traceback(
                [
                    MODULE,
                    (WHERE_MAIN, 239, "demo"),
                    (WHERE_PIPE, 204, "__init__"),
                    (WHERE_BASE, 88, "__init__"),
                    (WHERE_PIPE, 1287, "_load_network"),
                ],
                "AssertionError: Distilled model only supports single control input",
            )
        return
    for config in controls.values():
        rt.log(
            f"Loading ctrl model from ckpt_path: {config['ckpt_path']}",
            f"{WHERE_PIPE}:{345 if len(controls) > 1 else 353}:_load_network",
        )


def _clips(frames: int) -> int:
    return 1 if frames <= CLIP_FRAMES else 1 + math.ceil((frames - CLIP_FRAMES) / (CLIP_FRAMES - 1))


def _run_batch(
    args: argparse.Namespace,
    batch: list[Item],
    start: int,
    profile: profiles.GpuProfile,
    rt: Runtime,
) -> None:
    """One transfer.py batch (296-421) and its pipeline.generate() (660-804)."""
    from cosmos_workflow.simulator.video import probe

    facts = {item.index: probe(Path(item.video)) for item in batch}
    _preprocess(args, batch, start, facts, rt)
    rt.log(f"Running batch generation with batch_size={len(batch)}", f"{WHERE_PIPE}:705:generate")
    safe = _text_guardrail(batch, rt)
    if not safe:
        rt.log("All prompts failed safety checks", f"{WHERE_PIPE}:738:generate", "CRITICAL")
        _entire_batch_blocked(args, rt)
    speed = profile.speedup(args.num_gpus)
    rt.advance(len(safe) * profile.t1_item_s / speed / 2)
    _embed(args, safe, rt)
    _sample(args, safe, facts, profile, rt)
    rt.advance(len(safe) * profile.t1_item_s / speed / 2)
    videos = _video_guardrail(safe, rt)
    if not videos:
        rt.log(
            "All generated videos failed safety checks", f"{WHERE_PIPE}:799:generate", "CRITICAL"
        )
        _entire_batch_blocked(args, rt)
    for index, (position, item) in enumerate(videos):
        _save(args, item, start + index, _render(args, item, position, facts), facts, rt)


def _preprocess(
    args: argparse.Namespace,
    batch: list[Item],
    start: int,
    facts: dict[int, VideoFacts],
    rt: Runtime,
) -> None:
    """Every line gets its `video_<k>` folder before generation (transfer.py 308-310), so a
    dropped item leaves an empty folder; preprocessors run per item (323-332)."""
    for offset, item in enumerate(batch):
        if args.batch_input_path:
            os.makedirs(
                os.path.join(args.video_save_folder, f"video_{start + offset}"), exist_ok=True
            )
        rt.log("running preprocessor", f"{WHERE_MAIN}:323:demo")
        computed = [
            k
            for k, c in item.controls.items()
            if not c.get("input_control") and k in NEURAL_PREPROCESSORS
        ]
        rt.advance(len(computed) * facts[item.index].frames * profiles.T1_PREPROCESS_S_PER_FRAME)


def _text_guardrail(batch: list[Item], rt: Runtime) -> list[Item]:
    """world_generation_pipeline.py 728-743; the Blocklist refuses an empty prompt
    (auxiliary/guardrail/blocklist/blocklist.py 163-164), so a line without one is dropped."""
    rt.log("Running guardrail checks on all prompts", f"{WHERE_PIPE}:728:generate")
    safe = []
    for position, item in enumerate(batch, start=1):
        if not item.prompt:
            reason = "BLOCKLIST: Input is empty"
        elif rt.faults.blocks(item.index):
            reason = "LLAMAGUARD3: Prompt blocked by Llama Guard 3."
        else:
            safe.append(item)
            continue
        where = f"{WHERE_GUARD}:55:run_text_guardrail"
        rt.log(f"GUARDRAIL BLOCKED: {reason}", where, "CRITICAL")
        rt.log(
            f"Input text prompt {position} is not safe", f"{WHERE_PIPE}:735:generate", "CRITICAL"
        )
    return safe


def _video_guardrail(safe: list[Item], rt: Runtime) -> list[tuple[int, Item]]:
    """world_generation_pipeline.py 788-800: N counts in the list that passed the text check.
    Returns the kept items with their position in the batch tensor."""
    rt.log("Run guardrail on generated videos", f"{WHERE_PIPE}:788:generate")
    kept = []
    for position, item in enumerate(safe):
        if not rt.faults.blocks_video(item.index):
            kept.append((position, item))
            continue
        where = f"{WHERE_GUARD}:71:run_video_guardrail"
        message = "GUARDRAIL BLOCKED: VIDEOCONTENTSAFETYFILTER: unsafe frames detected"
        rt.log(message, where, "CRITICAL")
        rt.log(
            f"Generated video {position + 1} is not safe", f"{WHERE_PIPE}:797:generate", "CRITICAL"
        )
    return kept


def _entire_batch_blocked(args: argparse.Namespace, rt: Runtime) -> NoReturn:
    """generate() returned None: transfer.py 376-378 logs it, `continue`s only its benchmark
    repeat loop, then unpacks None (385 or 387)."""
    rt.log("Guardrail blocked generation for entire batch.", f"{WHERE_MAIN}:377:demo", "CRITICAL")
    line = 385 if args.save_input_noise else 387
    raise_traceback(
        [MODULE, (WHERE_MAIN, line, "demo")],
        "TypeError: cannot unpack non-iterable NoneType object",
    )


def _embed(args: argparse.Namespace, safe: list[Item], rt: Runtime) -> None:
    """T5 runs on each prompt, and on the negative prompt only when it is truthy
    (world_generation_pipeline.py 745-768); torch.cat of the negatives then meets None (447-448)."""
    rt.log("Running text embedding on all prompts", f"{WHERE_PIPE}:745:generate")
    group = min(len(safe), EMBEDDING_GROUP)
    for _ in range(0, len(safe), group):
        rt.log("Starting T5 compute", f"{WHERE_PIPE}:758:generate")
        rt.log("Completed T5 compute", f"{WHERE_PIPE}:760:generate")
    rt.log("Finish text embedding on prompt", f"{WHERE_PIPE}:768:generate")
    rt.log("Run generation", f"{WHERE_PIPE}:771:generate")
    if not args.negative_prompt:
        raise_traceback(
            [
                MODULE,
                (WHERE_MAIN, 363, "demo"),
                (WHERE_PIPE, 775, "generate"),
                (WHERE_PIPE, 448, "_run_model_with_offload"),
            ],
            "TypeError: expected Tensor as element 0 in argument 0, but got NoneType",
        )


def _sample(
    args: argparse.Namespace,
    safe: list[Item],
    facts: dict[int, VideoFacts],
    profile: profiles.GpuProfile,
    rt: Runtime,
) -> None:
    """Every clip's steps on the whole batch tensor. The only progress bar counts clips:
    `for i_clip in tqdm(range(N_clip))` (world_generation_pipeline.py 558)."""
    controls = safe[0].controls
    step = profile.t1_step_s * (1 + profiles.T1_BRANCH_STEP_FRACTION * len(controls))
    step *= len(safe) ** profiles.BATCH_EXPONENT / profile.speedup(args.num_gpus)
    steps = args.num_steps
    if args.use_distilled:
        steps, step = 1, step / 2  # one step, no CFG (reference 1.13)
    if "upscale" in controls:
        step *= UPSCALE_PATCHES
    clips = max(_clips(facts[item.index].frames) for item in safe)
    rt.log("Starting data augmentation", f"{WHERE_PIPE}:484:_run_model")
    rt.log("Completed data augmentation", f"{WHERE_PIPE}:527:_run_model")
    rt.progress(0, clips, steps * step)
    for clip in range(1, clips + 1):
        rt.log("Starting latent encoding", f"{WHERE_PIPE}:583:_run_model")
        rt.log("Completed latent encoding", f"{WHERE_PIPE}:596:_run_model")
        rt.log("Starting diffusion sampling", f"{WHERE_PIPE}:615:_run_model")
        for _ in range(steps):
            rt.step(step)
        rt.log("Completed diffusion sampling", f"{WHERE_PIPE}:638:_run_model")
        rt.log("Starting VAE decode", f"{WHERE_PIPE}:639:_run_model")
        rt.log("Completed VAE decode", f"{WHERE_PIPE}:643:_run_model")
        rt.progress(clip, clips, steps * step)
    rt.log("Finish generation", f"{WHERE_PIPE}:786:generate")


def effective_weights(controls: dict[str, dict[str, Any]]) -> dict[str, float]:
    """`w / max(sum, 1)` per control (inference_utils.py 1101, 1105)."""
    raw = {key: _weight(config) for key, config in controls.items()}
    total = max(sum(raw.values()), 1.0)
    return {key: weight / total for key, weight in raw.items()}


def _weight(config: dict[str, Any]) -> float:
    try:
        return max(0.0, float(config.get("control_weight", 0.5)))
    except (TypeError, ValueError):
        return 0.5  # a .pt spatiotemporal map: its mean is unknown here


def _render(
    args: argparse.Namespace, item: Item, position: int, facts: dict[int, VideoFacts]
) -> Any:
    """The item's noise is slice `position` of the stream seeded with seed + i_clip, except for
    upscale, which draws per item (world_generation_pipeline.py 566-576)."""
    from cosmos_workflow.simulator.video import Render, file_digest

    if "upscale" in item.controls:
        position = 0
    clips = _clips(facts[item.index].frames)
    weights = effective_weights(item.controls)
    used = {k: w for k, w in weights.items() if w > 0}
    conditioning: dict[str, Any] = {
        "prompt": item.prompt,
        "num_steps": args.num_steps,
        "sigma_max": args.sigma_max,
        "weights": used,
        "input_controls": {k: file_digest(item.controls[k].get("input_control")) for k in used},
    }
    if not args.use_distilled:  # the distilled model ignores CFG (world_generation_pipeline 1430)
        conditioning |= {"negative_prompt": args.negative_prompt, "guidance": args.guidance}
    checkpoint = "Cosmos-Transfer1-7B-Sample-AV" if args.is_av_sample else "Cosmos-Transfer1-7B"
    model = f"{checkpoint}/{'edge_control_distilled' if args.use_distilled else 'base_model'}"
    noise = tuple((args.seed + clip, position) for clip in range(clips))
    return Render(model, noise, (CLIP_FRAMES, CLIP_FRAMES - 1), conditioning)


def _save(
    args: argparse.Namespace,
    item: Item,
    k: int,
    render: Any,
    facts: dict[int, VideoFacts],
    rt: Runtime,
) -> None:
    """transfer.py 390-417: frames are written at --fps (404-411)."""
    from cosmos_workflow.simulator.video import write_output

    if args.batch_input_path:
        folder = os.path.join(args.video_save_folder, f"video_{k}")
        video_path = os.path.join(folder, "output.mp4")
        prompt_path = os.path.join(folder, "prompt.txt")
    else:
        video_path = os.path.join(args.video_save_folder, f"{args.video_save_name}.mp4")
        prompt_path = os.path.join(args.video_save_folder, f"{args.video_save_name}.txt")
    weights = effective_weights(item.controls)
    frames = facts[item.index].frames
    write_output(Path(item.video), Path(video_path), weights, args.fps, render, frames)
    rt.log(f"Saved video to {video_path}", f"{WHERE_MAIN}:412:demo")
    with open(prompt_path, "w", encoding="utf-8") as handle:
        handle.write(item.prompt or "")
    rt.log(f"Saved prompt to {prompt_path}", f"{WHERE_MAIN}:417:demo")
