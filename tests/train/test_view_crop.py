"""The patch-wise views option of `fit` (--model.view_crop), through the command line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import torch
from support import fit_args, run_cli


def fit(tmp_path: Path, clip_path: Path, vgg_path: Path, content_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*fit_args(clip_path, vgg_path, content_dir, *extra, checkpoints=tmp_path / "ck", views=3), cwd=tmp_path)


def test_fit_trains_on_patch_views_and_records_the_choice(tmp_path: Path, clip_path: Path, vgg_path: Path, content_dir: Path) -> None:
    result = fit(tmp_path, clip_path, vgg_path, content_dir, "--model.view_crop", "0.5")
    assert result.returncode == 0, result.stderr[-2000:]
    hparams = torch.load(tmp_path / "ck" / "mosaic" / "style.ckpt", weights_only=True)["hyper_parameters"]
    assert hparams["view_crop"] == 0.5


def test_a_view_crop_outside_zero_to_one_is_one_error_line(tmp_path: Path, clip_path: Path, vgg_path: Path, content_dir: Path) -> None:
    result = fit(tmp_path, clip_path, vgg_path, content_dir, "--model.view_crop", "1.5")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --model.view_crop 1.5: outside (0, 1]; give a share of the output's side in (0, 1], e.g. 0.25"
    ]
