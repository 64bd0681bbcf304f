"""`interpolate --strip`: an image, or every image of a folder, at several blends of two styles, side by side."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from support import make_photo, style_checkpoint

from clipstyler_fast.cli.main import main
from clipstyler_fast.infer.blend import STRIP_PADDING, StyleBlend
from clipstyler_fast.infer.stylizer import Stylizer
from clipstyler_fast.io.images import read_rgb


def test_a_folder_gets_one_strip_per_image(
    tmp_path: Path, clip_path: Path, vgg_path: Path, content_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    a = style_checkpoint(tmp_path / "a", "Mosaic", 0, trained=(clip_path, vgg_path, content_dir))
    b = style_checkpoint(tmp_path / "b", "Watercolor painting", 1, trained=(clip_path, vgg_path, content_dir))
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    make_photo(40, 24, 1).save(photos / "one.png")
    make_photo(16, 32, 2).save(photos / "sub" / "two.jpg")
    (photos / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "strips"
    args = ["interpolate", str(a), str(b), "--strip", str(photos), "--alphas", "0,0.5,1", "--output", str(out)]

    assert main([*args, "--trainer.accelerator", "cpu"]) == 1  # the broken file failed, the others were written
    captured = capsys.readouterr()
    assert "failed: " in captured.err and "broken.png" in captured.err
    assert "2 strips written, 1 failed" in captured.out
    one = Image.open(out / "one.png.strip.png")
    two = Image.open(out / "sub" / "two.jpg.strip.png")
    assert one.size == (3 * 40 + 2 * STRIP_PADDING, 24)
    assert two.size == (3 * 16 + 2 * STRIP_PADDING, 32)
    # Each panel is what a Stylizer of that blend makes of the image.
    blend, image = StyleBlend(a, b), read_rgb(photos / "one.png")
    for i, alpha in enumerate((0.0, 0.5, 1.0)):
        expected = Stylizer.from_style(blend.style_file(alpha))(image)
        panel = one.crop((i * (40 + STRIP_PADDING), 0, i * (40 + STRIP_PADDING) + 40, 24))
        assert list(panel.convert("RGB").getdata()) == list(_pil(expected).getdata()), alpha


def _pil(image: torch.Tensor) -> Image.Image:
    array = (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(array, "RGB")


def test_strips_of_a_folder_refuse_an_output_inside_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    make_photo(16, 16, 0).save(photos / "x.png")
    rc = main(["interpolate", "a.ckpt", "b.ckpt", "--strip", str(photos), "--output", str(photos / "out")])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "inside the input folder" in err and "\n" not in err
