"""Configuration: cosmos.toml plus COSMOS_* overrides, validated with messages that say what to
fix; the CLI stays light to start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cosmos_workflow.config import load_settings
from cosmos_workflow.domain.errors import ConfigError
from tests.cli.runner import cosmos


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cosmos.toml"
    monkeypatch.setenv("COSMOS_CONFIG", str(path))
    monkeypatch.setenv("COSMOS_HOME", str(tmp_path / "home"))
    for name in ("COSMOS_LEASE_SECONDS", "COSMOS_DATABASE_URL", "COSMOS_PLANNER__MODE"):
        monkeypatch.delenv(name, raising=False)
    return path


def test_file_values_and_environment_overrides(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_file.write_text(
        'lease_seconds = 30\n[planner]\nmode = "strict"\n'
        '[[hosts]]\nname = "gpu1"\ngpu_memory_gb = 141\ngpu_profile = "h200-141gb"\n'
    )
    settings = load_settings()
    assert settings.lease_seconds == 30 and settings.planner.mode == "strict"
    assert settings.host("gpu1").gpu_memory_gb == 141
    monkeypatch.setenv("COSMOS_LEASE_SECONDS", "12")
    monkeypatch.setenv("COSMOS_PLANNER__MODE", "mixed")
    settings = load_settings()
    assert settings.lease_seconds == 12 and settings.planner.mode == "mixed"
    assert settings.resolved_database_url.endswith("home/cosmos.db")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lease_seconds = = 3", "not valid TOML"),
        ("lease_seconds = -5", "lease_seconds"),
        ("colour = 'red'", "colour"),
        ("[planner]\nmode = 'fastest'", "planner.mode"),
        ("[[hosts]]\nname = 'a'\ncontainer = 'docker'", "needs an image"),
        ("[[hosts]]\nname = 'a'\nssh = 'me@box'", "remote workdir"),
        ("[[hosts]]\nname = 'a'\n[[hosts]]\nname = 'a'", "unique"),
        ("[[hosts]]\nname = 'a b'", "hosts.0.name"),
    ],
)
def test_bad_configuration_says_what_to_fix(config_file: Path, text: str, message: str) -> None:
    config_file.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings()
    code, _, err = cosmos("queue", "status")
    assert code == 2 and message in err
    if "not valid TOML" not in message:
        assert f"{config_file}: " in err  # names the file, then the key


def test_unknown_host_is_named(config_file: Path) -> None:
    config_file.write_text("[[hosts]]\nname = 'gpu1'\n")
    with pytest.raises(ConfigError, match=r"unknown host 'gpu2'.*gpu1"):
        load_settings().host("gpu2")


def test_the_cli_starts_without_heavy_imports() -> None:
    probe = (
        "import sys, cosmos_workflow.cli.main; "
        "print(sorted(m for m in ('gradio', 'sqlalchemy', 'fastapi', 'av', 'numpy', 'paramiko') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def _cosmos_process(
    tmp_path: Path, args: list[str], env: dict[str, str], config: str = ""
) -> subprocess.CompletedProcess[str]:
    """The real `cosmos` entry point in a child process, with a fresh home it should not create."""
    (tmp_path / "cosmos.toml").write_text(config)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("COSMOS_")}
    clean |= {"COSMOS_HOME": str(tmp_path / "home"), "COSMOS_CONFIG": str(tmp_path / "cosmos.toml")}
    return subprocess.run(
        [sys.executable, "-m", "cosmos_workflow.cli.main", *args],
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=60,  # a command that wrongly starts (serve, worker) fails here instead of hanging
        cwd=tmp_path,
    )


SERVE = ["serve", "--no-worker"]  # a server that wrongly starts fails on the timeout
WORKER = ["worker", "--once", "--simulate"]


@pytest.mark.parametrize(
    ("args", "env", "line"),
    [
        (
            ["queue", "list"],
            {"COSMOS_LEASE_SECONDS": "abc"},
            "error: COSMOS_LEASE_SECONDS: expected a number of seconds, got 'abc'",
        ),
        (
            WORKER,
            {"COSMOS_MAX_ATTEMPTS": "0"},
            "error: COSMOS_MAX_ATTEMPTS: expected a whole number >= 1, got '0'",
        ),
        (
            SERVE,
            {"COSMOS_PLANNER__MODE": "fastest"},
            "error: COSMOS_PLANNER__MODE: expected one of 'strict', 'mixed' or 'auto', "
            "got 'fastest'",
        ),
        (
            ["queue", "status"],
            {"COSMOS_HOSTS": json.dumps([{"name": "gpu1", "gpus": "two"}])},
            "error: COSMOS_HOSTS (0.gpus): expected a whole number (a GPU count) or a list of "
            "device ids, got 'two'",
        ),
        (
            WORKER,
            {"COSMOS_PLANNER": "{mode: strict}"},
            "error: COSMOS_PLANNER: expected JSON, which does not parse: Expecting property "
            "name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        (
            ["queue", "list"],
            {"COSMOS_INPUT_ROOTS": "[/data"},
            "error: COSMOS_INPUT_ROOTS: expected a JSON list of paths or paths separated by "
            f"{os.pathsep!r} (the JSON does not parse), got '[/data'",
        ),
        (
            SERVE,
            {"COSMOS_LOG_LEVEL": "loud"},
            "error: COSMOS_LOG_LEVEL: expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL, "
            "got 'loud'",
        ),
    ],
)
def test_a_bad_variable_is_one_line_and_exit_2_for_every_command(
    tmp_path: Path, args: list[str], env: dict[str, str], line: str
) -> None:
    result = _cosmos_process(tmp_path, args, env)
    assert (result.returncode, result.stderr) == (2, line + "\n")
    assert not (tmp_path / "home").exists()  # no database, no folders


@pytest.mark.parametrize(
    ("args", "config", "line"),
    [
        (
            SERVE,
            "colour = 'red'\n",
            "colour: unknown key (known keys: allowed_hosts, allowed_origins, api_token, "
            "database_outage_seconds, database_url, home, hosts, input_roots, lease_seconds, "
            "max_attempts, max_request_bytes, max_sweep_runs, notify, planner, retention_days, "
            "sim_time_scale, stop_grace_seconds)",
        ),
        (WORKER, "lease_seconds = 'soon'\n", "lease_seconds: expected a number of seconds"),
        (
            ["queue", "list"],
            "[[hosts]]\nname = 'gpu1'\nenv = {TOKEN = 12345}\n",
            "hosts.0.env.TOKEN: expected text",  # a value under env is never repeated
        ),
        (["queue", "list"], "[planner]\nmode = ", "is not valid TOML"),
    ],
)
def test_a_bad_file_names_the_file_and_the_key(
    tmp_path: Path, args: list[str], config: str, line: str
) -> None:
    result = _cosmos_process(tmp_path, args, {}, config)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and str(tmp_path / "cosmos.toml") in result.stderr
    assert line in result.stderr and "12345" not in result.stderr
    assert not (tmp_path / "home").exists()


@pytest.mark.parametrize(
    "value",
    [
        json.dumps(["/data/a", "/data/b c"]),
        os.pathsep.join(["/data/a", "/data/b c"]),
        os.pathsep.join(["/data/a", "", "/data/b c", ""]),  # empty entries, as PATH allows
    ],
)
def test_input_roots_take_a_json_list_or_a_path_list(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    config_file.write_text("")
    monkeypatch.setenv("COSMOS_INPUT_ROOTS", value)
    assert load_settings().input_roots == [Path("/data/a"), Path("/data/b c")]


def test_input_roots_refuse_a_list_that_is_not_of_paths(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_file.write_text("")
    monkeypatch.setenv("COSMOS_INPUT_ROOTS", json.dumps(["/data/a", 7]))
    with pytest.raises(ConfigError, match=r"^COSMOS_INPUT_ROOTS \(1\): expected a path, got 7$"):
        load_settings()
    config_file.write_text("input_roots = '/data/a'\n")  # the file may use the plain form too
    monkeypatch.delenv("COSMOS_INPUT_ROOTS")
    assert load_settings().input_roots == [Path("/data/a")]
