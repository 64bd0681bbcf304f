"""Errors from below the command line name parameters; each command prints them as its own options."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import make_photo, run_cli, style_checkpoint

from clipstyler_fast.cli.flags import spoken


def last_line(stderr: str) -> str:
    return stderr.strip().splitlines()[-1]


def test_a_parameter_becomes_the_option_of_the_command_that_prints_it() -> None:
    text = "no prompt given; pass `prompt` and keep `batch_size` above 0 (`unknown` stays)"
    assert spoken("predict", text) == "no prompt given; pass --prompt and keep --data.batch_size above 0 (`unknown` stays)"
    assert spoken("fit", text).startswith("no prompt given; pass --model.prompt and keep --data.batch_size")


def test_batch_size_reads_as_its_option() -> None:
    done = run_cli("video", "--data.path", "clip.mp4", "--output", "o.mp4", "--ckpt_path", "s.ckpt", "--data.batch_size", "0")
    assert done.returncode == 2 and last_line(done.stderr).startswith("error: --data.batch_size 0"), done.stderr


@pytest.mark.slow
def test_max_pixels_reads_as_its_option(tmp_path: Path) -> None:
    style = style_checkpoint(tmp_path / "style", seed=2)
    make_photo(40, 30, seed=0).save(tmp_path / "photo.png")
    done = run_cli(
        "predict", "--ckpt_path", str(style), "--data.path", str(tmp_path / "photo.png"), "--output.dir", str(tmp_path / "out"),
        "--data.max_pixels", "1000", "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false",
    )  # fmt: skip
    failed = [line for line in done.stderr.splitlines() if line.startswith("failed: ")]
    assert done.returncode == 1 and len(failed) == 1, done.stderr
    assert failed[0].endswith("exceeds the pixel limit of 1000 (possible decompression bomb); raise --data.max_pixels to allow it")


def test_a_missing_device_reads_as_the_device_options(tmp_path: Path) -> None:
    done = run_cli(
        "evaluate", "--data.path", str(tmp_path), "--stylized_dir", str(tmp_path), "--model.prompt", "x",
        "--trainer.accelerator", "cuda", "--trainer.devices", "[99]",
    )  # fmt: skip
    line = last_line(done.stderr)
    assert done.returncode == 2 and line.startswith("error: --trainer.accelerator cuda --trainer.devices [99]: no such device"), line
    assert "--device " not in line and "`" not in line
