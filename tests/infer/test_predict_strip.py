"""`predict --strip_with`: each input at several blends of two styles, side by side."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from support import make_photo
from tiny_style import train_style

from clipstyler_fast.cli.main import main
from clipstyler_fast.infer.blend import STRIP_PADDING, render_strip


def test_predict_strip_mode_writes_one_strip_per_image(
    tmp_path: Path, clip_path: Path, vgg_path: Path, content_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    a = train_style(tmp_path / "a", "Mosaic", clip_path, vgg_path, content_dir, seed=0)
    b = train_style(tmp_path / "b", "Watercolor painting", clip_path, vgg_path, content_dir, seed=1)
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    make_photo(40, 24, 1).save(photos / "one.png")
    make_photo(16, 32, 2).save(photos / "sub" / "two.jpg")
    (photos / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "strips"
    args = ["--ckpt_path", str(a), "--strip_with", str(b), "--alphas", "0,0.5,1", "--data.path", str(photos), "--output.dir", str(out)]

    assert main(["predict", *args]) == 1  # the broken file failed, the others were written
    captured = capsys.readouterr()
    assert "failed: " in captured.err and "broken.png" in captured.err
    assert "2 strips written, 0 skipped (already existed), 1 failed" in captured.out
    one = Image.open(out / "one.png.strip.png")
    two = Image.open(out / "sub" / "two.jpg.strip.png")
    assert one.size == (3 * 40 + 2 * STRIP_PADDING, 24)
    assert two.size == (3 * 16 + 2 * STRIP_PADDING, 32)
    # The same strip as the Python function renders.
    expected = render_strip(a, b, Image.open(photos / "one.png"), [0, 0.5, 1])
    assert list(one.convert("RGB").getdata()) == list(expected.convert("RGB").getdata())

    assert main(["predict", *args]) == 1
    assert "0 strips written, 2 skipped (already existed), 1 failed" in capsys.readouterr().out


def test_predict_strip_mode_refuses_an_output_inside_the_input(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    make_photo(16, 16, 0).save(photos / "x.png")
    rc = main(
        ["predict", "--ckpt_path", "a.ckpt", "--strip_with", "b.ckpt", "--data.path", str(photos), "--output.dir", str(photos / "out")]
    )
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "inside the input folder" in err and "\n" not in err
