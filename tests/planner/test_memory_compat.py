from __future__ import annotations

import pytest

from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.params import Backend
from cosmos_workflow.planner import compat
from cosmos_workflow.planner.memory import max_gpu_batch_size, predict_memory_gb
from tests.planner.builders import queued_run

T1 = Backend.TRANSFER1
T25 = Backend.TRANSFER2_5
E, D, S, V = Control.EDGE, Control.DEPTH, Control.SEG, Control.VIS


def test_transfer2_5_single_control_matches_the_published_65_4_gb() -> None:
    assert predict_memory_gb(T25, {E}, 1, 93) == pytest.approx(65.4)


def test_memory_grows_with_branches_items_and_frames() -> None:
    one = predict_memory_gb(T1, {E}, 1, 121)
    assert predict_memory_gb(T1, {E, D}, 1, 121) > one
    assert predict_memory_gb(T1, {E}, 2, 121) > one
    assert predict_memory_gb(T1, {E}, 1, 600) > one
    # a single-control Transfer1 process fits the 80 GB H100 NVIDIA lists as supported hardware
    assert one <= 80.0


def test_max_gpu_batch_size_fits_the_memory_and_grows_with_it() -> None:
    sizes = [max_gpu_batch_size(T1, {E}, 121, gb) for gb in (80.0, 141.0, 192.0)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    for gb, size in zip((80.0, 141.0, 192.0), sizes, strict=True):
        assert predict_memory_gb(T1, {E}, size, 121) <= gb
        assert predict_memory_gb(T1, {E}, size + 1, 121) > gb


def test_more_controls_never_allow_a_larger_gpu_batch() -> None:
    one = max_gpu_batch_size(T1, {E}, 121, 141.0)
    four = max_gpu_batch_size(T1, {E, D, S, V}, 121, 141.0)
    assert four <= one


def test_cap_and_learned_limit_win_and_the_answer_is_at_least_one() -> None:
    assert max_gpu_batch_size(T1, {E}, 121, 192.0, cap=2) == 2
    assert max_gpu_batch_size(T1, {E}, 121, 192.0, learned_limit=3) == 3
    assert max_gpu_batch_size(T1, {E}, 121, 192.0, cap=5, learned_limit=2) == 2
    assert max_gpu_batch_size(T1, {E}, 121, 24.0) == 1
    assert max_gpu_batch_size(T25, {E}, 93, 192.0) == 1


@pytest.mark.parametrize(
    ("size", "bucket"),
    [
        ((1280, 704), "16:9"),
        ((1920, 1080), "16:9"),
        ((960, 960), "1:1"),
        ((640, 480), "4:3"),
        ((704, 1280), "9:16"),
        ((480, 640), "3:4"),
        ((1000, 1000), "1:1"),
    ],
)
def test_aspect_bucket_is_the_nearest_ratio(size: tuple[int, int], bucket: str) -> None:
    assert compat.aspect_bucket(*size) == bucket


def test_transfer1_process_globals_must_match() -> None:
    a = queued_run("a", "j1")
    assert compat.can_share([a, queued_run("b", "j2", weights={D: 0.3})])
    assert not compat.can_share([a, queued_run("b", "j2", seed=7)])
    assert not compat.can_share([a, queued_run("b", "j2", steps=20)])
    assert not compat.can_share([a, queued_run("b", "j2", negative="other")])
    assert not compat.can_share([a, queued_run("b", "j2", priority=1)])
    assert not compat.can_share([a, queued_run("b", "j2", backend=T25)])


def test_transfer2_5_sampling_parameters_are_per_sample() -> None:
    a = queued_run("a", "j1", backend=T25)
    assert compat.can_share([a, queued_run("b", "j2", backend=T25, seed=7, steps=20, negative="x")])
    assert not compat.can_share([a, queued_run("b", "j2", backend=T25, distilled=True)])


def test_gpu_batch_needs_equal_frames_bucket_and_control_set() -> None:
    a = queued_run("a", "j")
    assert compat.valid_gpu_batch([a, queued_run("b", "j", weights={E: 0.9})])
    assert not compat.valid_gpu_batch([a, queued_run("b", "j", frames=241)])
    assert not compat.valid_gpu_batch([a, queued_run("b", "j", size=(960, 960))])
    assert not compat.valid_gpu_batch([a, queued_run("b", "j", weights={E: 0.5, D: 0.5})])
    assert not compat.valid_gpu_batch([queued_run("a", "j", backend=T25)] * 2)
