"""`[[notify]]` in cosmos.toml: validated at start-up with a message that names the entry and
never repeats its URL or headers (they often hold a token)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosmos_workflow.config import load_settings
from cosmos_workflow.domain.errors import ConfigError

SECRET = "tk_SECRET123"


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cosmos.toml"
    monkeypatch.setenv("COSMOS_CONFIG", str(path))
    monkeypatch.setenv("COSMOS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("COSMOS_NOTIFY", raising=False)
    return path


def test_entries_load_with_their_defaults(config_file: Path) -> None:
    config_file.write_text(
        f"[[notify]]\nurl = 'https://ntfy.sh/cosmos-{SECRET}'\nformat = 'ntfy'\n"
        f"headers = {{ Authorization = 'Bearer {SECRET}' }}\n"
        "[[notify]]\nurl = 'http://chat.local:8065/hooks/abc'\nformat = 'slack'\n"
        "on = ['run_failed', 'job_finished', 'run_failed']\ntimeout_seconds = 3\n"
    )
    ntfy, slack = load_settings().notify
    assert ntfy.on == ["sweep_finished", "queue_drained"] and ntfy.timeout_seconds == 10
    assert ntfy.where == "https://ntfy.sh" and slack.where == "http://chat.local:8065"
    assert slack.on == ["run_failed", "job_finished"]  # a repeat counts once
    assert SECRET not in repr(load_settings())


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            f"url = 'ftp://ntfy.sh/{SECRET}'",
            "notify.1.url: expected an http:// or https:// URL, got scheme 'ftp'",
        ),
        (f"url = 'ntfy.sh/{SECRET}'", "notify.1.url: expected an http:// or https:// URL"),
        (f"url = 'https:///{SECRET}'", "notify.1.url: the URL names no host"),
        (f"url = 'https://ntfy.sh:99999/{SECRET}'", "notify.1.url: the URL does not parse"),
        (f"url = 'https://ntfy.sh/a b{SECRET}'", "notify.1.url: the URL contains a space"),
        ("format = 'ntfy'", "notify.1.url: required, but not set"),
        (
            f"url = 'https://ntfy.sh/{SECRET}'\nformat = 'xml'",
            "notify.1.format: expected one of 'json', 'ntfy' or 'slack', got 'xml'",
        ),
        (
            f"url = 'https://ntfy.sh/{SECRET}'\non = ['job_done']",
            "notify.1.on.0: expected one of 'run_failed', 'job_finished', 'sweep_finished' "
            "or 'queue_drained', got 'job_done'",
        ),
        (f"url = 'https://ntfy.sh/{SECRET}'\non = []", "notify.1.on: lists no event"),
        (
            f"url = 'https://ntfy.sh/{SECRET}'\ncolour = 'red'",
            "notify.1.colour: unknown key (known keys: format, headers, on, timeout_seconds, url)",
        ),
        (
            f'url = "https://ntfy.sh/x"\nheaders = {{ Authorization = "Bearer\\n{SECRET}" }}',
            "notify.1.headers: header Authorization: its value holds a line break",
        ),
        (
            f'url = "https://ntfy.sh/x"\nheaders = {{ "Bad Name" = "{SECRET}" }}',
            "notify.1.headers: header 'Bad Name': not a valid HTTP header name",
        ),
        (
            f"url = 'https://ntfy.sh/{SECRET}'\ntimeout_seconds = 0",
            "notify.1.timeout_seconds: expected a number > 0",
        ),
    ],
)
def test_a_bad_entry_is_refused_by_its_place_without_its_secrets(
    config_file: Path, entry: str, message: str
) -> None:
    config_file.write_text(f"[[notify]]\nurl = 'https://ntfy.sh/fine'\n[[notify]]\n{entry}\n")
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert f"{config_file}: {message}" in refused.value.message
    assert SECRET not in refused.value.message
