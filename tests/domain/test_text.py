"""The one text check: NUL, lone surrogates, length and one-line control characters refused,
ordinary text (any script, emoji, newlines in free text) accepted unchanged."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.domain.text import check_text, like_pattern

_STORABLE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=200,
)


@given(_STORABLE)
def test_storable_text_is_returned_unchanged(value: str) -> None:
    assert check_text(value, "prompt", max_chars=200) == value


@pytest.mark.parametrize(
    ("value", "one_line", "message"),
    [
        ("a\x00b", False, "NUL"),
        ("a\ud800b", False, "surrogate"),
        ("x" * 11, False, "limit is 10"),
        ("a\nb", True, "control character"),
        ("a\x1bb", True, "control character"),
    ],
)
def test_bad_text_is_refused_with_the_field_named(value: str, one_line: bool, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        check_text(value, "name", max_chars=10, one_line=one_line)
    assert caught.value.field == "name"


def test_free_text_keeps_newlines_and_tabs() -> None:
    assert check_text("line one\n\tline two", "prompt", max_chars=100) == "line one\n\tline two"


def test_like_pattern_matches_wildcards_literally() -> None:
    assert like_pattern("50%_off\\") == "%50\\%\\_off\\\\%"
