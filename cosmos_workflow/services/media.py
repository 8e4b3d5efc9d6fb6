"""Video files: probe, check that they decode, thumbnail, and browser-playable previews. PyAV is
imported only when used.

Browsers play H.264, VP8/VP9 and AV1; other codecs (MPEG-4 Part 2, which many tools write) are
re-encoded once to H.264 under COSMOS_HOME/previews. The web server serves files from three
folders only (`served_dirs`): outputs, thumbnails and previews, never the rest of COSMOS_HOME (the
database, logs, job folders) nor the input roots. A playable video outside them (an input) is
linked, or copied, into the previews folder first."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cosmos_workflow.config import Settings
from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.domain.work import VideoInfo

if TYPE_CHECKING:
    from PIL import Image as PILImage

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")
PLAYABLE_CODECS = frozenset({"h264", "vp8", "vp9", "av1"})
PLAYABLE_CONTAINERS = frozenset({".mp4", ".webm", ".m4v"})


def previews_dir(settings: Settings) -> Path:
    """Where browser previews of videos are made (`playable_video`; removing an input deletes
    its own)."""
    return settings.home.expanduser().resolve() / "previews"


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


def first_frame(video: Path | str) -> PILImage.Image | None:
    """The video's first frame as an RGB image, or None when it cannot be decoded."""
    import av
    from PIL import Image

    try:
        with av.open(str(video)) as container:
            frame = next(container.decode(video=0))
            return Image.fromarray(frame.to_ndarray(format="rgb24"))
    except (av.error.FFmpegError, OSError, ValueError, StopIteration, IndexError):
        return None


def write_thumbnail(video: Path, dest: Path, width: int = 320) -> Path | None:
    """A JPEG of the first frame, or None when the video cannot be decoded."""
    image = first_frame(video)
    if image is None:
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


def codec_of(path: Path) -> str | None:
    import av

    try:
        with av.open(str(path)) as container:
            return str(container.streams.video[0].codec_context.name)
    except (av.error.FFmpegError, OSError, ValueError, IndexError):
        return None


def served_dirs(settings: Settings) -> list[Path]:
    """The only folders the web server serves files from."""
    home = settings.home.expanduser().resolve()
    return [
        settings.outputs_dir.expanduser().resolve(),
        home / "thumbnails",
        previews_dir(settings),
    ]


def playable_video(path: Path, previews: Path, served: Sequence[Path]) -> Path | None:
    """A file the browser can play and the web server may serve: the file itself when it is
    playable and under a `served` folder, else a link or copy of it, or an H.264 copy, in
    `previews` (made once); None when the video cannot be read."""
    if not path.is_file():
        return None
    codec = codec_of(path)
    if codec is None:
        return None
    playable = codec in PLAYABLE_CODECS and path.suffix.lower() in PLAYABLE_CONTAINERS
    resolved = path.resolve()
    if playable and any(resolved.is_relative_to(folder) for folder in served):
        return path
    stem = preview_stem(path)
    if stem is None:
        return None
    preview = previews / (stem + (path.suffix.lower() if playable else ".mp4"))
    if preview.is_file():
        return preview
    try:
        if playable:
            _link_or_copy(path, preview)
        else:
            _transcode(path, preview)
    except Exception:  # a preview is a convenience: any failure means "no preview"
        log.warning("could not make a playable preview of %s", path, exc_info=True)
        preview.unlink(missing_ok=True)
        return None
    return preview


def _link_or_copy(source: Path, dest: Path) -> None:
    """A hard link costs no space and no time; a copy where links cannot be made (another
    filesystem). Written under a temporary name, so a preview is never seen half-made."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_suffix(".partial" + dest.suffix)
    partial.unlink(missing_ok=True)
    try:
        os.link(source, partial)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EACCES, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copyfile(source, partial)
    partial.replace(dest)


def _transcode(source: Path, dest: Path) -> None:
    import av

    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_suffix(".partial.mp4")
    options = {"movflags": "+faststart"}  # index first, so playback starts before the download ends
    with av.open(str(source)) as reader, av.open(str(partial), "w", options=options) as writer:
        incoming = reader.streams.video[0]
        rate = incoming.average_rate or incoming.guessed_rate or 24
        outgoing = writer.add_stream("libx264", rate=rate)
        outgoing.width = incoming.codec_context.width // 2 * 2
        outgoing.height = incoming.codec_context.height // 2 * 2
        outgoing.pix_fmt = "yuv420p"
        for index, frame in enumerate(reader.decode(incoming)):
            image = frame.reformat(outgoing.width, outgoing.height, "yuv420p")
            image.pts = index
            image.time_base = Fraction(1, 1) / Fraction(rate)
            for packet in outgoing.encode(image):
                writer.mux(packet)
        for packet in outgoing.encode():
            writer.mux(packet)
    partial.replace(dest)
