"""Every `cosmos` command written in README.md exists and its options parse. (What they do is
exercised by the CLI, service and end-to-end tests.)"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
import typer

from cosmos_workflow.cli.main import app

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
    commands = []
    for block in blocks:
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            line = re.sub(r"^COSMOS_HOME=\S+ ", "", line)
            if "&& cosmos " in line:
                line = "cosmos " + line.split("&& cosmos ", 1)[1]
            if line.startswith("cosmos "):
                commands.append(line)
    return commands


COMMANDS = _readme_commands()


def test_the_readme_shows_the_commands() -> None:
    assert len(COMMANDS) >= 20
    assert "cosmos demo" in COMMANDS


@pytest.mark.parametrize("line", COMMANDS)
def test_readme_command_parses(line: str) -> None:
    args = shlex.split(line)[1:]
    group: click.Command = typer.main.get_command(app)
    path = ["cosmos"]
    while isinstance(group, click.Group) and args and not args[0].startswith("-"):
        name = args.pop(0)
        command = group.get_command(click.Context(group), name)
        assert command is not None, f"{' '.join(path)} has no command {name!r} ({line})"
        path.append(name)
        group = command
    assert not isinstance(group, click.Group), f"{line} names a group, not a command"
    group.make_context(" ".join(path), list(args), resilient_parsing=False)
