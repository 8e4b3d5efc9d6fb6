"""Small, playable output videos: the input downscaled, tinted by its control mix, stamped.

PyAV and Pillow are imported here only, so refusals and log output start fast."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MAX_WIDTH = 256
TINT_STRENGTH = 0.35
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


def probe(path: Path) -> VideoFacts:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = stream.frames or sum(1 for _ in container.decode(stream))
        fps = float(stream.average_rate or 24)
        return VideoFacts(frames, fps, stream.width, stream.height)


def _tint(weights: Mapping[str, float]) -> tuple[float, float, float]:
    total = sum(w for w in weights.values() if w > 0)
    if total <= 0:
        return (128.0, 128.0, 128.0)
    mix = [0.0, 0.0, 0.0]
    for name, weight in weights.items():
        colour = CONTROL_COLOURS.get(name, (128, 128, 128))
        for channel in range(3):
            mix[channel] += colour[channel] * max(0.0, weight) / total
    return (mix[0], mix[1], mix[2])


def _codec() -> str:
    import av

    try:
        av.codec.Codec("libx264", "w")
    except Exception:  # PyAV raises its own errors for a codec built without an encoder
        return "mpeg4"
    return "libx264"


def write_output(
    source: Path, target: Path, weights: Mapping[str, float], fps: float, frames: int | None = None
) -> None:
    """Write `target` from `source`: at most MAX_WIDTH wide (even sizes for yuv420p), tinted by the
    weighted control colours, with SIMULATED stamped on each frame."""
    import av
    import numpy as np
    from PIL import Image, ImageDraw

    target.parent.mkdir(parents=True, exist_ok=True)
    tint = np.array(_tint(weights), dtype=np.float32)
    with av.open(str(source)) as reader, av.open(str(target), "w") as writer:
        in_stream = reader.streams.video[0]
        scale = min(1.0, MAX_WIDTH / max(1, in_stream.width))
        width = max(16, int(in_stream.width * scale) // 2 * 2)
        height = max(16, int(in_stream.height * scale) // 2 * 2)
        out = writer.add_stream(_codec(), rate=max(1, round(fps)))
        out.width, out.height, out.pix_fmt = width, height, "yuv420p"
        for index, frame in enumerate(reader.decode(in_stream)):
            if frames is not None and index >= frames:
                break
            image = frame.to_image().convert("RGB").resize((width, height))
            pixels = np.asarray(image, dtype=np.float32)
            pixels = pixels * (1 - TINT_STRENGTH) + tint * TINT_STRENGTH
            stamped = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
            ImageDraw.Draw(stamped).text((2, 2), "SIMULATED", fill=(255, 255, 255))
            for packet in out.encode(av.VideoFrame.from_image(stamped)):
                writer.mux(packet)
        for packet in out.encode():
            writer.mux(packet)
