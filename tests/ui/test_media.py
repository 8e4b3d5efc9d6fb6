"""Previews: a playable file under a served folder is used as it is; anything else gets a file
in the previews folder (a link or copy when playable, an H.264 copy when not), made once."""

from __future__ import annotations

from pathlib import Path

from cosmos_workflow.services.media import codec_of, playable_video
from tests.ui.test_served_files import make_h264
from tests.videos import make_video


def test_previews_of_files_outside_the_served_folders(tmp_path: Path) -> None:
    served, previews, elsewhere = tmp_path / "outputs", tmp_path / "previews", tmp_path / "in"
    served.mkdir()
    elsewhere.mkdir()
    inside = make_h264(served / "output.mp4")
    assert playable_video(inside, previews, [served]) == inside

    outside = make_h264(elsewhere / "color.mp4")
    linked = playable_video(outside, previews, [served])
    assert linked is not None and linked.parent == previews
    assert linked.read_bytes() == outside.read_bytes()
    assert playable_video(outside, previews, [served]) == linked  # made once

    mpeg4 = make_video(served / "mpeg4.mp4")
    encoded = playable_video(mpeg4, previews, [served])
    assert encoded is not None and encoded.parent == previews and codec_of(encoded) == "h264"
    assert sorted(p.name for p in previews.iterdir()) == sorted([linked.name, encoded.name])


def test_no_preview_for_a_missing_or_unreadable_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    previews = tmp_path / "previews"
    assert playable_video(broken, previews, [tmp_path]) is None
    assert playable_video(tmp_path / "missing.mp4", previews, [tmp_path]) is None
    assert not previews.exists()
