"""Files the API serves: only regular files under COSMOS_HOME, whatever a database row says."""

from __future__ import annotations

from pathlib import Path

from cosmos_workflow.domain.errors import CosmosError, NotFound
from cosmos_workflow.services.context import Context


class Forbidden(CosmosError):
    """A path the server will not serve (outside COSMOS_HOME)."""

    http_status = 403


def confined_file(ctx: Context, stored: str | None, what: str) -> Path:
    """Resolve `stored` (symlinks included) and refuse it unless it is a file under COSMOS_HOME."""
    if not stored:
        raise NotFound(f"{what} does not exist yet")
    home = ctx.settings.home.expanduser().resolve()
    path = Path(stored).expanduser().resolve()
    if not path.is_relative_to(home):
        raise Forbidden(f"{what} lies outside COSMOS_HOME; only files under it are served")
    if not path.is_file():
        raise NotFound(f"{what} is missing on disk")
    return path


MEDIA_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".webm": "video/webm",
    ".mov": "video/quicktime",
    ".mkv": "video/x-matroska",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
}
UNKNOWN_TYPE = "application/octet-stream"
# What the file routes may answer, as /openapi.json documents it.
VIDEO_TYPES = (*sorted({t for t in MEDIA_TYPES.values() if t.startswith("video/")}), UNKNOWN_TYPE)
IMAGE_TYPES = (*sorted({t for t in MEDIA_TYPES.values() if t.startswith("image/")}), UNKNOWN_TYPE)


def media_type_of(path: Path) -> str:
    return MEDIA_TYPES.get(path.suffix.lower(), UNKNOWN_TYPE)
