"""Small, playable output videos: the input downscaled, tinted by its control mix, stamped, and
marked by what the real model's output is a function of.

A real output depends on the initial noise the item receives, on its conditioning (prompts,
effective control weights, guidance, steps) and on the model. A simulated output depends on
exactly these through `Render`: a seeded noise field drawn the way NVIDIA draws it, and a field
derived from a digest of the conditioning and the model identity. Both are small amplitude, so the
video still shows the input. The same inputs give bit-for-bit the same file; the render identity
is also written as JSON into the mp4's `comment` tag, so a test or a comparison tool can read
what an output was rendered from (for example the negative prompt that was effectively used).

Noise, as NVIDIA derives it: Transfer1 draws one stream for the whole [B, ...] batch tensor from
a generator seeded with seed + i_clip (cosmos_transfer1/diffusion/model/model_ctrl.py 139-141
`get_x_from_clean`; utils/misc.py 181-184 `arch_invariant_rand`; world_generation_pipeline.py
576, 623). The item at batch position p gets the p-th slice of that stream: position 0 gets what
the item gets alone, later positions do not. Transfer2.5 draws one noise per sample (n_sample=1)
from a seed chained per chunk (_src/transfer2/inference/inference_pipeline.py 638-651).

PyAV and Pillow are imported here only, so refusals and log output start fast."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

MAX_WIDTH = 256
TINT_STRENGTH = 0.35
NOISE_AMPLITUDE = 10.0
CONDITIONING_AMPLITUDE = 6.0
NOISE_CELL = 8  # pixels per noise value: the latent is 8x smaller than the frame
# One colour per control so a glance tells which controls shaped a simulated output.
CONTROL_COLOURS: dict[str, tuple[int, int, int]] = {
    "vis": (200, 200, 200),
    "edge": (255, 140, 0),
    "depth": (40, 90, 255),
    "seg": (40, 200, 80),
    "upscale": (200, 60, 200),
}


@dataclass(frozen=True, slots=True)
class VideoFacts:
    frames: int
    fps: float
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Render:
    """What one generated video is a function of.

    `noise` holds, per clip (Transfer1) or chunk (Transfer2.5), the seed of the noise stream and
    the item's position in the batch tensor drawn from it. `clip_frames` is (frames of the first
    clip, new frames of each later clip): later clips overlap the previous one."""

    model: str
    noise: tuple[tuple[int, int], ...]
    clip_frames: tuple[int, int]
    conditioning: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "noise": [list(entry) for entry in self.noise],
            "conditioning": dict(self.conditioning),
        }

    def digest(self) -> int:
        """A seed from the model and the conditioning, stable across processes."""
        text = json.dumps({"model": self.model, **self.conditioning}, sort_keys=True)
        return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16)

    def clip_of(self, frame: int) -> int:
        first, later = self.clip_frames
        index = 0 if frame < first else 1 + (frame - first) // max(1, later)
        return min(index, len(self.noise) - 1)


def probe(path: Path) -> VideoFacts:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = stream.frames or sum(1 for _ in container.decode(stream))
        fps = float(stream.average_rate or 24)
        return VideoFacts(frames, fps, stream.width, stream.height)


def file_digest(path: str | Path | None) -> str | None:
    """What a control video contributes is its content, not where it was staged: the same
    file copied into two work directories conditions a render the same way."""
    if not path:
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def read_comment(path: Path) -> dict[str, Any]:
    """The render identity written into an output's `comment` tag."""
    import av

    with av.open(str(path)) as container:
        identity = json.loads(container.metadata.get("comment", "{}"))
    return identity if isinstance(identity, dict) else {}


def _tint(weights: Mapping[str, float]) -> tuple[tuple[float, float, float], float]:
    """Colour mix and strength of effective weights: a zero weight adds nothing, so a run looks
    the same with or without extra zero-weight controls."""
    total = sum(w for w in weights.values() if w > 0)
    if total <= 0:
        return (128.0, 128.0, 128.0), 0.0
    mix = [0.0, 0.0, 0.0]
    for name, weight in weights.items():
        colour = CONTROL_COLOURS.get(name, (128, 128, 128))
        for channel in range(3):
            mix[channel] += colour[channel] * max(0.0, weight) / total
    return (mix[0], mix[1], mix[2]), TINT_STRENGTH * min(1.0, total)


def stream_slice(seed: int, position: int, shape: tuple[int, ...]) -> np.ndarray:
    """The `position`-th slice of one normal stream seeded with `seed`: what the item at that
    batch position receives when noise is drawn for the whole batch tensor at once."""
    import numpy as np

    size = int(np.prod(shape))
    rng = np.random.RandomState(int(seed) % 2**32)
    values = rng.standard_normal((position + 1) * size)[position * size :]
    return values.reshape(shape).astype(np.float32)


def _field(values: np.ndarray, height: int, width: int) -> np.ndarray:
    import numpy as np

    cells = np.repeat(np.repeat(values, NOISE_CELL, axis=0), NOISE_CELL, axis=1)
    return cells[:height, :width]


def _fields(render: Render, height: int, width: int) -> tuple[list[np.ndarray], np.ndarray]:
    grid = (-(-height // NOISE_CELL), -(-width // NOISE_CELL), 3)
    noise = [
        _field(stream_slice(seed, position, grid), height, width) * NOISE_AMPLITUDE
        for seed, position in render.noise
    ]
    conditioning = _field(stream_slice(render.digest(), 0, grid), height, width)
    return noise, conditioning * CONDITIONING_AMPLITUDE


def _codec() -> str:
    import av

    try:
        av.codec.Codec("libx264", "w")
    except Exception:  # PyAV raises its own errors for a codec built without an encoder
        return "mpeg4"
    return "libx264"


def write_output(
    source: Path,
    target: Path,
    weights: Mapping[str, float],
    fps: float,
    render: Render,
    frames: int | None = None,
) -> None:
    """Write `target` from `source` at `fps`: at most MAX_WIDTH wide (even sizes for yuv420p),
    tinted by the effective control weights, plus the render's noise and conditioning fields,
    with SIMULATED stamped on each frame."""
    import av
    import numpy as np
    from PIL import Image, ImageDraw

    target.parent.mkdir(parents=True, exist_ok=True)
    colour, strength = _tint(weights)
    tint = np.array(colour, dtype=np.float32)
    with av.open(str(source)) as reader, av.open(str(target), "w") as writer:
        writer.metadata["comment"] = json.dumps(render.describe(), sort_keys=True)
        in_stream = reader.streams.video[0]
        scale = min(1.0, MAX_WIDTH / max(1, in_stream.width))
        width = max(16, int(in_stream.width * scale) // 2 * 2)
        height = max(16, int(in_stream.height * scale) // 2 * 2)
        noise, conditioning = _fields(render, height, width)
        codec = _codec()
        out = writer.add_stream(codec, rate=max(1, round(fps)))
        assert isinstance(out, av.VideoStream)  # a video codec gives a video stream
        if codec == "libx264":
            # x264's default analysis (macroblock tree, psychovisual tuning) encoded the same
            # frames to other bytes from one call to the next here; outputs must be bit-for-bit
            # reproducible, which the fastest preset is.
            out.options = {"preset": "ultrafast"}
        out.width, out.height, out.pix_fmt = width, height, "yuv420p"
        for index, frame in enumerate(reader.decode(in_stream)):
            if frames is not None and index >= frames:
                break
            image = Image.fromarray(frame.to_ndarray(format="rgb24")).resize((width, height))
            pixels = np.asarray(image, dtype=np.float32) * (1 - strength) + tint * strength
            pixels += noise[render.clip_of(index)] + conditioning
            stamped = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
            ImageDraw.Draw(stamped).text((2, 2), "SIMULATED", fill=(255, 255, 255))
            picture = av.VideoFrame.from_ndarray(np.asarray(stamped), format="rgb24")
            for packet in out.encode(picture):
                writer.mux(packet)
        for packet in out.encode():
            writer.mux(packet)


def write_control(source: Path, target: Path, key: str, fps: float, frames: int) -> None:
    """A control video as the real pipelines save it next to the output: here the input in the
    control's colour."""
    render = Render(f"control/{key}", ((0, 0),), (frames, frames))
    write_output(source, target, {key: 1.0}, fps, render, frames)
