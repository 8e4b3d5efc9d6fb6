"""Browser-playable previews. Browsers play H.264, VP8/VP9 and AV1; other codecs (MPEG-4 Part 2,
which many tools write) are re-encoded once to H.264 under COSMOS_HOME/previews."""

from __future__ import annotations

import hashlib
import logging
from fractions import Fraction
from pathlib import Path

log = logging.getLogger(__name__)

PLAYABLE_CODECS = frozenset({"h264", "vp8", "vp9", "av1"})
PLAYABLE_CONTAINERS = frozenset({".mp4", ".webm", ".m4v"})


def codec_of(path: Path) -> str | None:
    import av

    try:
        with av.open(str(path)) as container:
            return str(container.streams.video[0].codec_context.name)
    except (av.error.FFmpegError, OSError, ValueError, IndexError):
        return None


def playable_video(path: Path, previews_dir: Path) -> Path | None:
    """The file itself when a browser can play it, else an H.264 copy (made once); None when the
    video cannot be read."""
    if not path.is_file():
        return None
    codec = codec_of(path)
    if codec is None:
        return None
    if codec in PLAYABLE_CODECS and path.suffix.lower() in PLAYABLE_CONTAINERS:
        return path
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    preview = previews_dir / f"{key[:24]}.mp4"
    if preview.is_file():
        return preview
    try:
        _transcode(path, preview)
    except Exception:  # a preview is a convenience: any codec failure means "no preview"
        log.warning("could not make a playable preview of %s", path, exc_info=True)
        preview.unlink(missing_ok=True)
        return None
    return preview


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
