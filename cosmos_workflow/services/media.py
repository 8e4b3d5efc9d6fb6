"""Video files: probe, check that they decode, thumbnail. PyAV is imported only when used."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.domain.work import VideoInfo

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")


def previews_dir(home: Path) -> Path:
    """Where browser previews of videos are made (ui/media.py makes them; removing an input
    deletes its own)."""
    return home.expanduser().resolve() / "previews"


def preview_stem(path: Path) -> str | None:
    """The file name, less its suffix, of `path`'s preview: its resolved path, size and change
    time hashed, so an edited video gets a new preview. None when the file cannot be read."""
    try:
        resolved, stat = path.resolve(), path.stat()
    except (OSError, RuntimeError):
        return None
    key = f"{resolved}:{stat.st_size}:{stat.st_mtime_ns}"
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def probe_video(path: Path) -> VideoInfo:
    """Frames, fps and size of a video; InvalidInput naming the file when it cannot be read."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InvalidInput(f"{path}: has no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            frames = stream.frames or sum(1 for _ in container.decode(stream))
            width, height = stream.codec_context.width, stream.codec_context.height
    except InvalidInput:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise InvalidInput(f"{path}: not a readable video ({exc})") from None
    if frames <= 0 or width <= 0 or height <= 0:
        raise InvalidInput(f"{path}: video has no frames")
    return VideoInfo(frames=frames, fps=fps, width=width, height=height)


def video_decodes(path: Path) -> bool:
    """True when the file exists and at least one frame decodes."""
    import av

    if not path.is_file():
        return False
    try:
        with av.open(str(path)) as container:
            for _ in container.decode(video=0):
                return True
    except (av.error.FFmpegError, OSError, ValueError, IndexError):
        return False
    return False


def write_thumbnail(video: Path, dest: Path, width: int = 320) -> Path | None:
    """A JPEG of the first frame, or None when the video cannot be decoded."""
    import av
    from PIL import Image

    try:
        with av.open(str(video)) as container:
            frame = next(container.decode(video=0))
            image = Image.fromarray(frame.to_ndarray(format="rgb24"))
    except (av.error.FFmpegError, OSError, ValueError, StopIteration, IndexError):
        return None
    height = max(1, round(image.height * width / max(image.width, 1)))
    dest.parent.mkdir(parents=True, exist_ok=True)
    image.resize((width, height)).save(dest, format="JPEG", quality=85)
    return dest


def compare_videos(first: Path, second: Path) -> tuple[bool, float | None]:
    """Frame by frame: (bit-identical, PSNR in dB over all frames). PSNR is None when the
    decoded frames are identical (infinite), 0.0 when frame counts or sizes differ."""
    import numpy as np

    a, b = _frames(first), _frames(second)
    if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a, b, strict=True)):
        return False, 0.0
    squared = 0.0
    values = 0
    for x, y in zip(a, b, strict=True):
        diff = x.astype(np.float64) - y.astype(np.float64)
        squared += float(np.sum(diff * diff))
        values += diff.size
    if squared == 0.0:
        return True, None
    mse = squared / max(values, 1)
    return False, float(10.0 * np.log10(255.0**2 / mse))


def _frames(path: Path) -> list[Any]:
    import av

    try:
        with av.open(str(path)) as container:
            return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise InvalidInput(f"{path}: not a readable video ({exc})") from None
