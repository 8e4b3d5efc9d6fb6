"""What a backend needs from a run's input, checked when the run is queued.

Only the database knows a prompt's input (its RGB video and its control videos): these checks
read the sources `queue.require_prompts` looked up inside the enqueue transaction, before
anything is written, so a refusal changes nothing.
Cosmos 3 (NVIDIA/cosmos-framework at 5eee9ed, docs/contracts.md) fails on these after loading
its model, or worse:

- depth, seg and wsm have no on-the-fly computation: without a control video the generation
  raises FileNotFoundError outside any try (inference/transfer.py L116-119) and the whole
  process dies. Only edge (Canny) and blur (our vis) are computed from the RGB video; an input's
  own `vis` control video is given to Cosmos 3 as its `blur` control video.
- the RGB video is its `vision_path`, which must be .mp4 (common/args.py VIDEO_EXTENSIONS,
  "Invalid vision extension").
- with a `vision_path` the output is written at the source video's rate (transfer.py L437): a
  different `fps` would not be rendered, so it is refused rather than silently ignored."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cosmos_workflow.backends.cosmos3 import ON_THE_FLY, VISION_SUFFIX
from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.domain.params import Backend, JobKind
from cosmos_workflow.store.models import InputRow
from cosmos_workflow.store.runs import RunSource

if TYPE_CHECKING:
    from cosmos_workflow.services.queue import JobRequest


def check_inputs(sources: Mapping[str, RunSource], requests: Sequence[JobRequest]) -> None:
    """Refuse a request whose backend cannot render one of its prompts' inputs as asked, naming
    the prompt and the input. `sources`: every prompt's, as `require_prompts` returns them."""
    for request in (r for r in requests if _is_cosmos3(r)):
        for prompt_id in request.prompt_ids:
            source = sources[prompt_id].input
            check_cosmos3_input(prompt_id, source, request.weights, request.params)


def _is_cosmos3(request: JobRequest) -> bool:
    return request.kind is JobKind.INFERENCE and request.params["backend"] == Backend.COSMOS3.value


def check_cosmos3_input(
    prompt_id: str, row: InputRow, weights: Mapping[Control, float], params: Mapping[str, Any]
) -> None:
    """What Cosmos 3 would refuse or crash on for this prompt's input (see the module's text)."""
    where = f"prompt {prompt_id} (input {row.name!r})"
    for control in sorted(weights, key=lambda c: c.value):
        if control not in ON_THE_FLY and control.value not in row.controls:
            raise InvalidInput(
                f"{where} has no {control.value} control video, and Cosmos 3 computes only "
                f"edge and blur (vis) from the RGB video; add {control.value}.mp4 to the input's "
                f"folder and register it again, or leave {control.value} out",
                field="weights",
            )
    suffix = Path(row.video_path).suffix
    if suffix.lower() != VISION_SUFFIX:
        raise InvalidInput(
            f"{where}: Cosmos 3 reads only .mp4 input videos, and "
            f"{Path(row.video_path).name} is {suffix or 'without an extension'}; convert it "
            "to .mp4 and register the input again",
            field="backend",
        )
    fps = params.get("fps")
    source_fps = round(row.fps)
    if fps is not None and int(fps) != source_fps:
        raise InvalidInput(
            f"{where}: fps {fps} differs from the input video's {source_fps} fps; Cosmos 3 "
            f"writes its output at the input video's rate, so give fps {source_fps} or leave "
            "fps out",
            field="fps",
        )
