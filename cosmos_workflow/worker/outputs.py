"""An attempt's outputs: fetched into a folder of that attempt, moved into place only inside the
lease-guarded final transaction.

So a worker that lost its lease (while a second worker runs the same job) never replaces an output
that the lease holder recorded: each attempt writes only `outputs/<run>/incoming-<attempt>/`, and
`outputs/<run>/output.mp4` changes only in the transaction that checks the lease token."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from cosmos_workflow.hosts.base import Host
from cosmos_workflow.services import media

VIDEO = "output.mp4"
THUMBNAIL = "thumbnail.jpg"


@dataclass(frozen=True)
class FetchedOutput:
    """One run's output, fetched and checked, waiting in its attempt's incoming folder."""

    run_id: str
    incoming: Path
    final_dir: Path
    has_thumbnail: bool

    @property
    def final_video(self) -> Path:
        return self.final_dir / VIDEO

    @property
    def final_thumbnail(self) -> Path | None:
        return self.final_dir / THUMBNAIL if self.has_thumbnail else None


def fetch_output(
    host: Host, workdir: str, relpath: str, outputs_dir: Path, run_id: str, attempt_key: str
) -> FetchedOutput | None:
    """Fetch a run's video into this attempt's incoming folder; None when it is missing or does
    not decode (the incoming folder is then removed)."""
    final_dir = outputs_dir / run_id
    incoming = final_dir / f"incoming-{attempt_key}"
    shutil.rmtree(incoming, ignore_errors=True)
    fetched = host.fetch(workdir, [relpath], incoming / "fetched")
    source = fetched.get(relpath)
    video = incoming / VIDEO
    if source is not None:
        os.replace(source, video)
        shutil.rmtree(incoming / "fetched", ignore_errors=True)
    if source is None or not media.video_decodes(video):
        shutil.rmtree(incoming, ignore_errors=True)
        return None
    thumbnail = media.write_thumbnail(video, incoming / THUMBNAIL)
    return FetchedOutput(run_id, incoming, final_dir, has_thumbnail=thumbnail is not None)


def promote(output: FetchedOutput) -> None:
    """Move a fetched output into its run's place (call inside the lease-guarded transaction).
    Idempotent: a transaction retried after its commit failed finds the files moved already."""
    for name in (VIDEO, THUMBNAIL):
        if (output.incoming / name).exists():
            os.replace(output.incoming / name, output.final_dir / name)
    shutil.rmtree(output.incoming, ignore_errors=True)


def discard(outputs: list[FetchedOutput]) -> None:
    """Remove fetched outputs that will never be recorded (the lease was lost)."""
    for output in outputs:
        shutil.rmtree(output.incoming, ignore_errors=True)
