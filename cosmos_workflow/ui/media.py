"""Browser-playable previews. Browsers play H.264, VP8/VP9 and AV1; other codecs (MPEG-4 Part 2,
which many tools write) are re-encoded once to H.264 under COSMOS_HOME/previews.

The web server serves files from three folders only (`served_dirs`): outputs, thumbnails and
previews, never the rest of COSMOS_HOME (the database, logs, job folders) nor the input roots. A
playable video outside them (an input) is linked, or copied, into the previews folder first."""

from __future__ import annotations

import errno
import logging
import os
import shutil
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from cosmos_workflow.config import Settings
from cosmos_workflow.services.media import preview_stem
from cosmos_workflow.services.media import previews_dir as previews_under

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


def previews_dir(settings: Settings) -> Path:
    return previews_under(settings.home)


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
