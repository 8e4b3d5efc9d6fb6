"""Text that the product stores or passes on: the one check every surface (CLI, JSONL import,
API, UI, configuration) applies to user text before it reaches the database or a process.

Refused: a NUL (PostgreSQL cannot store it and `Popen` cannot pass it), a lone UTF-16 surrogate
(not encodable as UTF-8, so neither storable nor printable), and text past its kind's length
limit. Control characters other than tab and newline are refused in one-line fields (names,
keys, paths), where they can only be a mistake or an attack on a terminal."""

from __future__ import annotations

import re

from cosmos_workflow.domain.errors import InvalidInput

# Length limits, in characters. Prompts are long free text (NVIDIA's text encoders truncate far
# below this; the limit only stops abuse); names and keys are one line.
MAX_PROMPT_CHARS = 20_000
MAX_NAME_CHARS = 200
MAX_KEY_CHARS = 200
MAX_SEARCH_CHARS = 500
MAX_PATH_CHARS = 4096

_SURROGATE = re.compile("[\ud800-\udfff]")
_ONE_LINE_CONTROL = re.compile("[\x00-\x1f\x7f]")


def check_text(value: str, field: str, *, max_chars: int, one_line: bool = False) -> str:
    """`value` when it is storable text within `max_chars`; InvalidInput naming `field` else."""
    if "\x00" in value:
        raise InvalidInput(f"{field} contains a NUL character", field=field)
    if _SURROGATE.search(value):
        raise InvalidInput(f"{field} contains an unpaired surrogate (not valid UTF-8)", field=field)
    if len(value) > max_chars:
        raise InvalidInput(
            f"{field} is {len(value)} characters; the limit is {max_chars}", field=field
        )
    if one_line and _ONE_LINE_CONTROL.search(value):
        raise InvalidInput(f"{field} contains a control character", field=field)
    return value


def like_pattern(term: str) -> str:
    """A LIKE pattern matching `term` anywhere, with `%`, `_` and the escape character itself
    matched literally (use with `escape="\\\\"`)."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def check_line(value: str, field: str, *, max_chars: int = MAX_KEY_CHARS) -> str:
    """`check_text` for one-line values: names, keys, ids and path segments."""
    return check_text(value, field, max_chars=max_chars, one_line=True)


def check_path(value: object, field: str) -> str:
    """A user-given path as text, checked before it reaches the file system or the database
    (a NUL there makes `os.stat` raise ValueError rather than OSError)."""
    return check_line(str(value), field, max_chars=MAX_PATH_CHARS)


def shown(value: object, limit: int = 80) -> str:
    """`repr(value)` cut to `limit` characters, so an echo of bad input stays one short line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
