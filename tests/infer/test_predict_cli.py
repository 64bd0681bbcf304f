"""``clipstyler-fast predict``: every image kind, bad files listed and skipped, outputs mirrored and
never clobbered, resumable re-runs, tiles, the Python API agreeing, and several processes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from predict_support import he_checkpoint, make_inputs, output_name, with_vgg_source
from support import make_photo, run_cli

from clipstyler_fast.cli.main import main
from clipstyler_fast.infer.stylizer import Stylizer
from clipstyler_fast.io.checkpoint_file import load_checkpoint_file
from clipstyler_fast.io.images import open_image

REPO = Path(__file__).resolve().parents[2]
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.accelerator", "cpu", "--data.num_workers", "0"]


@pytest.fixture(scope="module")
def style(trained_style: Path) -> Path:
    return trained_style


@pytest.fixture(scope="module")
def he_style(style: Path) -> Path:
    return he_checkpoint(style.parents[2], style)[0]


def predict(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["predict", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image).astype(np.int16)


def test_every_image_kind_gets_an_output_and_every_bad_file_is_listed(
    style: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = make_inputs(tmp_path / "photos")
    assert not Path(load_checkpoint_file(style)["hyper_parameters"]["clip_model"]).exists(), "CLIP is never needed"
    out = tmp_path / "stylized"
    status, stdout, stderr = predict(
        capsys,
        "--ckpt_path",
        str(style),
        "--data.path",
        str(tmp_path / "photos"),
        "--output.dir",
        str(out),
        "--data.max_pixels",
        "1000000",
        "--data.batch_size",
        "3",
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.accelerator",
        "cpu",
        "--data.num_workers",
        "1",
    )
    assert status == 1, stderr
    for relative, (width, height, mode) in good.items():
        with Image.open(out / output_name(relative)) as image:
            assert (image.size, image.mode) == ((width, height), mode), relative
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and p.name != "failures.tsv")
    assert written == sorted(output_name(r) for r in good), "no extra, temporary or missing files"
    lines = (out / "failures.tsv").read_text().splitlines()
    assert lines[0] == "path\treason"
    listed = dict(line.split("\t") for line in lines[1:])
    assert sorted(listed) == sorted(str(tmp_path / "photos" / r) for r in bad)
    for relative, words in bad.items():
        assert words in listed[str(tmp_path / "photos" / relative)]
        assert f"failed: {tmp_path / 'photos' / relative}: " in stderr
    assert f"{len(good)} written, 0 skipped (already existed), {len(bad)} failed" in stdout
    assert "Traceback" not in stderr


def test_rerun_finishes_only_what_is_missing_and_overwrite_replaces(
    style: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = tmp_path / "photos"
    (photos / "b").mkdir(parents=True)
    for i, name in enumerate(["one.png", "two.jpg", "b/three.png"]):
        make_photo(24 + 8 * i, 16, seed=i).save(photos / name)
    out = tmp_path / "out"
    args = ["--ckpt_path", str(style), "--data.path", str(photos), "--output.dir", str(out), *QUIET]
    assert predict(capsys, *args)[0] == 0
    first = pixels(out / "two.png")
    # As if interrupted: one output missing, with the temporary file of its write left behind;
    # and a kept output that must not be touched.
    (out / "b" / "three.png").unlink()
    leftover = out / "b" / ".three.png.x1y2z3.partial"
    leftover.write_bytes(b"half an image")
    os.utime(leftover, (1e9, 1e9))
    Image.new("RGB", (24, 16), (1, 2, 3)).save(out / "one.png")
    status, stdout, _ = predict(capsys, *args)
    assert status == 0 and "1 written, 2 skipped (already existed), 0 failed" in stdout
    assert (pixels(out / "one.png") == [1, 2, 3]).all()
    np.testing.assert_array_equal(pixels(out / "two.png"), first)
    assert (out / "b" / "three.png").exists() and not leftover.exists()
    status, stdout, _ = predict(capsys, *args, "--output.overwrite", "true")
    assert status == 0 and "3 written, 0 skipped (already existed), 0 failed" in stdout
    assert not (pixels(out / "one.png") == [1, 2, 3]).all()
    assert not list(out.rglob(".*")), "no temporary files left behind"


def test_python_api_matches_cli_output(style: Path, he_style: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    rgba = np.asarray(make_photo(45, 29, seed=9).convert("RGBA")).copy()
    rgba[..., 3] = 128
    Image.fromarray(rgba, "RGBA").save(photos / "img.png")
    out = tmp_path / "out"
    status, _, stderr = predict(capsys, "--ckpt_path", str(he_style), "--data.path", str(photos), "--output.dir", str(out), *QUIET)
    assert status == 0, stderr
    api = Stylizer.from_checkpoint(he_style)(open_image(photos / "img.png"))
    cli = pixels(out / "img.png")
    assert api.mode == "RGBA" and cli.shape == (29, 45, 4)
    np.testing.assert_array_equal(np.asarray(api).astype(np.int16), cli)
    assert cli[..., :3].std() > 10, "a meaningful image, not a constant"


def test_tiled_and_untiled_cli_outputs_agree(he_style: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    make_photo(416, 400, seed=12).save(photos / "mid.png")
    base = ["--ckpt_path", str(he_style), "--data.path", str(photos), "--trainer.precision", "32-true", *QUIET]
    assert predict(capsys, *base, "--output.dir", str(tmp_path / "whole"))[0] == 0
    assert predict(capsys, *base, "--output.dir", str(tmp_path / "tiles"), "--tile_above", "100000", "--tile_size", "384")[0] == 0
    whole, tiles = pixels(tmp_path / "whole" / "mid.png"), pixels(tmp_path / "tiles" / "mid.png")
    difference = np.abs(whole - tiles)
    # 8-bit outputs (test_tiling bounds the float difference): mean below 0.25 level, at most
    # 2% of values off by more than one level, none by more than 10 (measured: 0.03, 0.5%, 6).
    assert difference.mean() < 0.25 and (difference > 1).mean() < 0.02 and difference.max() <= 10, (
        difference.mean(),
        (difference > 1).mean(),
        difference.max(),
    )
    assert difference.max() > 0, "the tile options took effect"
    assert whole.std() > 10


def test_a_tiled_image_shows_a_bar_over_its_tiles_with_time_left(
    he_style: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    make_photo(416, 400, seed=12).save(photos / "big.png")
    args = ["--ckpt_path", str(he_style), "--data.path", str(photos), "--output.dir", str(tmp_path / "out")]
    tiles = ["--tile_above", "1000", "--tile_size", "128", "--tile_overlap", "32"]  # 4 x 4 tiles
    status, out, err = predict(capsys, *args, *tiles, "--trainer.accelerator", "cpu", "--data.num_workers", "0")
    assert status == 0 and (tmp_path / "out" / "big.png").is_file(), err[-2000:]
    bars = [part for part in (out + err).replace("\r", "\n").splitlines() if part.startswith("tiles")]
    # tqdm redraws a few times a second, so not every count is shown; the bar moves over 16 tiles.
    counts = [int(bar.split("/16")[0].rsplit(" ", 1)[-1]) for bar in bars if "/16" in bar]
    assert len(set(counts)) >= 2 and counts == sorted(counts), bars[-5:]
    assert all("<" in bar for bar in bars)  # elapsed<remaining: the time left


def test_options_resize_and_formats(style: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    make_photo(64, 40, seed=1).save(photos / "wide.png")
    rgba = make_photo(20, 20, seed=2).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((20, 20)))
    rgba.save(photos / "a.png")
    rgba.save(photos / "b.png")
    status, stdout, stderr = predict(
        capsys,
        "--ckpt_path",
        str(style),
        "--data.path",
        str(photos),
        "--output.dir",
        str(tmp_path / "jpg"),
        "--output.format",
        "jpg",
        "--output.quality",
        "80",
        "--size",
        "32",
        "--postprocess",
        "contrast",
        "--trainer.accelerator",
        "cpu",
        "--data.num_workers",
        "0",
    )
    assert status == 0, stderr
    assert "images/s=" in stdout + stderr, "the progress bar shows the image rate"
    assert stderr.count("JPEG has no transparency") == 1
    with Image.open(tmp_path / "jpg" / "wide.jpg") as image:
        assert image.format == "JPEG" and image.size == (32, 20)
    with Image.open(tmp_path / "jpg" / "a.jpg") as image:
        assert image.mode == "RGB" and image.size == (32, 32)
    status, _, _ = predict(
        capsys,
        "--ckpt_path",
        str(style),
        "--data.path",
        str(photos / "a.png"),
        "--output.dir",
        str(tmp_path / "webp"),
        "--output.format",
        "webp",
        *QUIET,
    )
    with Image.open(tmp_path / "webp" / "a.webp") as image:
        assert status == 0 and image.format == "WEBP" and image.mode == "RGBA" and image.size == (20, 20)
        alpha = np.asarray(image)[..., 3].astype(int)
    assert np.abs(alpha - np.asarray(rgba)[..., 3]).max() <= 8, "transparency carried over"


def test_folder_and_checkpoint_problems_are_one_line_errors(
    style: Path, vgg_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    make_photo(16, 16, seed=0).save(photos / "p.png")
    common = ["--data.path", str(photos), *QUIET]
    evil = load_checkpoint_file(style)
    evil["extra"] = Path("/")  # a pickled Python object, not plain tensors and containers
    torch.save(evil, tmp_path / "evil.ckpt")
    moved = with_vgg_source(style, tmp_path / "moved.ckpt", str(tmp_path / "gone.pth"))
    cases = [
        (["--ckpt_path", str(style), "--output.dir", str(photos)], "is the input folder"),
        (["--ckpt_path", str(style), "--output.dir", str(photos / "inside")], "inside the input folder"),
        (["--ckpt_path", str(tmp_path / "evil.ckpt"), "--output.dir", str(tmp_path / "o")], "refused"),
        (["--ckpt_path", str(tmp_path / "nothing.ckpt"), "--output.dir", str(tmp_path / "o")], "checkpoint not found"),
        (["--ckpt_path", str(moved), "--output.dir", str(tmp_path / "o")], "pass an existing file with --model.vgg_weights"),
    ]
    for args, words in cases:
        status, _, stderr = predict(capsys, *common, *args)
        errors = [line for line in stderr.splitlines() if line.startswith("error:")]
        assert status == 2 and len(errors) == 1 and words in errors[0], (args, stderr)
        assert "Traceback" not in stderr
    assert sorted(p.name for p in photos.iterdir()) == ["p.png"] and not (tmp_path / "o").exists()
    # The offline override makes the moved checkpoint usable.
    status, _, _ = predict(
        capsys, *common, "--ckpt_path", str(moved), "--model.vgg_weights", str(vgg_path), "--output.dir", str(tmp_path / "o")
    )
    assert status == 0 and (tmp_path / "o" / "p.png").exists()


def test_tile_values_are_refused_in_one_line_from_the_command_line_or_a_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    make_photo(16, 16, seed=0).save(photos / "p.png")
    (tmp_path / "odd.yaml").write_text("tile_size: 100\n")
    (tmp_path / "wide.yaml").write_text("tile_overlap: 512\n")
    common = ["--ckpt_path", str(tmp_path / "style.ckpt"), "--data.path", str(photos), "--output.dir", str(tmp_path / "out"), *QUIET]
    for extra, words in [
        (["--tile_size", "100"], "--tile_size 100: not a multiple of 8"),
        (["--config", str(tmp_path / "odd.yaml")], "--tile_size 100: not a multiple of 8"),
        (["--config", str(tmp_path / "wide.yaml")], "--tile_size 1024: below 3 x --tile_overlap 512"),
    ]:
        status, _, stderr = predict(capsys, *common, *extra)
        lines = stderr.strip().splitlines()
        assert status == 2 and len(lines) == 1 and lines[0].startswith(f"error: {words}"), (extra, stderr)
    assert not (tmp_path / "out").exists()


def test_print_config_lists_the_predict_options(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, stdout, _ = predict(capsys, "--data.path", str(tmp_path), "--output.dir", str(tmp_path / "o"), "--print_config")
    assert status == 0
    for key in ("output:", "  format: png", "  overwrite: false", "postprocess: clamp", "tile_size: 1024", "max_pixels:", "vgg_weights:"):
        assert key in stdout, key


@pytest.mark.slow
def test_two_cpu_processes_write_each_image_exactly_once(style: Path, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    sizes = [(16, 16), (16, 16), (24, 16), (16, 24), (40, 8)]  # five images, four size groups
    for i, (w, h) in enumerate(sizes):
        make_photo(w, h, seed=i).save(photos / f"p{i}.png")
    out = tmp_path / "out"
    done = run_cli(
        "predict", "--ckpt_path", str(style), "--data.path", str(photos), "--output.dir", str(out), "--data.num_workers", "0",
        "--data.batch_size", "1", "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp",
        "--trainer.enable_progress_bar", "false", cwd=tmp_path, env={"OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "GLOBAL_RANK: 1" in done.stderr + done.stdout, "two processes ran"
    assert "5 written, 0 skipped (already existed), 0 failed" in done.stdout
    assert sorted(p.name for p in out.iterdir()) == [f"p{i}.png" for i in range(5)]
