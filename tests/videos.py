"""Small real video files made with PyAV, for tests."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import av
import numpy as np


def make_video(
    path: Path, frames: int = 12, width: int = 64, height: int = 48, fps: int = 24
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(frames):
            pixels = np.full((height, width, 3), (index * 9) % 255, dtype=np.uint8)
            pixels[:, : width // 2, 0] = 200
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_input_folder(folder: Path, controls: Iterable[str] = (), frames: int = 12) -> Path:
    make_video(folder / "color.mp4", frames=frames)
    for control in controls:
        make_video(folder / f"{control}.mp4", frames=frames)
    return folder
