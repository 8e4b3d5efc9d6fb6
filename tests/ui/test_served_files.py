"""What the web server serves: outputs, thumbnails and previews, never the database or logs
under COSMOS_HOME; an input outside COSMOS_HOME (and outside the server's working and temporary
folders) still plays, from a preview made under COSMOS_HOME."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest

from cosmos_workflow.services import inputs
from cosmos_workflow.services.context import Context
from tests.ui.conftest import Server
from tests.ui.pages import open_ui, tab
from tests.videos import make_input_folder

pytestmark = pytest.mark.browser


@pytest.fixture
def database_url(home: Path) -> str:
    return f"sqlite:///{home / 'cosmos.db'}"  # the database under COSMOS_HOME, as by default


def make_h264(path: Path, frames: int = 12) -> Path:
    """A video browsers play as it is, so the UI needs no re-encoded copy of it."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(frames):
            pixels = np.full((48, 64, 3), index * 20, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_an_input_outside_home_plays_and_only_served_folders_are_served(
    server: Server, page: Any, ctx: Context, home: Path, tmp_path: Path
) -> None:
    folder = make_input_folder(tmp_path / "elsewhere" / "scene", controls=("edge",))
    video = make_h264(folder / "color.mp4")
    inputs.add_input(ctx, folder, name="outside")
    server_tmp = tmp_path / "server-tmp"  # the server's temporary folder: not above the input
    server_tmp.mkdir()
    server.env["TMPDIR"] = str(server_tmp)
    server.start("--no-worker")

    open_ui(page, server.url)
    tab(page, "Inputs")
    page.locator("#inputs-gallery img").first.click()
    page.wait_for_function(
        "() => { const v = document.querySelector('#inputs-video video');"
        " return v && v.readyState >= 2 && v.duration > 0; }",
        timeout=60_000,
    )
    # One preview per player: the RGB video (H.264 already: linked) and its edge control's.
    previews = sorted((home / "previews").iterdir())
    assert [p.suffix for p in previews] == [".mp4", ".mp4"]
    (preview,) = [p for p in previews if p.read_bytes() == video.read_bytes()]

    output = home / "outputs" / "run_0abc" / "output.mp4"
    output.parent.mkdir(parents=True)
    output.write_bytes(video.read_bytes())
    log = home / "logs" / "job_0abc.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("a job's log\n")

    def status(path: Path) -> int:
        return httpx.get(f"{server.url}gradio_api/file={path}", timeout=30).status_code

    assert (home / "cosmos.db").is_file()
    assert {p.name: status(p) for p in (preview, output)} == {
        preview.name: 200,
        "output.mp4": 200,
    }
    assert {p.name: status(p) for p in (home / "cosmos.db", log, video)} == {
        "cosmos.db": 403,
        "job_0abc.log": 403,
        "color.mp4": 403,
    }
