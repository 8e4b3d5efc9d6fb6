"""Identifiers: short, prefixed, sortable by creation time, safe in file names and shells."""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, rest = divmod(number, 36)
        digits.append(_ALPHABET[rest])
    return "".join(reversed(digits))


def new_id(prefix: str) -> str:
    """`<prefix>_` + 9 time characters (ms) + 7 random characters, e.g. `run_0lq3x8k2ma9f3k2x1`."""
    stamp = _base36(int(time.time() * 1000), 9)
    noise = _base36(int.from_bytes(os.urandom(5), "big"), 7)
    return f"{prefix}_{stamp}{noise}"


SAFE_ID_CHARS = frozenset(_ALPHABET + "_")


def is_safe_id(value: str) -> bool:
    return bool(value) and len(value) <= 64 and set(value) <= SAFE_ID_CHARS
