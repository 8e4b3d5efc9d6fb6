"""Configuration: cosmos.toml plus COSMOS_* overrides, validated with messages that say what to
fix; the CLI stays light to start."""

from __future__ import annotations

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
