"""Request bodies, the error body, and the answers no service owns (health, the server's
embedded worker). Shapes and ranges only: the services validate meaning (weights, parameters,
ids) and answer with the field at fault, so the API and the CLI accept and refuse the same
things; the boundary adds only what keeps both databases answering alike (no NUL characters,
integers within their columns). Every other answer is a service's own view model
(services/views.py and friends), declared by the routes as their response model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cosmos_workflow.domain import params as limits
from cosmos_workflow.domain.text import (
    MAX_KEY_CHARS,
    MAX_NAME_CHARS,
    MAX_PATH_CHARS,
    MAX_PROMPT_CHARS,
)
from cosmos_workflow.services.estimates import MAX_SLOT_GROUPS, MAX_SLOTS, SlotGroup
from cosmos_workflow.services.queue import MAX_PROMPTS_PER_JOB, PRIORITY_RANGE

if TYPE_CHECKING:
    from cosmos_workflow.worker.embedded import EmbeddedWorker

# PostgreSQL can neither store nor compare text holding a NUL character, and no name, id, path
# or prompt a user means contains one: every string the API takes refuses it (422, the field).
NO_NUL = "^[^\x00]*$"
Text = Annotated[str, Field(pattern=NO_NUL)]
# The services' length limits (domain/text.py), stated in the schema so clients know them.
Name = Annotated[str, Field(pattern=NO_NUL, max_length=MAX_NAME_CHARS)]
PathText = Annotated[str, Field(pattern=NO_NUL, max_length=MAX_PATH_CHARS)]
PromptText = Annotated[str, Field(pattern=NO_NUL, max_length=MAX_PROMPT_CHARS)]
Key = Annotated[str, Field(pattern=NO_NUL, min_length=1, max_length=MAX_KEY_CHARS)]
# The services refuse a priority outside this range; the boundary states it in the schema too
# (the column is a 32-bit integer).
Priority = Annotated[
    int,
    Field(ge=PRIORITY_RANGE[0], le=PRIORITY_RANGE[1], description="Higher runs sooner."),
]
Weight = Annotated[float, Field(ge=0, le=1)]


class Body(BaseModel):
    # Strict: `true` is not the number 1 and "35" is not 35 (JSON numbers still fill a float).
    model_config = ConfigDict(extra="forbid", strict=True)


class ParamsBody(Body):
    """Execution parameters, as `cosmos queue add` takes them; a missing or null one takes the
    backend's default. Ranges span every backend; the service checks each backend's own
    (Transfer2.5: guidance a whole number 0 to 7; Cosmos 3: guidance 0 to 7) and refuses a
    Cosmos 3 parameter with another backend, so the API and the CLI refuse alike."""

    backend: Literal["transfer1", "transfer2.5", "cosmos3"] | None = None
    steps: int | None = Field(None, ge=1, le=limits.MAX_STEPS)
    guidance: float | None = Field(
        None,
        ge=0,
        le=max(
            limits.T1_GUIDANCE_RANGE[1],
            limits.T25_GUIDANCE_RANGE[1],
            limits.C3_GUIDANCE_RANGE[1],
        ),
    )
    seed: int | None = Field(None, ge=0, le=limits.MAX_SEED)
    sigma_max: float | None = Field(
        None,
        ge=0,
        le=max(
            limits.T1_SIGMA_MAX_RANGE[1],
            limits.T25_SIGMA_MAX_RANGE[1],
            limits.C3_SIGMA_MAX_RANGE[1],
        ),
        description="Transfer1/2.5: input-video noise. Cosmos 3: the edm sampler's only.",
    )
    fps: int | None = Field(
        None,
        ge=limits.FPS_RANGE[0],
        le=limits.FPS_RANGE[1],
        description="Output fps (Transfer1). Cosmos 3 writes at the input video's rate: leave "
        "it out or give that rate.",
    )
    blur: Literal[tuple(p.value for p in limits.Preset)] | None = None  # type: ignore[valid-type]
    canny: Literal[tuple(p.value for p in limits.Preset)] | None = None  # type: ignore[valid-type]
    distilled: bool | None = Field(None, description="Transfer1/2.5: the distilled edge model.")
    checkpoint: Literal[limits.C3_CHECKPOINTS] | None = Field(  # type: ignore[valid-type]
        None, description="Cosmos 3: the model (default Cosmos3-Nano)."
    )
    sampler: Literal[limits.C3_SAMPLERS] | None = Field(  # type: ignore[valid-type]
        None, description="Cosmos 3: unipc (default) or edm."
    )
    diffusion_cache: bool | None = Field(
        None, description="Cosmos 3: skip diffusion steps with SeaCache (default true)."
    )
    control_guidance: float | None = Field(
        None,
        ge=limits.C3_CONTROL_GUIDANCE_RANGE[0],
        le=limits.C3_CONTROL_GUIDANCE_RANGE[1],
        description="Cosmos 3: control CFG (1 = off; default per control, as NVIDIA).",
    )
    shift: float | None = Field(
        None,
        gt=limits.C3_SHIFT_RANGE[0],
        le=limits.C3_SHIFT_RANGE[1],
        description="Cosmos 3: UniPC time shift (default 10).",
    )
    resolution: Literal[limits.C3_RESOLUTIONS] | None = Field(  # type: ignore[valid-type]
        None, description='Cosmos 3: the resolution tier, as text (default "720").'
    )
    chunk_frames: int | None = Field(
        None,
        ge=1,
        le=limits.MAX_FRAMES_LIMIT,
        description="Cosmos 3: frames per chunk, rounded up to 4k+1 (default 93; wsm 101).",
    )
    conditional_frames: int | None = Field(
        None,
        ge=0,
        le=limits.MAX_FRAMES_LIMIT,
        description="Cosmos 3: frames each chunk overlaps the last (default 1).",
    )
    max_frames: int | None = Field(
        None,
        ge=1,
        le=limits.MAX_FRAMES_LIMIT,
        description="Cosmos 3: frames read from each video (default 5000).",
    )
    num_outputs: int | None = Field(
        None,
        ge=1,
        le=limits.MAX_NUM_OUTPUTS,
        description="Cosmos 3: outputs per prompt, one run each, seeds seed, seed+1, ...",
    )

    def given(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class InputCreate(Body):
    path: PathText = Field(description="The input folder, under a configured input root.")
    name: Name | None = Field(None, description="Defaults to the folder's name.")
    video: PathText | None = Field(None, description="The RGB video, when not color/rgb/input.mp4.")


class InputRename(Body):
    name: Name = Field(description="The new name: one line, 1 to 200 characters.")


class PromptCreate(Body):
    input: Name = Field(description="Input name or id.")
    text: PromptText
    name: Name | None = None
    negative: PromptText | None = Field(
        default=None, description="Negative prompt; null uses the model's own default."
    )


class JobCreate(Body):
    prompt_ids: list[Name] = Field(
        min_length=1,
        max_length=MAX_PROMPTS_PER_JOB,
        description="One run per prompt, all in one job.",
    )
    weights: dict[str, Weight] = Field(
        default_factory=lambda: {"edge": 1.0},
        description='Control weights, e.g. {"edge": 0.5, "depth": 0.3} (as `cosmos queue add`); '
        "controls: vis, edge, depth, seg, wsm (or blur, canny, segmentation); 0 leaves one out.",
    )
    params: ParamsBody = Field(
        default_factory=ParamsBody,
        description="Execution parameters: backend, steps, guidance, seed, sigma_max, fps, ...",
    )
    priority: Priority = 0
    idempotency_key: Key | None = None


# An axis as a list of weights or as text: "0.2:0.8:0.2" (start:stop:step) or "0.3,0.6".
AxisValues = list[Weight] | Annotated[str, Field(pattern=NO_NUL, max_length=200)]


class SweepCreate(Body):
    prompt_ids: list[Name] = Field(
        min_length=1,
        max_length=MAX_PROMPTS_PER_JOB,
        description="The prompts every combination runs.",
    )
    weights: dict[str, AxisValues] = Field(
        min_length=1,
        description='One axis per control: {"depth": "0.2:0.8:0.2", "seg": [0.3, 0.6]}; a '
        "weight of 0 leaves the control out of that combination.",
    )
    seeds: list[Annotated[int, Field(ge=0, le=limits.MAX_SEED)]] | None = Field(
        None, max_length=1000, description="One run per seed (default: the parameters' seed)."
    )
    name: Name | None = Field(None, description="Unique; default sweep-<date>-<n>.")
    params: ParamsBody = Field(
        default_factory=ParamsBody, description="Execution parameters shared by every run."
    )
    priority: Priority = 0
    confirm: bool = Field(False, description="Queue it even above max_sweep_runs.")
    dry_run: bool = Field(False, description="Only say what it would queue.")


class BulkCreate(Body):
    jobs: list[JobCreate]


class MoveRequest(Body):
    where: Literal["top", "bottom", "before"]
    before: Name | None = Field(None, description="With where=before: the other job's id.")


class UpscaleRequest(Body):
    weight: float = Field(0.5, gt=0, le=1, description="The upscale control's weight.")
    priority: Priority = 0


class PriorityRequest(Body):
    priority: Priority = 0


class AnalyzeRequest(Body):
    mode: Text | None = Field(None, description="strict, mixed or auto (default: configuration).")
    max_batch_size: int | None = None
    allow_output_changes: bool | None = Field(
        None,
        strict=True,  # true or false only: "yes" or 1 is refused, not guessed
        description="Let auto form batches whose outputs may differ from each run alone (GPU "
        "batches, mixed control sets) where no verification covers them (default: "
        "planner.allow_output_changes).",
    )
    slots: int | None = Field(
        None,
        ge=1,
        le=MAX_SLOTS,
        description="Plan for this many identical free GPU slots (default: the configured "
        "hosts' slots, busy while their running jobs last).",
    )
    fleet: list[SlotGroup] | None = Field(
        None,
        min_length=1,
        max_length=MAX_SLOT_GROUPS,
        description="Plan for this fleet instead: groups of identical free slots per GPU "
        "profile (not with `slots`).",
    )


class ApplyRequest(Body):
    plan_id: Text | None = Field(None, description="Default: the newest plan.")
    rebase: bool = Field(
        False,
        strict=True,  # true or false only
        description="When workers claimed or finished some of the plan's runs since the "
        "analysis, apply the rest of it; any other change still refuses it (409).",
    )


class UndoRequest(Body):
    batch_job_id: Text


class RatingRequest(Body):
    rating: int | None = Field(ge=1, le=5, description="1 to 5; null clears the rating.")


class ErrorDetail(BaseModel):
    message: str = Field(description="What is wrong, in one sentence a user can act on.")
    field: str | None = Field(
        description="The input at fault as a dotted path (e.g. `jobs.1.weights`); null when "
        "no single field is."
    )


class ErrorBody(BaseModel):
    """The one shape of every error answer (api/errors.py writes it)."""

    error: ErrorDetail


class Health(BaseModel):
    """`GET /api/health`: liveness plus whether work is real or simulated."""

    status: Literal["ok"]
    version: str
    database: Literal["sqlite", "postgresql"]
    paused: bool
    workers_alive: int  # live worker registrations: one per GPU slot a worker drives
    simulated: bool  # a live worker runs the simulator, not NVIDIA's programs


class EmbeddedWorkerStatus(BaseModel):
    """The worker that `cosmos serve` runs inside this server (`GET /api/worker`; the UI's banner
    says the same). Workers started with `cosmos worker` are listed by `GET /api/workers`.

    - `state`: `none` (this server runs without one: `--no-worker`), `starting`, `running` (its
      loop runs: claiming and executing jobs, or waiting for some), `restarting` (it exited,
      for `last_error`, and starts again at `next_start_at`) or `stopped` (the server is
      shutting down).
    - `restarts`: how many times it was started again after it exited.
    - `last_error`: why it last exited, one line (the traceback is in the server log); null
      while it never failed.
    - `next_start_at`: with `restarting`, when it starts again (Unix seconds); else null.
    - `since`: when it entered `state` (Unix seconds); null with `none`.
    """

    state: Literal["none", "starting", "running", "restarting", "stopped"]
    restarts: int = 0
    last_error: str | None = None
    next_start_at: float | None = None
    since: float | None = None

    @classmethod
    def of(cls, worker: EmbeddedWorker | None) -> EmbeddedWorkerStatus:
        """The state of `worker` now (the one place the API and the UI read it from)."""
        if worker is None:
            return cls(state="none")
        snapshot = worker.snapshot()
        return cls(
            state=snapshot.state,
            restarts=snapshot.restarts,
            last_error=snapshot.last_error,
            next_start_at=snapshot.next_start_at,
            since=snapshot.since,
        )
