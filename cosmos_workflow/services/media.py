"""Video files: probe, check that they decode, thumbnail. PyAV is imported only when used."""

from __future__ import annotations

from pathlib import Path

from cosmos_workflow.domain.errors import InvalidInput
from cosmos_workflow.domain.work import VideoInfo

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")


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

    try:
        with av.open(str(video)) as container:
            frame = next(container.decode(video=0))
            image = frame.to_image()
    except (av.error.FFmpegError, OSError, ValueError, StopIteration, IndexError):
        return None
    height = max(1, round(image.height * width / max(image.width, 1)))
    dest.parent.mkdir(parents=True, exist_ok=True)
    image.resize((width, height)).save(dest, format="JPEG", quality=85)
    return dest
