"""``stylize_video`` writes through the shared atomic writer: a failure leaves neither the output nor a temporary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clipstyler_fast.errors import VideoError
from clipstyler_fast.infer import video
from clipstyler_fast.infer.stylizer import Stylizer

av = pytest.importorskip("av")


def tiny_video(path: Path, frames: int = 4) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=4)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        for i in range(frames):
            rgb = np.full((24, 32, 3), 40 * i, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def stylizer(trained_style: Path) -> Stylizer:
    return Stylizer.from_checkpoint(trained_style, precision="32-true")


def test_video_appears_only_when_complete(stylizer, tmp_path):
    source = tiny_video(tmp_path / "in" / "clip.mp4")
    target = tmp_path / "out" / "styled.mkv"
    assert video.stylize_video(stylizer, source, target, batch_size=3, codec="mpeg4", progress=False) == target
    assert [p.name for p in target.parent.iterdir()] == ["styled.mkv"]
    with av.open(str(target)) as container:
        assert container.format.name.startswith("matroska") and container.streams.video[0].codec_context.width == 32


def test_failure_mid_video_leaves_nothing(stylizer, tmp_path, monkeypatch):
    source = tiny_video(tmp_path / "clip.mp4")
    out = tmp_path / "out"
    out.mkdir()

    def crash(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(video, "_stylize_frames", crash)
    with pytest.raises(RuntimeError, match="out of memory"):
        video.stylize_video(stylizer, source, out / "styled.mp4", codec="mpeg4", progress=False)
    assert list(out.iterdir()) == []
    with pytest.raises(VideoError, match="cannot encode with codec 'no-such-codec'"):
        video.stylize_video(stylizer, source, out / "styled.mp4", codec="no-such-codec", progress=False)
    assert list(out.iterdir()) == []
