"""Configuration: `cosmos.toml` plus `COSMOS_*` environment overrides, validated at start-up.

Lookup: `COSMOS_CONFIG` if set, else `cosmos.toml` in the working directory, else `cosmos.toml`
in the user config directory. Environment variables win over the file; nested settings use a
double underscore (`COSMOS_PLANNER__MODE=strict`)."""

from __future__ import annotations

import os
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from cosmos_workflow import defaults
from cosmos_workflow.domain.errors import ConfigError
from cosmos_workflow.domain.params import Backend

APP_NAME = "cosmos-workflow"


def default_home() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME))


def default_config_path() -> Path | None:
    explicit = os.environ.get("COSMOS_CONFIG")
    if explicit:
        return Path(explicit)
    local = Path.cwd() / "cosmos.toml"
    if local.is_file():
        return local
    from platformdirs import user_config_dir

    user = Path(user_config_dir(APP_NAME)) / "cosmos.toml"
    return user if user.is_file() else None


class HostConfig(BaseModel):
    """One GPU slot a worker can run on: the local machine or a remote one over SSH."""

    model_config = {"extra": "forbid"}

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    ssh: str | None = None  # "user@host" or "host"; None = this machine
    ssh_port: int = Field(22, ge=1, le=65535)
    ssh_key: Path | None = None
    known_hosts: Path | None = None
    accept_new_host_keys: bool = False
    workdir: str | None = None  # per-job directories go under it (remote path for ssh)
    container: Literal["none", "docker", "podman"] = "none"
    image: str | None = None
    gpus: int = Field(1, ge=1, le=16)
    gpu_memory_gb: float = Field(80.0, gt=0, le=4096)
    gpu_profile: str = "h100-80gb"
    backend: Backend = Backend.TRANSFER1
    code_dir: str = "."  # NVIDIA's repository checkout on that machine
    checkpoint_dir: str = "checkpoints"
    disable_guardrails: bool = False
    simulate: bool = False
    timeout_seconds: float | None = Field(None, gt=0)
    env: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _container_needs_image(self) -> HostConfig:
        if self.container != "none" and not self.image:
            raise ValueError(f"host {self.name!r}: container = {self.container!r} needs an image")
        if self.ssh is not None and not self.workdir:
            raise ValueError(f"host {self.name!r}: an ssh host needs a remote workdir")
        return self


class PlannerConfig(BaseModel):
    model_config = {"extra": "forbid"}

    mode: Literal["strict", "mixed", "auto"] = "auto"
    max_batch_size: int | None = Field(None, ge=1, le=10_000)
    max_gpu_batch_size: int | None = Field(None, ge=1, le=64)
    gpu_batching: bool = True
    # Auto (and continuous batching) may form batches whose outputs may differ from each run
    # alone (GPU batches, mixed control sets) that no stored verification covers.
    allow_output_changes: bool = False
    strict_fifo: bool = False
    continuous: bool = False
    lookahead: int = Field(defaults.CONTINUOUS_LOOKAHEAD, ge=1, le=10_000)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="COSMOS_", env_nested_delimiter="__", extra="forbid"
    )

    home: Path = Field(default_factory=default_home)
    database_url: str | None = None
    lease_seconds: float = Field(defaults.LEASE_SECONDS, ge=1, le=86_400)
    max_attempts: int = Field(defaults.MAX_ATTEMPTS, ge=1, le=100)
    # How long a worker rides out an unreachable database before it stops (exit code 1).
    database_outage_seconds: float = Field(defaults.DATABASE_OUTAGE_SECONDS, ge=1, le=86_400)
    # A worker prunes history older than this many days once a day (`cosmos prune`); None: never.
    retention_days: int | None = Field(None, ge=1, le=36_500)
    input_roots: list[Path] = Field(default_factory=list)
    api_token: str | None = Field(None, repr=False)
    planner: PlannerConfig = Field(default_factory=PlannerConfig)
    hosts: list[HostConfig] = Field(default_factory=list)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))

    @field_validator("hosts")
    @classmethod
    def _unique_host_names(cls, hosts: list[HostConfig]) -> list[HostConfig]:
        names = [h.name for h in hosts]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"host names must be unique; repeated: {', '.join(duplicates)}")
        return hosts

    @cached_property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'cosmos.db'}"

    @property
    def allowed_input_roots(self) -> list[Path]:
        """Input folders must lie under one of these (default: the home dir and COSMOS_HOME)."""
        roots = self.input_roots or [Path.home(), self.home]
        return [root.expanduser().resolve() for root in roots]

    @property
    def outputs_dir(self) -> Path:
        return self.home / "outputs"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def jobs_dir(self) -> Path:
        return self.home / "jobs"

    def host(self, name: str) -> HostConfig:
        for host in self.hosts:
            if host.name == name:
                return host
        known = ", ".join(h.name for h in self.hosts) or "none configured"
        raise ConfigError(f"unknown host {name!r}; hosts in cosmos.toml: {known}")


class _TomlSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self.path = default_config_path()

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        try:
            with self.path.open("rb") as handle:
                return tomllib.load(handle)
        except FileNotFoundError:
            raise ConfigError(f"config file {self.path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {self.path} is not valid TOML: {exc}") from None


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the configuration; a bad value raises ConfigError saying what to fix."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None
