"""The simulated command line of `python -m cosmos_framework.scripts.inference`.

NVIDIA parses it with tyro over `InferenceArgs` (cosmos_framework/scripts/inference.py 21-31,
78-87 at NVIDIA/cosmos-framework 5eee9ed) with `OmitArgPrefixes`, so the setup fields
(inference/common/args.py 742-938, inference/args.py 1344-1366) and the per-sample override
fields (inference/args.py 1048-1054 and the classes it inherits) are flat `--kebab-case` flags;
the underscore spelling is accepted too. Behaviour copied from tyro 1.0.17 as run on these
models: a plain `bool` is `--x/--no-x` and takes no value (`--x=true` leaves `true`
unrecognized); a `bool | None` sample field takes a value from {None,True,False}; an optional
value accepts `None`; fields wrapped in `Training[...]` are hidden when COSMOS_TRAINING is off
(common/args.py 46-50). Every parse error is a boxed message on stderr and exit status 2. Values
are validated by the same pydantic models NVIDIA uses, so a CLI sample flag that names a
transfer-only field (`--control-guidance 1.5`, `--max-frames 100`, ...) is refused: the CLI's
own sample-overrides object carries no hint block (inference/args.py 807-828). The hint blocks
themselves are tyro subcommands there; they are not simulated."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, ValidationError

from cosmos_workflow.simulator.cosmos3_args import SampleOverrides, training
from cosmos_workflow.simulator.runtime import SimulatedExit

PROG = "cosmos_framework/scripts/inference.py"
Kind = Literal["flag", "bool", "int", "float", "str", "list", "ints", "pair"]


@dataclass(frozen=True)
class Opt:
    name: str  # field name (snake_case)
    kind: Kind
    group: Literal["setup", "sample"]
    optional: bool = False  # accepts "None"
    choices: tuple[str, ...] = ()
    training_only: bool = False
    alias: str = ""
    required: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def metavar(self) -> str:
        base = "{" + ",".join(self.choices) + "}" if self.choices else self.kind.upper()
        return "{None}|" + base if self.optional and not self.choices else base


def _setup(name: str, kind: Kind, **extra: Any) -> Opt:
    return Opt(name, kind, "setup", **extra)


SETUP_OPTS = (
    _setup("guardrails", "flag"),
    _setup("offload_guardrail_models", "flag"),
    _setup("quantization_method", "str", optional=True, choices=("None", "mxfp8", "nvfp4")),
    _setup("quantization_include_regex", "list"),
    _setup("quantization_exclude_regex", "list"),
    _setup("parallelism_preset", "str", choices=("throughput", "latency")),
    _setup("device_memory_utilization", "float", training_only=True),
    _setup("dp_replicate_size", "int"),
    _setup("dp_shard_size", "int"),
    _setup("cp_size", "int"),
    _setup("cfgp_size", "int"),
    _setup("use_torch_compile", "flag"),
    _setup("use_cuda_graphs", "flag"),
    _setup("compiled_region", "str", choices=("all", "language")),
    _setup("compile_dynamic", "flag"),
    _setup("use_separate_pipeline_vision_decode_gpu", "flag"),
    _setup("config_file", "str", training_only=True),
    _setup("experiment", "str", training_only=True),
    _setup("experiment_overrides", "list", training_only=True),
    _setup("checkpoint_path", "str", required=True),
    _setup("credential_path", "str", training_only=True),
    _setup("use_ema_weights", "flag", training_only=True),
    _setup("checkpoint_cache_dir", "str", optional=True, training_only=True),
    _setup("output_dir", "str", optional=True, alias="-o"),
    _setup("keep_going", "flag"),
    _setup("skip_invalid_samples", "flag"),
    _setup("debug", "flag"),
    _setup("profile", "flag"),
    _setup("benchmark", "flag"),
    _setup("warmup", "int"),
    _setup("num_iterations", "int"),
    _setup("max_model_len", "int", optional=True),
    _setup("max_num_seqs", "int", optional=True),
    _setup("diffusion_cache", "flag"),
    _setup("diffusion_cache_thresh", "float", optional=True),
    _setup("diffusion_cache_residual_order", "int", optional=True),
    _setup(
        "model_size",
        "str",
        optional=True,
        training_only=True,
        choices=("None", "0.6B", "2B", "8B", "30B-A3B", "32B", "235B-A22B"),
    ),
    _setup("sampler", "str", choices=("unipc", "edm")),
)

# Sample fields by the flag they make; names listed in TRAINING_SAMPLE are Training[...].
SAMPLE_KINDS: dict[Kind, tuple[str, ...]] = {
    "int": (
        "seed", "num_outputs", "num_steps", "fps", "num_frames", "video_save_quality",
        "image_save_quality", "image_size", "action_chunk_size", "raw_action_dim",
        "max_new_tokens", "top_k", "num_video_frames_per_chunk", "num_conditional_frames",
        "max_frames", "num_first_chunk_conditional_frames", "prompt_upsampler_max_tokens",
        "prompt_upsampler_top_k", "prompt_upsampler_seed",
    ),
    "float": (
        "guidance", "shift", "sigma_max", "temperature", "top_p", "repetition_penalty",
        "presence_penalty", "video_fps", "control_guidance", "prompt_upsampler_temperature",
        "prompt_upsampler_top_p", "prompt_upsampler_repetition_penalty",
        "prompt_upsampler_presence_penalty",
    ),
    "bool": (
        "normalize_cfg", "negative_prompt_keep_metadata", "enable_sound", "do_sample",
        "show_control_condition", "show_input", "share_vision_temporal_positions",
        "emphasize_control_in_prompt", "prompt_upsampling",
    ),
    "pair": ("guidance_interval", "control_guidance_interval"),
    "ints": ("condition_frame_indexes_vision",),
    "str": (
        "model", "tensors_file", "pickle_file", "prompt_path", "prompt", "negative_prompt",
        "duration_template", "resolution_template", "inverse_duration_template",
        "inverse_resolution_template", "vision_path", "sound_path", "action_path",
        "domain_name", "view_point", "negative_prompt_file", "defaults_file",
    ),
}  # fmt: skip
SAMPLE_CHOICES = {
    "negative_metadata_mode": ("None", "none", "same", "inverse"),
    "condition_video_keep": ("None", "first", "last"),
    "resolution": ("None", "256", "480", "704", "720", "768"),
    "aspect_ratio": ("None", "1,1", "4,3", "3,4", "16,9", "9,16"),
}
TRAINING_SAMPLE = (
    "num_outputs", "num_steps", "guidance", "guidance_interval", "normalize_cfg", "shift",
    "sigma_max", "duration_template", "resolution_template", "negative_metadata_mode",
    "inverse_duration_template", "inverse_resolution_template", "negative_prompt_keep_metadata",
    "condition_frame_indexes_vision", "condition_video_keep", "video_save_quality",
    "image_save_quality", "enable_sound", "action_path", "domain_name", "image_size",
    "action_chunk_size", "raw_action_dim", "view_point", "control_guidance",
    "control_guidance_interval", "prompt_upsampling",
)  # fmt: skip


def _model_modes() -> tuple[str, ...]:
    from cosmos_workflow.simulator.cosmos3_args import ModelMode

    return ("None", *(mode.value for mode in ModelMode))


def _sample_opts() -> tuple[Opt, ...]:
    choices = {**SAMPLE_CHOICES, "model_mode": _model_modes()}
    opts = [
        Opt(
            name,
            kind,
            "sample",
            optional=True,
            training_only=name in TRAINING_SAMPLE,
            alias="-n" if name == "num_outputs" else "",
        )
        for kind, names in SAMPLE_KINDS.items()
        for name in names
    ]
    opts += [
        Opt(
            name,
            "str",
            "sample",
            optional=True,
            choices=values,
            training_only=name in TRAINING_SAMPLE,
        )
        for name, values in choices.items()
    ]
    return tuple(opts)


INPUT_FILES = Opt("input_files", "list", "setup", alias="-i", required=True)


class SetupValues(BaseModel):
    """The setup fields' constraints (common/args.py 780-938; inference/args.py 1357-1360)."""

    model_config = ConfigDict(extra="ignore")

    device_memory_utilization: float = Field(default=0.75, ge=0.0, le=1.0)
    dp_replicate_size: NonNegativeInt = 0
    dp_shard_size: NonNegativeInt = 0
    cp_size: int = Field(default=0, ge=0, le=32)
    cfgp_size: int = Field(default=0, ge=0, le=2)
    warmup: NonNegativeInt = 0
    num_iterations: PositiveInt = 1
    max_model_len: PositiveInt | None = None
    max_num_seqs: PositiveInt | None = 1


SETUP_DEFAULTS: dict[str, Any] = {
    "guardrails": True,
    "offload_guardrail_models": False,
    "quantization_method": None,
    "parallelism_preset": "latency",
    "use_torch_compile": True,
    "use_cuda_graphs": False,
    "compiled_region": "all",
    "compile_dynamic": True,
    "use_separate_pipeline_vision_decode_gpu": False,
    "use_ema_weights": True,
    "output_dir": None,
    "keep_going": False,
    "skip_invalid_samples": False,
    "debug": False,
    "profile": False,
    "benchmark": False,
    "diffusion_cache": True,  # scripts/inference.py 30: model_construct(diffusion_cache=True)
    "diffusion_cache_thresh": None,
    "diffusion_cache_residual_order": None,
    "sampler": "unipc",
}


@dataclass
class CommandLine:
    input_files: list[str]
    setup: dict[str, Any]
    sample: dict[str, Any] = field(default_factory=dict)  # validated, None left out


def panel(title: str, lines: list[str], footer: list[str]) -> NoReturn:
    """tyro's boxed error on stderr, exit status 2."""
    body = [*lines, "", *footer]
    width = max(len(line) for line in [*body, title + "  "])
    rule = "─" * width
    out = [f"╭─ {title} {'─' * (width - len(title) - 1)}╮"]
    for line in lines:
        out.append(f"│ {line.ljust(width)} │")
    out.append(f"│ {rule} │")
    for line in footer:
        out.append(f"│ {line.ljust(width)} │")
    out.append(f"╰{'─' * (width + 2)}╯")
    print("\n".join(out), file=sys.stderr, flush=True)
    raise SimulatedExit(2)


def _prog() -> str:
    return str(Path.cwd() / PROG)  # under `python -m` tyro shows sys.argv[0], the module file


def _usage_error(title: str, message: str) -> NoReturn:
    panel(title, [message], [f"For full helptext, run {_prog()} --help"])


def _value_error(message: str) -> NoReturn:
    panel("Value error", message.splitlines(), [f"For full helptext, see {_prog()} --help"])


class Parser:
    def __init__(self) -> None:
        visible = training()
        opts = [INPUT_FILES, *SETUP_OPTS, *_sample_opts()]
        self.opts = [opt for opt in opts if visible or not opt.training_only]
        self.by_flag: dict[str, Opt] = {}
        for opt in self.opts:
            self.by_flag[opt.flag] = opt
            if opt.alias:
                self.by_flag[opt.alias] = opt
        self.values: dict[str, Any] = {}
        self.unknown: list[str] = []

    def lookup(self, token: str) -> tuple[Opt | None, bool]:
        """The option a token names and whether it is the `--no-` form."""
        name = token if not token.startswith("--") else "--" + token[2:].replace("_", "-")
        if name in self.by_flag:
            return self.by_flag[name], False
        if name.startswith("--no-"):
            opt = self.by_flag.get("--" + name[5:])
            if opt is not None and opt.kind == "flag":
                return opt, True
        return None, False

    def parse(self, argv: list[str]) -> CommandLine:
        tokens = list(argv)
        while tokens:
            token = tokens.pop(0)
            if token in ("-h", "--help"):
                print(f"usage: {_prog()} [-h] [OPTIONS]", flush=True)
                raise SimulatedExit(0)
            if not token.startswith("-"):
                self.unknown.append(token)
                continue
            name, equals, inline = (
                token.partition("=") if token.startswith("--") else (token, "", "")
            )
            opt, negated = self.lookup(name)
            if opt is None:
                self.unknown.append(token)
                continue
            self._take(opt, negated, inline if equals else None, tokens)
        return self._finish()

    def _take(self, opt: Opt, negated: bool, inline: str | None, tokens: list[str]) -> None:
        if opt.kind == "flag":
            self.values[opt.name] = not negated
            if inline is not None:
                self.unknown.append(inline)
            return
        words = [inline] if inline is not None else []
        if opt.kind in ("list", "ints"):
            while inline is None and tokens and not tokens[0].startswith("-"):
                words.append(tokens.pop(0))
        else:
            wanted = 2 if opt.kind == "pair" else 1
            while len(words) < wanted and tokens and not tokens[0].startswith("-"):
                words.append(tokens.pop(0))
            if len(words) < wanted and not (opt.optional and words == ["None"]):
                names = f"{opt.alias}/{opt.flag}" if opt.alias else opt.flag
                _usage_error(
                    "Missing argument",
                    f"Missing value for argument '{names}'. Expected {wanted} values.",
                )
        self.values[opt.name] = self._convert(opt, words)

    def _convert(self, opt: Opt, words: list[str]) -> Any:
        if opt.optional and words == ["None"]:
            return None
        if opt.choices:
            if words[0] not in opt.choices:
                expected = tuple(choice for choice in opt.choices)
                _usage_error(
                    "Invalid choice",
                    f"invalid choice '{words[0]}' for argument '{opt.flag}'. "
                    f"Expected one of {expected}.",
                )
            return words[0]
        try:
            return _typed(opt.kind, words)
        except ValueError as exc:
            _value_error(
                f"Error parsing {opt.flag}: no type matching {opt.metavar()} could be "
                f"instantiated from {words}.\n{exc}"
            )

    def _finish(self) -> CommandLine:
        missing = [opt for opt in self.opts if opt.required and opt.name not in self.values]
        if missing:
            lines = [f"Missing from {_prog()}:"]
            for opt in missing:
                lines += [f"    {opt.flag} {opt.metavar()}", "        (required)"]
            panel("Required options", lines, ["For full helptext, run:", f"    {_prog()} --help"])
        if self.unknown:
            _usage_error("Unrecognized options", f"Unrecognized options: {', '.join(self.unknown)}")
        setup = {**SETUP_DEFAULTS}
        sample: dict[str, Any] = {}
        for opt in self.opts:
            if opt.name in self.values and opt.name != "input_files":
                target = setup if opt.group == "setup" else sample
                target[opt.name] = self.values[opt.name]
        return CommandLine(
            list(self.values["input_files"]), _checked_setup(setup), _checked(sample)
        )


def _typed(kind: Kind, words: list[str]) -> Any:
    if kind == "int":
        return int(words[0])
    if kind == "float":
        return float(words[0])
    if kind == "bool":
        if words[0] not in ("True", "False"):
            raise ValueError(f"{words[0]!r} does not match choices ('None', 'True', 'False')")
        return words[0] == "True"
    if kind == "pair":
        return (float(words[0]), float(words[1]))
    if kind == "ints":
        return [int(word) for word in words]
    if kind == "list":
        return list(words)
    return words[0]


def _checked_setup(setup: dict[str, Any]) -> dict[str, Any]:
    try:
        checked = SetupValues.model_validate(setup)
    except ValidationError as exc:
        _value_error(f"Error parsing setup: {exc}")
    return {**setup, **checked.model_dump()}


def _checked(sample: dict[str, Any]) -> dict[str, Any]:
    """The CLI's OmniSampleOverrides, validated in the working directory as tyro builds it."""
    try:
        model = SampleOverrides.model_validate(sample)
    except ValidationError as exc:
        _value_error(f"Error parsing setup.sample-overrides: {exc}")
    dumped: dict[str, Any] = model.model_dump(mode="json", exclude_none=True)
    return dumped


def parse(argv: list[str]) -> CommandLine:
    return Parser().parse(argv)
