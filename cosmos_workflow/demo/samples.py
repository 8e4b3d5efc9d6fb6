"""Synthetic input folders: an RGB video with matching depth, seg and edge control videos.

Each scene is a few moving shapes on a gradient; the controls are derived from the same geometry
(distance for depth, flat labels for seg, outlines for edge), so they line up frame by frame the
way exported render passes do."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

WIDTH, HEIGHT, FPS = 160, 88, 24  # a 16:9 bucket, small enough to make and play instantly


@dataclass(frozen=True)
class Scene:
    name: str
    frames: int
    hue: tuple[int, int, int]
    controls: tuple[str, ...]


SCENES = (
    Scene("warehouse", 48, (200, 120, 60), ("depth", "seg", "edge")),
    Scene("street", 48, (70, 130, 210), ("depth", "seg", "edge")),
    Scene("orchard", 72, (90, 190, 90), ("depth", "edge")),
)


def _geometry(frame: int, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel depth (0 near .. 1 far) and object label (0 background) for one frame."""
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    depth = 0.4 + 0.6 * ys / HEIGHT
    labels = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    t = frame / max(frames - 1, 1)
    for label, (speed, radius, row) in enumerate(((1.0, 14, 0.55), (-0.7, 10, 0.35)), start=1):
        cx = (0.15 + 0.7 * ((t * speed) % 1.0)) * WIDTH
        cy = row * HEIGHT
        inside = (xs - cx) ** 2 + (ys - cy) ** 2 <= radius**2
        labels[inside] = label
        depth = np.where(inside, 0.2 + 0.1 * label, depth)
    return depth, labels


def _frames(scene: Scene, pass_name: str) -> list[np.ndarray]:
    images = []
    palette = np.array([[40, 40, 40], [230, 80, 80], [80, 80, 230]], dtype=np.uint8)
    for index in range(scene.frames):
        depth, labels = _geometry(index, scene.frames)
        if pass_name == "depth":
            gray = (255 * (1.0 - depth)).astype(np.uint8)
            images.append(np.stack([gray] * 3, axis=-1))
        elif pass_name == "seg":
            images.append(palette[labels])
        elif pass_name == "edge":
            edges = (np.abs(np.diff(labels.astype(int), axis=0, prepend=0)) > 0) | (
                np.abs(np.diff(labels.astype(int), axis=1, prepend=0)) > 0
            )
            images.append(np.stack([edges.astype(np.uint8) * 255] * 3, axis=-1))
        else:
            shade = (np.array(scene.hue) * (1.2 - depth[..., None])).clip(0, 255).astype(np.uint8)
            shade[labels > 0] = palette[labels[labels > 0]]
            images.append(shade)
    return images


def write_video(path: Path, images: list[np.ndarray], fps: int = FPS) -> Path:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.bit_rate = 400_000
        for image in images:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_scene(folder: Path, scene: Scene) -> Path:
    write_video(folder / "color.mp4", _frames(scene, "rgb"))
    for control in scene.controls:
        write_video(folder / f"{control}.mp4", _frames(scene, control))
    return folder
