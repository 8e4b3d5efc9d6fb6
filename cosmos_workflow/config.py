"""Configuration: `cosmos.toml` plus `COSMOS_*` environment overrides, validated at start-up.

Lookup: `COSMOS_CONFIG` if set, else `cosmos.toml` in the working directory, else `cosmos.toml`
in the user config directory. Environment variables win over the file; nested settings use a
double underscore (`COSMOS_PLANNER__MODE=strict`)."""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from cosmos_workflow import defaults
from cosmos_workflow.domain.errors import ConfigError
from cosmos_workflow.domain.params import Backend
from cosmos_workflow.simulator.runtime import DEFAULT_TIME_SCALE, MAX_TIME_SCALE

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


# A variable name every shell, `env` and container runtime reads alike; anything else (a space,
# `=`, a NUL) would fail only when a job runs.
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# scheme://rest, as SQLAlchemy parses it; the database itself is checked when it is opened.
_DATABASE_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+]*://")


MAX_GPUS_PER_HOST = 64
MAX_DEVICE_ID = 1023


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _no_nul(value: Any, what: str) -> Any:
    if "\x00" in str(value):
        raise ValueError(f"{what} contains a NUL character")
    return value


class HostConfig(BaseModel):
    """One GPU machine a worker can run on: the local machine or a remote one over SSH. Its GPUs
    (`gpus`: a count, meaning devices 0..N-1, or a list of device ids) are cut into slots of
    `gpus_per_job` devices each; a worker runs one job per slot at once, pinned to its devices."""

    # NaN passes no bound check of its own (every comparison is false): refused as not finite.
    model_config = {"extra": "forbid", "allow_inf_nan": False}

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    ssh: str | None = None  # "user@host" or "host"; None = this machine
    ssh_port: int = Field(22, ge=1, le=65535)
    ssh_key: Path | None = None
    known_hosts: Path | None = None
    accept_new_host_keys: bool = False
    workdir: str | None = None  # per-job directories go under it (remote path for ssh)
    container: Literal["none", "docker", "podman"] = "none"
    image: str | None = None
    gpus: int | list[int] = 1
    gpus_per_job: int = Field(1, ge=1, le=MAX_GPUS_PER_HOST)
    gpu_memory_gb: float = Field(80.0, gt=0, le=4096)
    gpu_profile: str = "h100-80gb"
    backend: Backend = Backend.TRANSFER1
    code_dir: str = "."  # NVIDIA's repository checkout on that machine
    checkpoint_dir: str = "checkpoints"
    disable_guardrails: bool = False
    simulate: bool = False
    timeout_seconds: float | None = Field(None, gt=0)
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("env")
    @classmethod
    def _environment_names(cls, env: dict[str, str]) -> dict[str, str]:
        for key, value in env.items():
            if not _ENV_NAME.match(key):
                raise ValueError(
                    f"env key {key!r}: invalid environment variable name (letters, "
                    "digits and _, not starting with a digit)"
                )
            _no_nul(value, f"env value of {key}")
        return env

    @field_validator("gpus", mode="before")
    @classmethod
    def _gpu_devices(cls, gpus: Any) -> int | list[int]:
        """A count (devices 0..N-1) or a list of distinct device ids; checked here so that a
        bad value gets one message rather than one per member of the union."""
        if _whole(gpus):
            if not 1 <= gpus <= MAX_GPUS_PER_HOST:
                raise ValueError(f"expected a GPU count from 1 to {MAX_GPUS_PER_HOST}, got {gpus}")
            return int(gpus)
        if not isinstance(gpus, list) or not all(_whole(device) for device in gpus):
            raise ValueError(
                f"expected a whole number (a GPU count) or a list of device ids, got {_short(gpus)}"
            )
        if not gpus or len(gpus) > MAX_GPUS_PER_HOST:
            raise ValueError(f"a device list holds 1 to {MAX_GPUS_PER_HOST} device ids")
        if any(not 0 <= device <= MAX_DEVICE_ID for device in gpus):
            raise ValueError(f"device ids are whole numbers from 0 to {MAX_DEVICE_ID}")
        if len(set(gpus)) != len(gpus):
            raise ValueError(f"device ids repeat in {gpus}")
        return [int(device) for device in gpus]

    @property
    def devices(self) -> tuple[int, ...]:
        """The host's GPU device ids, in the order slots take them."""
        return tuple(range(self.gpus)) if isinstance(self.gpus, int) else tuple(self.gpus)

    @property
    def slot_devices(self) -> list[tuple[int, ...]]:
        """Each slot's devices: consecutive runs of `gpus_per_job` of the host's devices."""
        devices, size = self.devices, self.gpus_per_job
        return [devices[start : start + size] for start in range(0, len(devices), size)]

    @model_validator(mode="after")
    def _slots_fill_the_host(self) -> HostConfig:
        count = len(self.devices)
        if count % self.gpus_per_job:
            raise ValueError(
                f"host {self.name!r}: its {count} GPU(s) do not divide into jobs of "
                f"gpus_per_job = {self.gpus_per_job}; list the devices to use (gpus = [0, 1, ...])"
            )
        return self

    @model_validator(mode="after")
    def _container_needs_image(self) -> HostConfig:
        if self.container != "none" and not self.image:
            raise ValueError(f"host {self.name!r}: container = {self.container!r} needs an image")
        if self.ssh is not None and not self.workdir:
            raise ValueError(f"host {self.name!r}: an ssh host needs a remote workdir")
        return self


class PlannerConfig(BaseModel):
    model_config = {"extra": "forbid", "allow_inf_nan": False}

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


NotifyEvent = Literal["run_failed", "job_finished", "sweep_finished", "queue_drained"]
# What a target hears of when its entry lists no events: the ends a person waits for (a whole
# sweep, the whole queue), one message each. Every job's end and every failed run are asked for
# by name: a sweep of hundreds of runs would otherwise send hundreds of messages.
DEFAULT_NOTIFY_EVENTS: tuple[NotifyEvent, ...] = ("sweep_finished", "queue_drained")
# An HTTP header name (RFC 9110 token); a value with a line break would inject a header.
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")


class NotifyConfig(BaseModel):
    """One place to tell when work ends (`[[notify]]`): an http(s) URL that gets a POST for
    each of the events in `on`, in `format`: `json` (the product's own JSON), `ntfy` (ntfy's
    publish format: plain text with Title, Tags and Priority headers) or `slack` (an incoming
    webhook's `{"text": ...}`, which Mattermost and Discord's Slack-compatible URL also take).
    The URL and `headers` (for auth) are secrets: never logged, printed or echoed in an error;
    logs name the target by its scheme and host only."""

    model_config = {"extra": "forbid", "allow_inf_nan": False}

    url: str = Field(repr=False)
    on: list[NotifyEvent] = Field(default_factory=lambda: list(DEFAULT_NOTIFY_EVENTS))
    format: Literal["json", "ntfy", "slack"] = "json"
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    timeout_seconds: float = Field(10.0, gt=0, le=300)

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        # Only the scheme is ever repeated: the rest may hold a token.
        if any(ord(char) < 33 or ord(char) == 127 for char in url):
            raise ValueError("the URL contains a space or a control character")
        try:
            parts = urlsplit(url)
            host, _port = parts.hostname, parts.port  # a port past 65535 or not a number raises
        except ValueError:
            raise ValueError("the URL does not parse (check its host and port)") from None
        if parts.scheme.lower() not in ("http", "https"):
            shown = f"{parts.scheme!r}" if parts.scheme else "none"
            raise ValueError(f"expected an http:// or https:// URL, got scheme {shown}")
        if not host:
            raise ValueError("the URL names no host (expected http(s)://host/...)")
        return url

    @field_validator("on")
    @classmethod
    def _some_events(cls, events: list[NotifyEvent]) -> list[NotifyEvent]:
        if not events:
            raise ValueError("lists no event; name at least one or remove the entry")
        return list(dict.fromkeys(events))

    @field_validator("headers")
    @classmethod
    def _header_lines(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"header {name[:40]!r}: not a valid HTTP header name")
            # The value is never repeated (a token); HTTP carries printable ASCII and tabs.
            if not all(char == "\t" or " " <= char <= "~" for char in value):
                raise ValueError(
                    f"header {name}: its value holds a line break, a control character or "
                    "a character outside ASCII"
                )
        return headers

    @property
    def where(self) -> str:
        """The target as logs name it: scheme and host (and port), never the path or query."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme.lower()}://{host}{port}"


# The web server's limits (api/ enforces them): a token shorter than this is refused at start,
# and a request body past this many bytes (8 MiB: a bulk import of thousands of jobs fits; the
# UI uploads nothing) is refused unread.
MIN_TOKEN_CHARS = 16
MAX_REQUEST_BYTES = 8 * 1024 * 1024
_HOST_NAME = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]{1,253}|[0-9A-Fa-f:.]+)$")
_ORIGIN = re.compile(r"^https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]{1,253})(:[0-9]{1,5})?/?$")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="COSMOS_", env_nested_delimiter="__", extra="forbid", allow_inf_nan=False
    )

    home: Path = Field(default_factory=default_home)
    database_url: str | None = None
    lease_seconds: float = Field(defaults.LEASE_SECONDS, ge=1, le=86_400)
    max_attempts: int = Field(defaults.MAX_ATTEMPTS, ge=1, le=100)
    # How long a worker rides out an unreachable database before it stops (exit code 1).
    database_outage_seconds: float = Field(defaults.DATABASE_OUTAGE_SECONDS, ge=1, le=86_400)
    # On SIGTERM or SIGINT a worker lets its running job finish this long, then ends its process
    # and gives the job back to the queue without charging an attempt.
    stop_grace_seconds: float = Field(defaults.STOP_GRACE_SECONDS, ge=0, le=86_400)
    # A worker prunes history older than this many days once a day (`cosmos prune`); None: never.
    retention_days: int | None = Field(None, ge=1, le=36_500)
    # A sweep with more runs than this is refused unless confirmed (`cosmos sweep --yes`): a
    # typo in an axis can otherwise queue days of GPU time.
    max_sweep_runs: int = Field(defaults.MAX_SWEEP_RUNS, ge=1, le=100_000)
    # Real seconds per simulated GPU second on every simulated host (COSMOS_SIM_TIME_SCALE, its
    # variable, is also read by the simulator itself): fast by default, 1 plays in real time.
    # Recorded timings stay in simulated GPU seconds whatever the scale (worker/timings.py).
    sim_time_scale: float = Field(DEFAULT_TIME_SCALE, ge=0, le=MAX_TIME_SCALE)
    # A JSON list or a plain path list (`/data/a:/data/b`, `;` on Windows), like PATH.
    input_roots: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    api_token: str | None = Field(None, repr=False)
    # The web server answers only requests whose Host header names it: the address it listens
    # on (and localhost's names on loopback) plus these names, e.g. behind a reverse proxy. A
    # JSON list or names separated by commas. Anything else is refused (DNS rebinding).
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Origins (scheme://host[:port]) besides the server's own that may send requests that change
    # something, e.g. the public https origin of a TLS proxy. JSON list or comma-separated.
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The largest request body the web server reads; a larger one answers 413 unread.
    max_request_bytes: int = Field(MAX_REQUEST_BYTES, ge=1024, le=2**31 - 1)
    planner: PlannerConfig = Field(default_factory=PlannerConfig)
    hosts: list[HostConfig] = Field(default_factory=list)
    # Where to say that work ended (`[[notify]]`); worker processes send (cosmos_workflow/notify).
    notify: list[NotifyConfig] = Field(default_factory=list)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, _EnvSource(settings_cls), _TomlSource(settings_cls))

    @field_validator("input_roots", mode="before")
    @classmethod
    def _split_path_list(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if value.lstrip().startswith("["):
            try:
                return json.loads(value)
            except ValueError:
                raise ValueError(
                    f"expected a JSON list of paths or paths separated by {os.pathsep!r} "
                    f"(the JSON does not parse), got {value!r}"
                ) from None
        return [part for part in value.split(os.pathsep) if part.strip()]

    @field_validator("database_url")
    @classmethod
    def _database_url_shape(cls, url: str | None) -> str | None:
        # The URL is never echoed: it may hold a password.
        if url is not None:
            _no_nul(url, "the database URL")
            if not _DATABASE_URL.match(url):
                raise ValueError(
                    "expected a database URL like sqlite:///path/cosmos.db or "
                    "postgresql://user@host/db"
                )
        return url

    @field_validator("home")
    @classmethod
    def _home_text(cls, home: Path) -> Path:
        return _no_nul(home, "the home path")  # type: ignore[no-any-return]

    @field_validator("input_roots")
    @classmethod
    def _roots_text(cls, roots: list[Path]) -> list[Path]:
        for root in roots:
            _no_nul(root, f"input root {str(root)!r}")
        return roots

    @field_validator("api_token")
    @classmethod
    def _strong_token(cls, token: str | None) -> str | None:
        # The value is never echoed: it is a secret. An empty one (`COSMOS_API_TOKEN=`) is unset.
        if not token:
            return None
        if len(token) < MIN_TOKEN_CHARS:
            raise ValueError(
                f"the token must be at least {MIN_TOKEN_CHARS} characters (a random string, e.g. "
                "from `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
        return token

    @field_validator("allowed_hosts", "allowed_origins", mode="before")
    @classmethod
    def _split_name_list(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if value.lstrip().startswith("["):
            try:
                return json.loads(value)
            except ValueError:
                raise ValueError(
                    "expected a JSON list or names separated by commas (the JSON does not parse)"
                ) from None
        return [part.strip() for part in value.split(",") if part.strip()]

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not _HOST_NAME.match(name):
                raise ValueError(
                    f"{name!r} is not a host name (a name or address, without scheme, port or path)"
                )
        return [name.strip("[]").lower() for name in names]

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if not _ORIGIN.match(origin):
                raise ValueError(
                    f"{origin!r} is not an origin (scheme://host or scheme://host:port, no path)"
                )
        return [origin.rstrip("/").lower() for origin in origins]

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


class _EnvSource(EnvSettingsSource):
    """`COSMOS_*` variables; a JSON value that does not parse is reported by its variable."""

    def prepare_field_value(
        self, field_name: str, field: FieldInfo, value: Any, value_is_complex: bool
    ) -> Any:
        try:
            return super().prepare_field_value(field_name, field, value, value_is_complex)
        except ValueError as exc:
            name = f"{self.env_prefix}{field_name}".upper()
            raise ConfigError(f"{name}: expected JSON, which does not parse: {exc}") from None


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
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {self.path} is not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"config file {self.path} cannot be read: {exc.strerror}") from None


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the configuration; a bad value raises ConfigError, one line that names
    each bad key where it was set (the `COSMOS_*` variable or cosmos.toml) and what it takes."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        where = _Origins(overrides, default_config_path(), os.environ)
        problems = "; ".join(_problem(err, where) for err in exc.errors())
        raise ConfigError(" ".join(problems.split())) from None


class _Origins:
    """Says where a setting came from: an override, a `COSMOS_*` variable, or the file."""

    def __init__(
        self, overrides: Mapping[str, Any], path: Path | None, environ: Mapping[str, str]
    ) -> None:
        self.overrides = overrides
        self.path = path
        self.variables = {name.upper() for name in environ}  # names are case-insensitive

    def of(self, loc: Sequence[int | str]) -> str:
        dotted = ".".join(str(part) for part in loc) or "config"
        keys = [str(part) for part in _leading_keys(loc)]
        if keys and keys[0] in self.overrides:
            return dotted
        for depth in range(len(keys), 0, -1):
            variable = "COSMOS_" + "__".join(keys[:depth]).upper()
            if variable in self.variables:
                inner = ".".join(str(part) for part in loc[depth:])
                return f"{variable} ({inner})" if inner else variable
        return f"{self.path}: {dotted}" if self.path else dotted


def _leading_keys(loc: Sequence[int | str]) -> list[str]:
    """The names before the first list index: `hosts.0.name` is set as a whole by COSMOS_HOSTS."""
    keys: list[str] = []
    for part in loc:
        if not isinstance(part, str):
            break
        keys.append(part)
    return keys


# Values never repeated in an error message: they may hold a password or a token.
_SECRET_KEYS = frozenset({"api_token", "database_url", "env", "url", "headers"})

_FORMS = {
    "float_parsing": "a number",
    "float_type": "a number",
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "finite_number": "a finite number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "text",
    "path_type": "a path",
    "list_type": "a list",
    "dict_type": "a table of keys and values",
    "model_type": "a table of keys and values",
    "model_attributes_type": "a table of keys and values",
}

_BOUNDS = {
    "greater_than_equal": ("ge", ">="),
    "greater_than": ("gt", ">"),
    "less_than_equal": ("le", "<="),
    "less_than": ("lt", "<"),
}


def _problem(err: ErrorDetails, where: _Origins) -> str:
    loc = err["loc"]
    place = where.of(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        known = _known_keys(loc[:-1])
        return f"{place}: unknown key" + (f" (known keys: {', '.join(known)})" if known else "")
    if kind == "missing":
        return f"{place}: required, but not set"
    if kind in ("value_error", "assertion_error"):
        return f"{place}: {err['msg'].removeprefix('Value error, ')}"
    value = err.get("input")
    shown = isinstance(value, str | int | float) and not _SECRET_KEYS.intersection(map(str, loc))
    got = f", got {_short(value)}" if shown else ""
    return f"{place}: expected {_form(err)}{got}"


def _form(err: ErrorDetails) -> str:
    kind, ctx = err["type"], err.get("ctx", {})
    keys = _leading_keys(err["loc"])
    name = keys[-1] if keys else ""
    unit = (
        " of seconds" if name.endswith("_seconds") else " of days" if name.endswith("_days") else ""
    )
    if kind in _BOUNDS:
        key, sign = _BOUNDS[kind]
        number = "a whole number" if _is_int(err["loc"]) else "a number"
        return f"{number}{unit} {sign} {ctx[key]:g}"
    if kind in ("literal_error", "enum"):
        return f"one of {ctx['expected']}"
    if kind == "string_pattern_mismatch":
        return f"text matching {ctx['pattern']}"
    form = _FORMS.get(kind)
    if form is None:
        return err["msg"]
    return form + unit if form.startswith(("a number", "a whole number")) else form


def _model_at(parent: Sequence[int | str]) -> type[BaseModel] | None:
    models: dict[tuple[str, ...], type[BaseModel]] = {
        (): Settings,
        ("planner",): PlannerConfig,
        ("hosts",): HostConfig,
        ("notify",): NotifyConfig,
    }
    return models.get(tuple(_leading_keys(parent)))


def _known_keys(parent: Sequence[int | str]) -> list[str]:
    model = _model_at(parent)
    return sorted(model.model_fields) if model is not None else []


def _is_int(loc: Sequence[int | str]) -> bool:
    model = _model_at(loc[:-1])
    field = model.model_fields.get(str(loc[-1])) if model is not None and loc else None
    return field is not None and field.annotation in (int, int | None)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
