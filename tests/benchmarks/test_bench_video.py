"""``benchmarks/bench_video.py``: clips whose motion is known exactly, and the table it prints."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from support import style_checkpoint

from benchmarks.bench_video import FACTOR, pan, still, zoom
from clipstyler_fast.eval.temporal import warping_errors

REPO = Path(__file__).resolve().parents[2]


def photo(size: int) -> torch.Tensor:
    """A smooth random photo at the benchmark's supersampled resolution, with room to move."""
    noise = torch.rand(1, 3, FACTOR * (size + 16), FACTOR * (size + 16), generator=torch.Generator().manual_seed(0))
    return torch.nn.functional.avg_pool2d(noise, 9, 1, 4)[0]


@pytest.mark.parametrize("speed", [1, 2])
def test_a_whole_pixel_pan_moves_exactly_as_its_motion_says(speed: int) -> None:
    frames, motions = pan(photo(32), speed, 4, 32)
    assert frames.shape == (4, 3, 32, 32)
    assert warping_errors(frames, motions).max() == 0


def test_sub_pixel_pans_and_zooms_follow_their_motion_up_to_interpolation() -> None:
    for frames, motions in (pan(photo(32), 0.5, 4, 32), zoom(photo(32), 1.01, 4, 32)):
        error = warping_errors(frames, motions)
        assert (error < 0.01).all() and (error > 0).all(), error
    # A wrong motion is measured as such: the half-pixel pan read as a still shot.
    frames, motions = pan(photo(32), 0.5, 4, 32)
    assert warping_errors(frames, torch.zeros_like(motions) + torch.eye(2, 3)).min() > 1.5 * warping_errors(frames, motions).max()


def test_the_still_shot_differs_only_by_its_noise() -> None:
    frames, motions = still(photo(32), 0.02, 5, 32, torch.Generator().manual_seed(0))
    # Two independent N(0, 0.02) draws differ by 0.02 * sqrt(2) * sqrt(2 / pi) ~ 0.0226 on average.
    assert torch.allclose(warping_errors(frames, motions), torch.tensor(0.0226), atol=0.002)


@pytest.mark.slow
def test_the_benchmark_prints_a_row_per_clip_for_each_style(tmp_path: Path, clip_path: Path, vgg_path: Path, content_dir: Path) -> None:
    style = style_checkpoint(tmp_path, "Mosaic", trained=(clip_path, vgg_path, content_dir))
    out = tmp_path / "video.json"
    args = ["--style", f"tiny={style}", "--vgg", str(vgg_path), "--world", "1", "--no-samples", "--frames", "3", "--size", "32"]
    done = subprocess.run(
        [sys.executable, "benchmarks/bench_video.py", *args, "--json", str(out)], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "CPU capability" in done.stdout and "| pan 2 px/frame |" in done.stdout
    table = json.loads(out.read_text())["warping_error"]
    assert set(table) == {"content", "tiny", "tiny + blend 0.5", "tiny + blend 0.5, true motion"}
    assert table["content"]["pan 2 px/frame"] == 0
