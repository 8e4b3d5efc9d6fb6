"""Log lines of both backends become typed events with the process's own timestamps."""

from __future__ import annotations

from datetime import datetime

from cosmos_workflow.backends import get_backend
from cosmos_workflow.backends.base import (
    FailureDetected,
    GuardrailBlocked,
    Progress,
    SamplingStarted,
    VideoSaved,
    split_log_line,
)
from cosmos_workflow.domain.params import Backend
from cosmos_workflow.domain.states import FailureClass

T1 = get_backend(Backend.TRANSFER1)
T25 = get_backend(Backend.TRANSFER2_5)


def test_timestamp_with_and_without_fractional_seconds() -> None:
    now = datetime(2026, 5, 2)
    plain = split_log_line("[05-01 10:00:00|INFO|a.py:1:f] hello", now)
    fractional = split_log_line("[05-01 10:00:01.250|INFO|a.py:1:f] hello", now)
    assert plain.at is not None and fractional.at is not None
    assert fractional.at - plain.at == 1.25
    assert plain.message == "hello" and plain.level == "INFO"
    assert plain.at == datetime(2026, 5, 1, 10).timestamp()


def test_a_date_after_now_belongs_to_last_year() -> None:
    parsed = split_log_line("[12-31 23:59:59|INFO|a.py:1:f] x", datetime(2026, 1, 1, 0, 5))
    assert parsed.at == datetime(2025, 12, 31, 23, 59, 59).timestamp()


def test_unprefixed_line_has_no_timestamp() -> None:
    assert split_log_line("Traceback (most recent call last):").at is None


def test_transfer1_events() -> None:
    stamp = "[05-01 10:00:00.500|INFO|transfer.py:1:demo]"
    started = T1.parse_line(f"{stamp} Running batch generation with batch_size=4")
    assert isinstance(started, SamplingStarted) and started.at is not None
    # Transfer1's only bar counts clips (world_generation_pipeline.py 558).
    assert T1.parse_line(" 66%|██████    | 2/3 [04:00<02:00, 120.00s/it]") == Progress(2, 3, 2)
    assert T1.parse_line("  0%|   | 0/3 [00:00<?]\r 33%|  | 1/3 [02:00<04:00]\n") == Progress(
        1, 3, 1
    )
    saved = T1.parse_line(f"{stamp} Saved video to /w/outputs/video_3/output.mp4")
    assert isinstance(saved, VideoSaved) and saved.path == "/w/outputs/video_3/output.mp4"
    text = T1.parse_line(f"{stamp} Input text prompt 2 is not safe")
    assert isinstance(text, GuardrailBlocked) and text.index == 2 and not text.whole_batch
    whole = T1.parse_line(f"{stamp} Guardrail blocked generation for entire batch.")
    assert isinstance(whole, GuardrailBlocked) and whole.whole_batch and whole.index is None
    oom = T1.parse_line("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1 GiB")
    assert isinstance(oom, FailureDetected) and oom.cls is FailureClass.OUT_OF_MEMORY
    assert T1.parse_line(f"{stamp} running preprocessor") is None


def test_transfer2_5_events() -> None:
    stamp = "[05-01 10:00:00|INFO|cosmos_transfer2/inference.py:167:generate]"
    started = T25.parse_line(f"{stamp} [1/2] Processing sample r1")
    assert isinstance(started, SamplingStarted) and started.at is not None
    assert T25.parse_line(f"{stamp} Generating sample r1") is None  # not NVIDIA's line
    success = "[05-01 10:09:00|SUCCESS|cosmos_transfer2/inference.py:343:_generate_sample]"
    saved = T25.parse_line(f"{success} Generated video saved to /w/outputs/r1.mp4")
    assert isinstance(saved, VideoSaved) and saved.path == "/w/outputs/r1.mp4"
    assert T25.parse_line(f"{stamp} Saved video to /w/outputs/r1.mp4") is None
    blocked = T25.parse_line(f"{stamp} Guardrail blocked generation. Prompt: x")
    assert isinstance(blocked, GuardrailBlocked)
    bad = T25.parse_line("1 validation error for InferenceArguments")
    assert isinstance(bad, FailureDetected) and bad.cls is FailureClass.BAD_INPUT
    duplicate = T25.parse_line("Error: Inference samplename r1 is not unique")
    assert isinstance(duplicate, FailureDetected) and duplicate.cls is FailureClass.BAD_INPUT
