"""Run `cosmos` in-process through Typer's runner and parse its JSON."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from cosmos_workflow.cli.main import app

_runner = CliRunner()


def cosmos(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = _runner.invoke(app, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def cosmos_json(*args: str) -> Any:
    code, out, err = cosmos(*args, "--json")
    assert code == 0, f"cosmos {' '.join(args)} exited {code}: {err}{out}"
    return json.loads(out)
