from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosmos_workflow.domain.controls import (
    Control,
    effective_weights,
    parse_weights_text,
    validate_weights,
)
from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.domain.params import (
    Backend,
    Preset,
    default_params,
    params_from_dict,
    validate_params,
)


def test_defaults_follow_each_entry_point() -> None:
    t1 = validate_params({})
    assert (t1.backend, t1.steps, t1.guidance, t1.seed, t1.sigma_max, t1.fps) == (
        Backend.TRANSFER1,
        35,
        5.0,
        1,
        70.0,
        24,
    )
    t25 = validate_params({"backend": "transfer2.5"})
    assert (t25.guidance, t25.seed) == (3, 2025)
    assert isinstance(t25.guidance, int)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"steps": 0}, "steps"),
        ({"steps": "ten"}, "steps"),
        ({"steps": 2.5}, "steps"),
        ({"steps": True}, "steps"),
        ({"guidance": -1}, "guidance"),
        ({"guidance": float("nan")}, "guidance"),
        ({"backend": "transfer2.5", "guidance": 8}, "guidance"),
        ({"backend": "transfer2.5", "guidance": 3.5}, "guidance"),
        ({"sigma_max": 81}, "sigma_max"),
        ({"backend": "transfer2.5", "sigma_max": 201}, "sigma_max"),
        ({"seed": -1}, "seed"),
        ({"fps": 0}, "fps"),
        ({"blur": "extreme"}, "blur"),
        ({"canny": ""}, "canny"),
        ({"backend": "transfer3"}, "backend"),
        ({"colour": "red"}, "colour"),
        ({"distilled": "maybe"}, "distilled"),
    ],
)
def test_bad_parameters_name_their_field(raw: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_params(raw)
    assert info.value.field == field
    assert field in info.value.message


def test_transfer25_accepts_its_wider_sigma_range() -> None:
    assert validate_params({"backend": "transfer2.5", "sigma_max": 150}).sigma_max == 150.0


@pytest.mark.parametrize(
    "text",
    [
        "edge=1.5",
        "edge=-0.1",
        "edge=nan",
        "edge=inf",
        "fog=0.5",
        "edge",
        "edge=0",
        "edge=0.5,edge=0.2",
        "edge=x",
    ],
)
def test_bad_weights_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_weights_text(text)


def test_weights_parse_aliases_and_drop_zeros() -> None:
    assert parse_weights_text("segmentation=0.4, canny=0.6, vis=0") == {
        Control.SEG: 0.4,
        Control.EDGE: 0.6,
    }


@given(st.dictionaries(st.sampled_from(list(Control)), st.floats(0.01, 1.0), min_size=1))
def test_effective_weights_keep_requested_and_zero_the_rest(weights: dict[Control, float]) -> None:
    union = set(Control)
    effective = effective_weights(union, weights)
    for control in Control:
        expected = weights.get(control, 0.0)
        assert math.isclose(effective[control], expected)


def test_effective_weights_refuse_a_batch_lacking_a_control() -> None:
    with pytest.raises(ValueError, match="lacks"):
        effective_weights({Control.EDGE}, {Control.DEPTH: 0.5})


@given(st.sampled_from(list(Backend)), st.integers(1, 1000), st.sampled_from(list(Preset)))
def test_params_round_trip_through_storage(backend: Backend, steps: int, preset: Preset) -> None:
    params = validate_params({"backend": backend.value, "steps": steps, "blur": preset.value})
    assert params_from_dict(params.to_dict()) == params
    assert default_params(backend).backend is backend


def test_validate_weights_refuses_non_numbers() -> None:
    with pytest.raises(InvalidInput):
        validate_weights({"edge": [0.5]})
    with pytest.raises(InvalidInput):
        validate_weights({"edge": True})
