"""Unusable files in the content folder are skipped, reported once each and counted; training goes on."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from support import fit_args as small_fit
from support import make_photo

from clipstyler_fast.cli.main import main


def truncated_jpeg(path: Path, seed: int) -> Path:
    """A JPEG cut in the middle of its image data: its header reads fine, decoding fails."""
    buffer = io.BytesIO()
    make_photo(64, 48, seed).save(buffer, format="JPEG", quality=95)
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return path


def bad_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.jpg").write_text("this is not an image")
    (folder / "noise.png").write_bytes(bytes(range(256)) * 4)
    return {
        "empty.png": folder / "empty.png",
        "text.jpg": folder / "text.jpg",
        "noise.png": folder / "noise.png",
        "cut-a.jpg": truncated_jpeg(folder / "cut-a.jpg", 1),
        "cut-b.jpg": truncated_jpeg(folder / "cut-b.jpg", 2),
    }


def fit_args(tmp_path: Path, clip: Path, vgg: Path, data: Path, workers: int = 1) -> list[str]:
    return small_fit(
        clip,
        vgg,
        data,
        "--seed_everything",
        "0",
        "--data.num_holdout",
        "0",
        "--trainer.val_check_interval",
        "2",
        "--trainer.default_root_dir",
        str(tmp_path / "runs"),
        checkpoints=tmp_path / "checkpoints",
        steps=5,
        batch=1,
        workers=workers,
    )


def test_damaged_and_non_image_files_are_skipped_once_each_and_training_finishes(
    tmp_path: Path,
    clip_path: Path,
    vgg_path: Path,
    capfd: pytest.CaptureFixture,
    caplog: pytest.LogCaptureFixture,
    recwarn: pytest.WarningsRecorder,
) -> None:
    folder = tmp_path / "photos"
    bad = bad_files(folder / "mixed")
    for i in range(3):
        make_photo(48, 40, seed=i).save(folder / f"good{i}.png")
    (folder / "notes.txt").write_text("shot list")
    held_out = tmp_path / "held-out"
    held_out.mkdir()
    make_photo(40, 40, seed=9).save(held_out / "ok.png")
    truncated_jpeg(held_out / "cut.jpg", 3)
    # 8 image files, 5 unusable. The truncated ones pass the header check and fail only when a
    # DataLoader worker decodes them, during training: 5 steps of 1 crop are an epoch of the 5
    # files that pass it, so each is tried.
    args = [*fit_args(tmp_path, clip_path, vgg_path, folder), "--data.holdout_path", str(held_out)]
    assert main(args) == 0
    assert torch.load(tmp_path / "checkpoints" / "mosaic" / "last.ckpt", weights_only=True)["global_step"] == 5

    warnings = [str(w.message) for w in recwarn if str(w.message).startswith("skipping ")]
    for name, path in [*bad.items(), ("cut.jpg", held_out / "cut.jpg")]:
        about = [w for w in warnings if w.startswith(f"skipping {path}: ")]
        assert len(about) == 1, (name, warnings)
    assert len(warnings) == 6
    # Lightning's log lines go to stderr, or to the root logger when one is configured.
    err = capfd.readouterr().err + caplog.text
    assert "skipped 6 unreadable content file(s); they were not used for training" in err
    assert f"ignoring 1 file(s) in {folder} that are not images by their extension (e.g. notes.txt)" in err
    assert "Traceback" not in err


def test_a_folder_without_a_readable_image_fails_before_any_model_loads(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "broken"
    bad_files(folder)
    # The weight files do not exist: had a model been loaded first, that error would show instead.
    args = fit_args(tmp_path, tmp_path / "no-clip.pt", tmp_path / "no-vgg.pth", folder)
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        f"error: {folder}: none of the 5 image files can be read (see the warnings above); put readable images in the content folder"
    )
    # Only truncated files, which all pass the header check: still refused up front.
    only_cut = tmp_path / "only-cut"
    only_cut.mkdir()
    truncated_jpeg(only_cut / "a.jpg", 1)
    truncated_jpeg(only_cut / "b.jpg", 2)
    assert main(fit_args(tmp_path, tmp_path / "no-clip.pt", tmp_path / "no-vgg.pth", only_cut)) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(f"error: {only_cut}: none of the 2 image files can be read")
