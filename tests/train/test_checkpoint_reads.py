"""A command reads its checkpoint once: to choose, check and take options from it, and to restore
or run it, the same copy serves (a style file on the Hub or a slow disk is not read twice)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from support import distill_args, fit_args, style_checkpoint

from clipstyler_fast.cli.main import main


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[Path]]:
    """How often each file was loaded with ``torch.load`` since the test began."""
    counts: Counter[Path] = Counter()
    load = torch.load

    def counting_load(f: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(f, (str, Path)):
            counts[Path(f).resolve()] += 1
        return load(f, *args, **kwargs)

    monkeypatch.setattr(torch, "load", counting_load)
    yield counts


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, clip_path: Path, vgg_path: Path, content_dir: Path) -> Path:
    """A two-step run's folder (its last.ckpt and style.ckpt)."""
    return style_checkpoint(tmp_path_factory.mktemp("reads"), trained=(clip_path, vgg_path, content_dir), steps=2).parent


def test_resuming_a_fit_reads_its_checkpoint_once(
    run: Path, reads: Counter[Path], clip_path: Path, vgg_path: Path, content_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "last.ckpt"
    copy.write_bytes((run / "last.ckpt").read_bytes())
    args = fit_args(clip_path, vgg_path, content_dir, prompt="Mosaic", steps=3, checkpoints=tmp_path / "runs")
    assert main([*args, "--ckpt_path", str(copy)]) == 0
    assert reads[copy.resolve()] == 1


def test_validating_reads_the_checkpoint_once(run: Path, reads: Counter[Path], content_dir: Path, vgg_path: Path, clip_path: Path) -> None:
    args = ["validate", "--ckpt_path", str(run / "style.ckpt"), "--data.path", str(content_dir), "--data.crop_size", "32"]
    local = ["--model.vgg_weights", str(vgg_path), "--model.clip_model", str(clip_path), "--trainer.accelerator", "cpu"]
    assert main([*args, *local, "--trainer.logger", "false", "--trainer.enable_progress_bar", "false"]) == 0
    assert reads[(run / "style.ckpt").resolve()] == 1


def test_predict_reads_the_style_once(run: Path, reads: Counter[Path], content_dir: Path, vgg_path: Path, tmp_path: Path) -> None:
    style = run / "style.ckpt"
    args = ["predict", "--ckpt_path", str(style), "--data.path", str(content_dir), "--output.dir", str(tmp_path / "out")]
    assert main([*args, "--model.vgg_weights", str(vgg_path), "--trainer.accelerator", "cpu"]) == 0
    assert reads[style.resolve()] == 1


def test_distill_reads_its_teacher_once(run: Path, reads: Counter[Path], content_dir: Path, tmp_path: Path) -> None:
    style = run / "style.ckpt"
    assert main(distill_args(style, content_dir, tmp_path, steps=1)) == 0
    assert reads[style.resolve()] == 1
    assert (tmp_path / "mosaic-student" / "student.ckpt").is_file()
