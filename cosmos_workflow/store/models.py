"""SQLAlchemy 2.0 models. Times are UNIX seconds (float) so they compare the same on every database.

Invariants the schema itself enforces: a run belongs to exactly one job (`runs.job_id` NOT NULL,
foreign key); an idempotency key is unique; a job is leased by at most one worker (one
`lease_token` column); foreign keys are on (SQLite needs a pragma, see store/db.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class InputRow(Base):
    __tablename__ = "inputs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    folder: Mapped[str] = mapped_column(Text)
    video_path: Mapped[str] = mapped_column(Text)
    frames: Mapped[int] = mapped_column(Integer)
    fps: Mapped[float] = mapped_column(Float)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    controls: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # control -> path
    thumbnail_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)


class PromptRow(Base):
    __tablename__ = "prompts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    input_id: Mapped[str] = mapped_column(ForeignKey("inputs.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    text: Mapped[str] = mapped_column(Text)
    # "": the backend's own default negative prompt (NVIDIA's text) is rendered. An empty
    # negative prompt is never rendered as is (NVIDIA's code crashes on it), so "" is free to
    # mean "not given"; it also keeps the column NOT NULL, which SQLite could only change by
    # rebuilding a table that other tables reference.
    negative: Mapped[str] = mapped_column(Text, default="")
    parent_prompt_id: Mapped[str | None] = mapped_column(
        ForeignKey("prompts.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[float] = mapped_column(Float)


class PlanRow(Base):
    __tablename__ = "plans"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_at: Mapped[float] = mapped_column(Float)
    mode: Mapped[str] = mapped_column(String(16))
    fingerprint: Mapped[str] = mapped_column(String(64))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    applied_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        # The claim's order exactly (store.jobs.queue_order), so the next job is one index read.
        Index(
            "ix_jobs_queue_order", "status", text("priority DESC"), "position", "created_at", "id"
        ),
        Index("ix_jobs_history", text("updated_at DESC"), "id"),
        # Foreign keys a prune deletes through: without an index, each deleted job is a scan.
        Index("ix_jobs_retry_of", "retry_of_job_id"),
        CheckConstraint("attempts >= 0", name="ck_jobs_attempts"),
        CheckConstraint("gpu_batch_size >= 1", name="ck_jobs_gpu_batch_size"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    position: Mapped[int] = mapped_column(BigInteger)
    backend: Mapped[str] = mapped_column(String(16))
    gpu_batch_size: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    lease_token: Mapped[str | None] = mapped_column(String(40), nullable=True)
    lease_expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    worker_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    failure_class: Mapped[str | None] = mapped_column(String(24), nullable=True)
    merged_into_job_id: Mapped[str | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), nullable=True, index=True
    )
    retry_of_job_id: Mapped[str | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), nullable=True
    )
    plan_id: Mapped[str | None] = mapped_column(
        ForeignKey("plans.id", ondelete="SET NULL"), nullable=True
    )
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    predicted_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    host_name: Mapped[str | None] = mapped_column(String(64), nullable=True)


class RunRow(Base):
    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint("rating IS NULL OR (rating >= 1 AND rating <= 5)", name="ck_runs_rating"),
        # Run lists read newest first (created_at DESC, id), each filter column leading.
        Index("ix_runs_created", text("created_at DESC"), "id"),
        Index("ix_runs_control_set", "control_set", text("created_at DESC"), "id"),
        Index("ix_runs_status_created", "status", text("created_at DESC"), "id"),
        Index("ix_runs_origin", "origin_job_id", "origin_index"),
        Index("ix_runs_parent", "parent_run_id"),
        Index("ix_runs_sweep", "sweep_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="RESTRICT"), index=True)
    origin_job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="RESTRICT"))
    prompt_id: Mapped[str] = mapped_column(
        ForeignKey("prompts.id", ondelete="RESTRICT"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    weights: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The control-set key of `weights` (domain.controls.control_set_key, e.g. "depth+edge"),
    # kept beside them so a list filters on an index instead of reading every run's JSON.
    control_set: Mapped[str] = mapped_column(String(64), default="", server_default="")
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    batch_index: Mapped[int] = mapped_column(Integer, default=0)
    # The run's index in the job it was created in (batch_index changes when runs move between
    # jobs); NULL for runs created before it was recorded and moved since.
    origin_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    parent_run_id: Mapped[str | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), nullable=True
    )
    result_prompt_id: Mapped[str | None] = mapped_column(
        ForeignKey("prompts.id", ondelete="SET NULL"), nullable=True
    )
    output_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    thumbnail_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    log_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    failure_class: Mapped[str | None] = mapped_column(String(24), nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    compute_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    predicted_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The sweep that queued the run (domain.sweeps); it stays when batching moves the run.
    sweep_id: Mapped[str | None] = mapped_column(
        ForeignKey("sweeps.id", name="fk_runs_sweep", ondelete="SET NULL"), nullable=True
    )
    picked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # The guardrail posture of the run's latest attempt (domain.guardrails.Guardrails values):
    # what its host asked for and what the model applied. NULL until an attempt starts.
    guardrails_asked: Mapped[str | None] = mapped_column(String(32), nullable=True)
    guardrails_got: Mapped[str | None] = mapped_column(String(32), nullable=True)


class SweepRow(Base):
    """A sweep: prompts x weight axes x seeds queued as one named unit. `spec` keeps what was
    asked (prompt ids, axes, seeds, parameters, priority) so it can be shown and laid out as a
    grid; its runs name it in `runs.sweep_id`."""

    __tablename__ = "sweeps"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[float] = mapped_column(Float)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    runs: Mapped[int] = mapped_column(Integer)


class QueueStateRow(Base):
    __tablename__ = "queue_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[float] = mapped_column(Float)


class WorkerRow(Base):
    """One registration of a worker's slot (a `cosmos worker` registers each slot it drives)."""

    __tablename__ = "workers"
    __table_args__ = (Index("ix_workers_slot", "slot", "heartbeat_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    host_name: Mapped[str] = mapped_column(String(64))
    slot: Mapped[str | None] = mapped_column(String(80), nullable=True)  # `host/index`
    machine: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    simulate: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[float] = mapped_column(Float)
    heartbeat_at: Mapped[float] = mapped_column(Float)
    stopped_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    current_job_id: Mapped[str | None] = mapped_column(String(40), nullable=True)


class AttemptRow(Base):
    """One execution of a job on a host; retries add rows instead of overwriting history.

    It also says where its process runs (machine, work directory, process group, container, the
    COSMOS_ATTEMPT marker in its environment) and under which lease: an attempt still open
    (`ended_at` NULL) whose job no longer holds that lease is an orphan to end."""

    __tablename__ = "attempts"
    __table_args__ = (Index("ix_attempts_open", "host_name", "ended_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    worker_id: Mapped[str] = mapped_column(String(40))
    host_name: Mapped[str] = mapped_column(String(64))
    argv: Mapped[list[Any]] = mapped_column(JSON, default=list)
    started_at: Mapped[float] = mapped_column(Float)
    ended_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(24), nullable=True)
    lease_token: Mapped[str | None] = mapped_column(String(40), nullable=True)
    machine: Mapped[str | None] = mapped_column(String(200), nullable=True)
    workdir: Mapped[str | None] = mapped_column(Text, nullable=True)
    marker: Mapped[str | None] = mapped_column(String(80), nullable=True)
    process_group: Mapped[int | None] = mapped_column(Integer, nullable=True)
    container_runtime: Mapped[str | None] = mapped_column(String(16), nullable=True)
    container_name: Mapped[str | None] = mapped_column(String(200), nullable=True)


class TimingRow(Base):
    """Measured phase timings of one model process, the input of calibration."""

    __tablename__ = "timings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[float] = mapped_column(Float)
    backend: Mapped[str] = mapped_column(String(16))
    gpu_profile: Mapped[str] = mapped_column(String(64))
    controls: Mapped[str] = mapped_column(String(64))
    steps: Mapped[int] = mapped_column(Integer)
    frames: Mapped[int] = mapped_column(Integer)
    gpu_batch_size: Mapped[int] = mapped_column(Integer)
    runs: Mapped[int] = mapped_column(Integer)
    distilled: Mapped[bool] = mapped_column(Boolean, default=False)
    load_seconds: Mapped[float] = mapped_column(Float)
    compute_seconds: Mapped[float] = mapped_column(Float)
    predicted_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)


class CalibrationRow(Base):
    __tablename__ = "calibrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[float] = mapped_column(Float)
    backend: Mapped[str] = mapped_column(String(16))
    gpu_profile: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    samples: Mapped[int] = mapped_column(Integer)
    mean_abs_error_pct: Mapped[float] = mapped_column(Float)


class BatchLimitRow(Base):
    """The largest GPU batch that fit, learned from out-of-memory failures."""

    __tablename__ = "batch_limits"

    gpu_profile: Mapped[str] = mapped_column(String(64), primary_key=True)
    backend: Mapped[str] = mapped_column(String(16), primary_key=True)
    controls: Mapped[str] = mapped_column(String(64), primary_key=True)
    max_gpu_batch_size: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[float] = mapped_column(Float)


class BatchingVerdictRow(Base):
    """What `cosmos verify-batching` measured for one kind of batching (domain.verdicts)."""

    __tablename__ = "batching_verdicts"

    backend: Mapped[str] = mapped_column(String(16), primary_key=True)
    variant: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    controls: Mapped[str] = mapped_column(String(64), primary_key=True)
    gpu_profile: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Measured on the simulator: kept apart from a real GPU's verdict of the same key.
    simulated: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    identical: Mapped[bool] = mapped_column(Boolean)  # every compared run kept its output
    bit_identical: Mapped[bool] = mapped_column(Boolean)
    min_psnr_db: Mapped[float | None] = mapped_column(Float, nullable=True)  # None: identical
    runs_compared: Mapped[int] = mapped_column(Integer)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    verified_at: Mapped[float] = mapped_column(Float)


class EventRow(Base):
    """State changes, progress and log lines, in one monotonic sequence for the live stream."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    created_at: Mapped[float] = mapped_column(Float, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    job_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    run_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class NotificationRow(Base):
    """A notification claimed for sending (cosmos_workflow/notify): its key names the event, its
    subject and the target, so of the workers that see the same event only the one whose insert
    lands sends it. Pruned with the events (store/retention.py)."""

    __tablename__ = "notifications"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    event_id: Mapped[int] = mapped_column(BigInteger)  # the event that caused it
    created_at: Mapped[float] = mapped_column(Float, index=True)
