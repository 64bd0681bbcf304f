"""``benchmarks/shift_grid.py`` measures which shifts a style's output follows: whole 8-pixel cells."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import style_checkpoint

from benchmarks.fidelity import world

# The world's start decoder is a session fixture trained in the first test that needs it.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

REPO = Path(__file__).resolve().parents[2]


def test_a_style_follows_a_photo_shifted_by_whole_cells_better_than_by_half_a_cell(
    tmp_path: Path, clip_path: Path, world_vgg_path: Path, world_decoder: Path
) -> None:
    # A style whose output keeps the photo's layout: the world's VGG-19 and start decoder (one fit step).
    photos = tmp_path / "photos"
    world.save_photos(photos, 6, 96, seed=5)
    extra = ["--model.encoder", "torchvision", "--model.decoder_init", str(world_decoder)]
    style = style_checkpoint(tmp_path, trained=(clip_path, world_vgg_path, photos), extra=extra)
    command = [sys.executable, str(REPO / "benchmarks" / "shift_grid.py"), "--ckpt_path", str(style), "--data.path", str(photos)]
    done = subprocess.run([*command, "--shifts", "4", "8"], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    psnr = {int(s): float(db) for s, db in re.findall(r"^\| (\d+) \| ([\d.]+) dB \|$", done.stdout, re.M)}
    assert set(psnr) == {4, 8} and psnr[8] > psnr[4] + 3, done.stdout
    bad = subprocess.run([*command, "--size", "60"], capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 2 and "--size a multiple of 8" in bad.stderr.strip().splitlines()[-1]
