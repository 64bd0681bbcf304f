"""`video --temporal_blend`: each frame blended with the previous output, moved by the picture's motion."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch
from support import make_photo, run_cli, style_checkpoint

from clipstyler_fast.eval.temporal import warping_error
from clipstyler_fast.objective.consistency import translation_matrices

REPO = Path(__file__).resolve().parents[2]
FRAMES, SIZE = 8, 64


def write_still(path: Path) -> Path:
    """A still shot of a photo with fresh sensor noise in every frame, losslessly encoded."""
    photo = np.asarray(make_photo(SIZE, SIZE, seed=5)).astype(np.float32)
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = SIZE, SIZE, "yuv444p"
        stream.options = {"crf": "0"}
        for _ in range(FRAMES):
            noisy = np.clip(photo + rng.normal(0, 8, photo.shape), 0, 255).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(noisy, format="rgb24").reformat(format="yuv444p")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def frames_of(path: Path) -> torch.Tensor:
    with av.open(str(path)) as container:
        return torch.stack([torch.from_numpy(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]).permute(0, 3, 1, 2) / 255


def stylize(source: Path, target: Path, style: Path, *extra: str) -> torch.Tensor:
    args = ["video", "--data.path", str(source), "--output", str(target), "--ckpt_path", str(style), "--codec", "libx264"]
    args += ["--crf", "0", "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false", *extra]
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    return frames_of(target)


@pytest.mark.slow
def test_blending_with_the_previous_output_steadies_a_noisy_still_shot(
    tmp_path: Path, clip_path: Path, vgg_path: Path, content_dir: Path
) -> None:
    style = style_checkpoint(tmp_path / "style", "Mosaic", trained=(clip_path, vgg_path, content_dir))
    clip = write_still(tmp_path / "still.mp4")
    # At half strength half of the photo's noise reaches the output: flicker the blend must calm.
    half = ["--strength", "0.5"]
    plain = stylize(clip, tmp_path / "plain.mp4", style, *half)
    blended = stylize(clip, tmp_path / "blended.mp4", style, *half, "--temporal_blend", "0.6", "--data.batch_size", "3")
    assert blended.shape == plain.shape == (FRAMES, 3, SIZE, SIZE)
    assert (blended[0] - plain[0]).abs().max() < 2 / 255  # the first frame has nothing before it
    still = translation_matrices(torch.zeros(FRAMES - 1, 2))
    before, after = warping_error(plain, still), warping_error(blended, still)
    assert after < 0.6 * before, (before, after)
