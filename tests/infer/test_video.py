"""``clipstyler-fast video``: frame count, rate, size and audio survive; frames are the stylizer's output."""

from __future__ import annotations

import sys
from pathlib import Path

import av
import av.video.reformatter
import numpy as np
import pytest
import torch
from support import style_checkpoint

from clipstyler_fast.cli.main import main
from clipstyler_fast.infer.stylizer import Stylizer

Colorspace = av.video.reformatter.Colorspace

FRAMES, WIDTH, HEIGHT, FPS, SAMPLE_RATE = 12, 64, 48, 12, 22050


def make_video(path: Path, audio: bool = True) -> Path:
    """12 frames of moving gradients at 12 fps (H.264, BT.709), plus one second of a 440 Hz sine (AAC)."""
    container = av.open(str(path), "w")
    video = container.add_stream("libx264", rate=FPS)
    video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    video.options = {"crf": "10"}
    # Tagged BT.709 (HD) so that the output must carry the same colour description.
    for tag in ("colorspace", "color_primaries", "color_trc", "color_range"):
        setattr(video.codec_context, tag, 1)
    sound = container.add_stream("aac", rate=SAMPLE_RATE) if audio else None
    if sound is not None:
        sound.layout = "mono"
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    for i in range(FRAMES):
        rgb = np.stack([(x * 4 + i * 10) % 256, (y * 5) % 256, ((x + y) * 3 + i * 20) % 256], -1).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
            format="yuv420p", dst_colorspace=Colorspace.ITU709, dst_color_range=1
        )
        for packet in video.encode(frame):
            container.mux(packet)
    for packet in video.encode(None):
        container.mux(packet)
    if sound is not None:
        samples = SAMPLE_RATE * FRAMES // FPS
        wave = (0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / SAMPLE_RATE)).astype(np.float32)
        for start in range(0, samples, 1024):
            frame = av.AudioFrame.from_ndarray(wave[None, start : start + 1024], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = SAMPLE_RATE, start
            for packet in sound.encode(frame):
                container.mux(packet)
        for packet in sound.encode(None):
            container.mux(packet)
    container.close()
    return path


def decode(path: Path) -> tuple[list[np.ndarray], list[int], dict]:
    """RGB frames, their timestamps, and stream facts of a video file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        info = {
            "rate": stream.average_rate,
            "size": (stream.codec_context.width, stream.codec_context.height),
            "audio": [(s.codec_context.name, s.sample_rate) for s in container.streams.audio],
            "colour": tuple(getattr(stream.codec_context, t) for t in ("colorspace", "color_primaries", "color_trc", "color_range")),
        }
        frames, pts = [], []
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            pts.append(frame.pts)
    return frames, pts, info


def audio_packets(path: Path) -> list[tuple[bytes, float]]:
    """Each audio packet's bytes and presentation time in seconds."""
    with av.open(str(path)) as container:
        return [(bytes(p), float(p.pts * p.time_base)) for p in container.demux(audio=0) if p.size]


@pytest.fixture(scope="module")
def style(tmp_path_factory, clip_path, vgg_path, content_dir) -> Path:
    return style_checkpoint(tmp_path_factory.mktemp("video-style"), "Mosaic", trained=(clip_path, vgg_path, content_dir))


@pytest.fixture(scope="module")
def clip_with_sound(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("video") / "clip.mp4")


def test_video_round_trip_keeps_frames_rate_size_and_audio(style, clip_with_sound, tmp_path, capsys):
    target = tmp_path / "out" / "styled.mp4"
    # Batches of 5 over 12 frames: the last batch is partial.
    rc = main(
        [
            "video",
            "--data.path",
            str(clip_with_sound),
            "--output",
            str(target),
            "--ckpt_path",
            str(style),
            "--postprocess",
            "contrast",
            "--data.batch_size",
            "5",
            "--trainer.accelerator",
            "cpu",
        ]
    )
    assert rc == 0
    assert f"{FRAMES}/{FRAMES}" in capsys.readouterr().err  # the progress bar reached the end
    assert [p.name for p in target.parent.iterdir()] == ["styled.mp4"]  # no temporary file left
    source_frames, source_pts, source_info = decode(clip_with_sound)
    frames, pts, info = decode(target)
    assert len(frames) == FRAMES and pts == source_pts
    assert info["rate"] == FPS and info["size"] == (WIDTH, HEIGHT)
    assert info["colour"] == source_info["colour"] == (1, 1, 1, 1)
    assert info["audio"] == [("aac", SAMPLE_RATE)]
    # The audio is copied packet for packet (same bytes, same times), not re-encoded.
    assert audio_packets(target) == audio_packets(clip_with_sound)
    # Each frame is the stylizer's output on the decoded input frame, up to H.264 compression.
    stylizer = Stylizer.from_checkpoint(style, postprocess="contrast")
    with torch.no_grad():
        inputs = torch.from_numpy(np.stack(source_frames)).permute(0, 3, 1, 2).float() / 255
        expected = stylizer(inputs).clamp(0, 1)
    got = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255
    to_expected = (got - expected).abs().mean()
    to_input = (got - inputs).abs().mean()
    assert to_expected < 0.02, f"frames differ from the stylizer's output by {to_expected:.3f} on average"
    assert to_input > 10 * to_expected, "frames look like the input, not stylized"
    per_frame = (got - expected).abs().mean(dim=(1, 2, 3))
    assert per_frame.max() < 0.04  # every frame, including the last partial batch


def test_video_without_audio_option(style, clip_with_sound, tmp_path):
    target = tmp_path / "silent.mkv"
    assert (
        main(
            [
                "video",
                "--data.path",
                str(clip_with_sound),
                "--output",
                str(target),
                "--ckpt_path",
                str(style),
                "--audio",
                "false",
                "--trainer.enable_progress_bar",
                "false",
                "--trainer.accelerator",
                "cpu",
            ]
        )
        == 0
    )
    frames, _, info = decode(target)
    assert len(frames) == FRAMES and info["audio"] == []


def test_unreadable_video_is_a_one_line_error_and_leaves_nothing(style, tmp_path, capsys):
    bogus = tmp_path / "notes.mp4"
    bogus.write_text("not a video")
    target = tmp_path / "out.mp4"
    assert (
        main(["video", "--data.path", str(bogus), "--output", str(target), "--ckpt_path", str(style), "--trainer.accelerator", "cpu"]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and str(bogus) in err
    # FFmpeg's words, without its internal error number, and what to pass instead.
    assert "invalid data" in err and "Errno" not in err and "1094995529" not in err and "pass a video file" in err, err
    assert list(tmp_path.iterdir()) == [bogus]


def test_missing_pyav_names_the_extra(style, clip_with_sound, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # makes `import av` fail as if it were not installed
    assert main(["video", "--data.path", str(clip_with_sound), "--output", str(tmp_path / "o.mp4"), "--ckpt_path", str(style)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'pip install "clipstyler-fast[video]"' in err


def test_video_strength_zero_keeps_the_frames_and_bad_strength_is_refused(style, clip_with_sound, tmp_path, capsys):
    target = tmp_path / "unstyled.mp4"
    args = ["video", "--data.path", str(clip_with_sound), "--output", str(target), "--ckpt_path", str(style)]
    quiet = ["--trainer.enable_progress_bar", "false", "--trainer.accelerator", "cpu"]
    assert main([*args, *quiet, "--strength", "0", "--preserve_colors"]) == 0
    frames, _, _ = decode(target)
    originals, _, _ = decode(clip_with_sound)
    assert np.abs(np.stack(frames).astype(int) - np.stack(originals).astype(int)).mean() < 4, "only 4:2:0 re-encoding differences"
    assert main([*args, *quiet, "--strength", "1.5"]) == 2
    assert capsys.readouterr().err.startswith("error: --strength 1.5: outside [0, 1]")
