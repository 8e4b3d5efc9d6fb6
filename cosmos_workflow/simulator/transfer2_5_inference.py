"""Simulated cosmos_transfer2/inference.py Control2WorldInference and its log setup.

Logging follows cosmos_oss/init.py: stdout and `<output_dir>/console.log` (INFO) drop records of
modules matching `*._*`, `projects.*` or `cosmos_transfer2._src.imaginaire.*` (init.py 40-73),
so everything logged under `cosmos_transfer2/_src/` reaches only `<output_dir>/debug.log`
(DEBUG, every module; init.py 93-114). With COSMOS_VERBOSE stdout shows everything from DEBUG on
(init.py 76-84). Consequences a log reader must live with:

- a prompt blocked by the text guardrail is visible: cosmos_transfer2/inference.py 216-217 logs
  "Guardrail blocked generation. Prompt: ..." at CRITICAL;
- a video blocked by the video guardrail is not: with keep_going (the default) the sample just
  returns (323-325) and the only line, "GUARDRAIL BLOCKED: ..." (guardrail/common/presets.py 74),
  is in debug.log. `<name>.json` and the control videos are written before the check.

Model choice (inference.py 52-72): one control key across the process loads that key's model,
several load the multicontrol model with all four branches. The model identity is part of what a
sample renders from, so a sample rendered by the multicontrol model differs from the same sample
rendered alone; samples of one process do not otherwise influence each other, except for one
leak NVIDIA has: the negative prompt embedding is stored on the pipeline only when the negative
prompt is truthy (_src/transfer2/inference/inference_pipeline.py 500-510) and used whenever it is
not None (256-258), so an empty negative prompt reuses the previous sample's embedding, and on
the first sample raises AttributeError. With guardrails on, the Blocklist refuses the empty
negative prompt first (guardrail/blocklist/blocklist.py 200-201; inference.py 225-235)."""

from __future__ import annotations

import argparse
import fnmatch
import math
import random
from pathlib import Path
from typing import Any, NoReturn

from cosmos_workflow.simulator import profiles
from cosmos_workflow.simulator.runtime import Runtime, out_of_memory, raise_traceback
from cosmos_workflow.simulator.transfer2_5 import (
    CHUNK_FRAMES,
    CONTROL_KEYS,
    DISTILLED_MODEL,
    InferenceArguments,
    experimental_checkpoints,
    flag,
)

WHERE = "cosmos_transfer2/inference.py"
WHERE_PIPE = "cosmos_transfer2/_src/transfer2/inference/inference_pipeline.py"
WHERE_GUARD = "cosmos_transfer2/_src/imaginaire/auxiliary/guardrail/common/presets.py"
WHERE_STUDENT = "cosmos_transfer2/_src/interactive/methods/cosmos2_interactive_model.py"
WHERE_INIT = "cosmos_oss/init.py"
LOGGER_INCLUDE = (
    "cosmos_transfer2._src.imaginaire.utils.checkpoint_db",
    "cosmos_transfer2._src.imaginaire.trainer",
    "*.callbacks.*",
)
LOGGER_EXCLUDE = ("*._*", "projects.*", "cosmos_transfer2._src.imaginaire.*")
MAIN = ("examples/inference.py", 94, "<module>")
MULTICONTROL_WARNING = (
    "Loading the multicontrol model. Multicontrol inference is not strictly equal to single control"
)
# The distilled student's sampling times (_src/interactive/configs/registry_experiment/
# experiments_dmd2_transfer2p5.py 221, 235): more steps than these are recomputed with a warning.
DISTILLED_SAMPLING_TIMES = 4
DISTILLED_TIMESTEP_SHIFT = 5


def _module(where: str) -> str:
    """loguru's record["name"]: the module that logged (examples/inference.py runs as __main__)."""
    path = where.split(":", 1)[0]
    return "__main__" if path == MAIN[0] else path.removesuffix(".py").replace("/", ".")


def console_filter(where: str, level: str) -> bool:
    """cosmos_oss/init.py 52-73 `_console_filter`."""
    module = _module(where)
    if any(fnmatch.fnmatch(module, pattern) for pattern in LOGGER_INCLUDE):
        return True
    return not any(fnmatch.fnmatch(module, pattern) for pattern in LOGGER_EXCLUDE)


def init_environment(rt: Runtime) -> None:
    """cosmos_oss/init.py 76-84, 154-160."""
    if not flag("COSMOS_VERBOSE", flag("COSMOS_INTERNAL", False)):
        rt.console_accepts = console_filter
    else:
        rt.console_level = "DEBUG"


def init_output_dir(output_dir: Path, rt: Runtime) -> None:
    """cosmos_oss/init.py 169-176: the log files are added after their announcement."""
    output_dir.mkdir(parents=True, exist_ok=True)
    console = output_dir / "console.log"
    rt.log(f"Log saved to {console}", f"{WHERE_INIT}:96:_init_log_files")
    rt.add_log_file(console, "INFO", console_filter)
    rt.add_log_file(output_dir / "debug.log", "DEBUG")
    verbose = flag("COSMOS_VERBOSE", flag("COSMOS_INTERNAL", False))
    flags = (
        f"Flags(internal={flag('COSMOS_INTERNAL', False)}, "
        f"training={flag('COSMOS_TRAINING', True)}, smoke={flag('COSMOS_SMOKE', False)}, "
        f"verbose={verbose}, experimental_checkpoints={experimental_checkpoints()})"
    )
    rt.log(flags, f"{WHERE_INIT}:176:init_output_dir", "DEBUG")


def chunk_seeds(seed: int, chunks: int) -> list[int]:
    """Each chunk reseeds Python's random with the running seed and draws the next one
    (inference_pipeline.py 638-640); the same arithmetic gives the same numbers here."""
    seeds = []
    for _ in range(chunks):
        seed = random.Random(seed).randint(0, 1000000)
        seeds.append(seed)
    return seeds


def chunk_count(frames: int, per_chunk: int, conditional: int) -> int:
    """inference_pipeline.py 262-281 `_get_num_chunks`."""
    if per_chunk == 1 or frames <= per_chunk:
        return 1
    return 1 + math.ceil((frames - per_chunk) / (per_chunk - conditional))


def effective_weights(sample: InferenceArguments) -> dict[str, float]:
    """Weights are normalised to sum to at most 1 (config.py 434)."""
    raw = {key: control.control_weight for key, control in sample.controls().items()}
    total = max(sum(raw.values()), 1.0)
    return {key: weight / total for key, weight in raw.items()}


class Control2WorldInference:
    """cosmos_transfer2/inference.py 40-156 and the per-sample generation of 158-350."""

    def __init__(
        self, args: argparse.Namespace, hint_keys: list[str], world_size: int, rt: Runtime
    ) -> None:
        self.args, self.hint_keys, self.rt = args, hint_keys, rt
        self.output = Path(args.output_dir)
        self.distilled = args.model == DISTILLED_MODEL
        self.guardrails = not args.disable_guardrails
        self.profile = profiles.current_profile()
        self.speed = self.profile.speedup(args.context_parallel_size or world_size)
        self.negative_embedding: str | None = None  # ControlVideo2WorldInference.neg_t5_embeddings
        init_output_dir(self.output, rt)
        rt.log(f"SetupArguments({self._setup()})({hint_keys})", f"{WHERE}:46:__init__", "DEBUG")
        self.model = self._checkpoint()
        self._load()

    def _setup(self) -> str:
        args = self.args
        return (
            f"output_dir=PosixPath('{args.output_dir}') model='{args.model}' "
            f"disable_guardrails={args.disable_guardrails} keep_going={args.keep_going}"
        )

    def _checkpoint(self) -> str:
        """MODEL_CHECKPOINTS holds `edge/distilled` only (config.py 158-169): one key looks up its
        model (inference.py 54), several look up all four in CONTROL_KEYS order (66-71), so a
        distilled process with any key but edge, or with several keys, raises KeyError."""
        single = len(self.hint_keys) == 1
        looked_up = self.hint_keys[:1] if single else list(CONTROL_KEYS)
        missing = [key for key in looked_up if key != "edge"] if self.distilled else []
        if missing:
            raise_traceback(
                [
                    MAIN,
                    ("examples/inference.py", 77, "main"),
                    (WHERE, 54 if single else 67, "__init__"),
                ],
                f"KeyError: ModelKey(variant='{missing[0]}', distilled=True)",
            )
        name = self.hint_keys[0] if single else "multicontrol"
        return f"Cosmos-Transfer2.5-2B/{name}{'/distilled' if self.distilled else ''}"

    def _load(self) -> None:
        rt, memory = self.rt, self.rt.faults.memory_gb
        memory = self.profile.memory_gb if memory is None else memory
        branches = 1 if len(self.hint_keys) == 1 else len(CONTROL_KEYS)
        rt.advance(profiles.t25_load_seconds(branches, self.guardrails))
        need = profiles.t25_memory_gb(branches, self.guardrails)
        if need > memory:
            out_of_memory(need - memory, memory, WHERE)
        if self.distilled:
            message = "Setting net_fake_score to None for distilled model inference"
            rt.log(message, f"{WHERE}:139:__init__")
        rt.log(f"Found {len(self.hint_keys)} hint keys across all samples", f"{WHERE}:146:__init__")
        if len(self.hint_keys) > 1:
            rt.log(MULTICONTROL_WARNING, f"{WHERE}:148:__init__", "WARNING")
        config = self.output / "config.yaml"
        config.write_text(f"model: {self.args.model}\n", encoding="utf-8")
        rt.log(f"Saved config to {config}", f"{WHERE}:156:__init__")

    def generate(self, samples: list[InferenceArguments]) -> None:
        names = [sample.name for sample in samples]
        self.rt.log(f"Generating {len(samples)} samples: {names}", f"{WHERE}:163:generate")
        for index, sample in enumerate(samples):
            where = f"{WHERE}:167:generate"
            self.rt.log(f"[{index + 1}/{len(samples)}] Processing sample {sample.name}", where)
            SampleRun(self, sample, index + 1).run()


class SampleRun:
    """One `_generate_sample` (inference.py 185-350)."""

    def __init__(self, inference: Control2WorldInference, sample: InferenceArguments, index: int):
        self.inference, self.sample, self.index = inference, sample, index
        self.rt = inference.rt
        self.path = inference.output / sample.name
        self.negative = None if inference.distilled else sample.negative_prompt

    def log(self, message: str, line: int, level: str = "INFO", where: str = WHERE) -> None:
        function = "_generate_sample" if where == WHERE else "generate_img2world"
        self.rt.log(message, f"{where}:{line}:{function}", level)

    def fail(self, line: int, error: str) -> NoReturn:
        """An exception out of _generate_sample: nothing catches it (examples/inference.py 94)."""
        raise_traceback(
            [
                MAIN,
                ("examples/inference.py", 78, "main"),
                (WHERE, 168, "generate"),
                (WHERE, line, "_generate_sample"),
            ],
            error,
        )

    def run(self) -> None:
        self.log(f"InferenceArguments({self.sample})", 186, "DEBUG")
        self.inference.output.mkdir(parents=True, exist_ok=True)
        Path(f"{self.path}.json").write_text(self.sample.model_dump_json(), encoding="utf-8")
        self.log(f"Saved arguments to {self.path}.json", 208)
        if not self._text_guardrail():
            return
        controls: dict[str, str | None] = {}
        for key, control in self.sample.controls().items():
            path = str(control.control_path) if control.control_path else None
            controls |= {key: path, f"{key}_mask": None, f"{key}_mask_prompt": None}
        self.log(f"Processing the following paths: {controls}", 242)
        frames = self._generate()
        self._save_controls(frames)
        if not self._video_guardrail():
            return
        self._save(frames)

    def _blocked(self, text: str, reason: str, negative: bool) -> bool:
        """run_text_guardrail logs the reason (presets.py 58), the sample its own line, then
        returns or raises (inference.py 216-221, 230-235)."""
        where = f"{WHERE_GUARD}:58:run_text_guardrail"
        self.rt.log(f"GUARDRAIL BLOCKED: {reason}", where, "CRITICAL")
        what, logged, raised = ("Negative prompt", 231, 235) if negative else ("Prompt", 217, 221)
        message = f"Guardrail blocked generation. {what}: {text}"
        self.log(message, logged, "CRITICAL")
        if not self.inference.args.keep_going:
            self.fail(raised, f"Exception: {message}")
        return False

    def _text_guardrail(self) -> bool:
        """inference.py 210-239; the Blocklist refuses empty text (blocklist.py 200-201)."""
        if not self.inference.guardrails:
            self.log("Guardrail checks on prompt are disabled", 239, "WARNING")
            return True
        self.log("Running guardrail check on prompt...", 213)
        prompt = self.sample.prompt
        if not prompt:
            return self._blocked(prompt, "BLOCKLIST: Input is empty", negative=False)
        if self.rt.faults.blocks(self.index, self.sample.name):
            reason = "QWEN3GUARD: Prompt blocked by Qwen3Guard. Safety: Unsafe, Categories: []"
            return self._blocked(prompt, reason, negative=False)
        self.log("Passed guardrail on prompt", 223, "SUCCESS")
        if self.negative is None:
            return True
        if not self.negative:
            return self._blocked(self.negative, "BLOCKLIST: Input is empty", negative=True)
        self.log("Passed guardrail on negative prompt", 237, "SUCCESS")
        return True

    def _generate(self) -> int:
        """generate_img2world (inference_pipeline.py 418-742), logging to debug.log only."""
        from cosmos_workflow.simulator.video import probe

        sample, rt = self.sample, self.rt
        self.log("Loading input video...", 472, where=WHERE_PIPE)
        facts = probe(sample.video_path)
        frames = min(facts.frames, sample.max_frames or facts.frames)
        self.log("Computing prompt text embeddings...", 492, where=WHERE_PIPE)
        if self.negative:
            self.log("Computing negative prompt text embeddings...", 501, where=WHERE_PIPE)
            self.inference.negative_embedding = self.negative
        rt.advance(self.inference.profile.t25_sample_s)
        self._preprocess(frames)
        chunks = chunk_count(
            frames, sample.num_video_frames_per_chunk, sample.num_conditional_frames
        )
        self.seeds = chunk_seeds(sample.seed, chunks)
        for chunk, seed in enumerate(self.seeds, start=1):
            self.log(f"Generating chunk {chunk}/{chunks}", 554, where=WHERE_PIPE)
            self._check_negative_embedding()
            self.log(f"Seed: {seed}", 640, where=WHERE_PIPE)
            self._steps()
        return frames

    def _preprocess(self, frames: int) -> None:
        """depth and seg without a control_path are computed by models built per sample."""
        for key, control in self.sample.controls().items():
            if control.control_path is None and key in ("depth", "seg"):
                per_frame = profiles.T1_PREPROCESS_S_PER_FRAME
                self.rt.advance(profiles.T25_PREPROCESSOR_BUILD_S + frames * per_frame)

    def _check_negative_embedding(self) -> None:
        """_get_data_batch_input reads self.neg_t5_embeddings whenever a negative prompt is
        given, set or not (inference_pipeline.py 256-258, 601)."""
        if self.negative is None or self.inference.negative_embedding is not None:
            return
        raise_traceback(
            [
                MAIN,
                ("examples/inference.py", 78, "main"),
                (WHERE, 168, "generate"),
                (WHERE, 260, "_generate_sample"),
                (WHERE_PIPE, 601, "generate_img2world"),
                (WHERE_PIPE, 257, "_get_data_batch_input"),
            ],
            "AttributeError: 'ControlVideo2WorldInference' object has no attribute "
            "'neg_t5_embeddings'",
        )

    def _steps(self) -> None:
        """The base model's sampler shows a tqdm bar per step ("Generating samples",
        _src/transfer2/models/vid2vid_model_control_vace_rectified_flow.py 428); the distilled
        student has none and warns past its trained steps (cosmos2_interactive_model.py
        1113-1117)."""
        inference, steps = self.inference, self.sample.num_steps
        profile = inference.profile
        step = profile.t25_distilled_step_s if inference.distilled else profile.t25_step_s
        step /= inference.speed
        step *= 1 + profiles.T25_BRANCH_STEP_FRACTION * max(0, len(self.sample.controls()) - 1)
        if inference.distilled:
            if steps > DISTILLED_SAMPLING_TIMES:
                self._warn_student(steps)
            for _ in range(steps):
                self.rt.step(step)
            return
        self.rt.progress(0, steps, step, "Generating samples")
        for done in range(1, steps + 1):
            self.rt.step(step)
            self.rt.progress(done, steps, step, "Generating samples")

    def _warn_student(self, steps: int) -> None:
        message = (
            f"Inference: Student: num_steps {steps} greater than selected_sampling_time "
            f"{DISTILLED_SAMPLING_TIMES}. Computing the sampling steps based on provided number "
            f"of steps and timestep shift {DISTILLED_TIMESTEP_SHIFT}."
        )
        self.rt.log(message, f"{WHERE_STUDENT}:1114:generate_samples_from_batch", "WARNING")

    def _save_controls(self, frames: int) -> None:
        """Control videos are saved before the video guardrail runs (inference.py 308-311)."""
        from cosmos_workflow.simulator.video import probe, write_control

        fps = probe(self.sample.video_path).fps
        if self.inference.distilled and frames > CHUNK_FRAMES:
            self.log(
                f"Generated output has {frames} frames (> 93). The distilled Transfer 2.5 model "
                "is not trained to support auto-regressive generation",
                299,
                "WARNING",
            )
        for key in self.sample.controls():
            target = Path(f"{self.path}_control_{key}.mp4")
            write_control(self.sample.video_path, target, key, fps, frames)
            self.log(f"{key} control video saved to {target}", 311)

    def _video_guardrail(self) -> bool:
        """inference.py 313-335: a block returns silently with keep_going."""
        if not self.inference.guardrails:
            self.log("Guardrail checks on video are disabled", 335, "WARNING")
            return True
        self.log("Running guardrail check on video...", 319)
        if not self.rt.faults.blocks_video(self.index, self.sample.name):
            self.log("Passed guardrail on generated video", 329, "SUCCESS")
            return True
        message = "GUARDRAIL BLOCKED: VIDEOCONTENTSAFETYFILTER: unsafe frames detected"
        self.rt.log(message, f"{WHERE_GUARD}:74:run_video_guardrail", "CRITICAL")
        if not self.inference.args.keep_going:
            self.fail(327, "Exception: Guardrail blocked video2world generation.")
        return False

    def _render(self, frames: int) -> Any:
        from cosmos_workflow.simulator.video import Render, file_digest

        sample, inference = self.sample, self.inference
        weights = {k: w for k, w in effective_weights(sample).items() if w > 0}
        controls = sample.controls()
        conditioning: dict[str, Any] = {
            "prompt": sample.prompt,
            "num_steps": sample.num_steps,
            "sigma_max": sample.sigma_max,
            "weights": weights,
            "control_videos": {k: file_digest(controls[k].control_path) for k in weights},
        }
        if not inference.distilled:  # CFG is distilled into the student (inference.py 192-194)
            negative = inference.negative_embedding if self.negative is not None else None
            conditioning |= {"negative_prompt": negative, "guidance": sample.guidance}
        per_chunk = sample.num_video_frames_per_chunk
        clip_frames = (per_chunk, per_chunk - sample.num_conditional_frames)
        noise = tuple((seed, 0) for seed in self.seeds)
        return Render(inference.model, noise, clip_frames, conditioning)

    def _save(self, frames: int) -> None:
        """inference.py 337-343."""
        from cosmos_workflow.simulator.video import probe, write_output

        video = Path(f"{self.path}.mp4")
        fps = probe(self.sample.video_path).fps
        weights = effective_weights(self.sample)
        write_output(self.sample.video_path, video, weights, fps, self._render(frames), frames)
        Path(f"{self.path}.txt").write_text(self.sample.prompt, encoding="utf-8")
        self.log(f"Generated video saved to {video}", 343, "SUCCESS")
