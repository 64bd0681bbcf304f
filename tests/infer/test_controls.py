"""Strength and colour preservation: exact ends, the midpoint, the photo's chroma kept, through the
pure functions, the Python API and ``predict``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from support import make_photo, style_checkpoint

from clipstyler_fast.cli.main import main
from clipstyler_fast.errors import ClipstylerError
from clipstyler_fast.infer.controls import apply_controls, blend_strength, luminance, preserve_colors
from clipstyler_fast.infer.stylizer import Stylizer

QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.accelerator", "cpu", "--data.num_workers", "0"]
QUIET += ["--trainer.precision", "32-true"]


def ycbcr(rgb: np.ndarray) -> np.ndarray:
    """Full-range BT.601 YCbCr of ``(..., 3)`` RGB, computed independently of the product (Pillow's own conversion)."""
    return np.asarray(Image.fromarray(rgb.astype(np.uint8), "RGB").convert("YCbCr")).astype(np.int16)


@pytest.fixture(scope="module")
def style(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return style_checkpoint(tmp_path_factory.mktemp("controls-style"), seed=2)


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    # Mid-range colours, so that no colour leaves the RGB cube and gets clipped.
    array = np.asarray(make_photo(40, 32, seed=3)).astype(np.float32)
    return Image.fromarray((64 + array / 2).astype(np.uint8), "RGB")


def test_the_pure_functions_have_exact_ends_a_midpoint_and_keep_chroma() -> None:
    generator = torch.Generator().manual_seed(0)
    # Values in [0.35, 0.65]: no colour leaves the RGB cube.
    photo, styled = (torch.rand(2, 3, 9, 7, generator=generator) * 0.3 + 0.35 for _ in range(2))
    assert torch.equal(blend_strength(photo, styled, 0.0), photo)
    assert torch.equal(blend_strength(photo, styled, 1.0), styled)
    assert torch.allclose(blend_strength(photo, styled, 0.5), (photo + styled) / 2, atol=1e-7)
    assert apply_controls(photo, styled) is styled
    kept = preserve_colors(photo, styled)
    assert torch.allclose(luminance(kept), luminance(styled), atol=1e-6)
    # Cb and Cr are differences of RGB channels weighted to sum to 0: unchanged by adding grey.
    assert torch.allclose(kept - kept.mean(dim=1, keepdim=True), photo - photo.mean(dim=1, keepdim=True), atol=1e-6)
    for bad in (-0.1, 1.5, float("nan"), "strong"):
        with pytest.raises(ClipstylerError, match="strength"):
            blend_strength(photo, styled, bad)  # type: ignore[arg-type]


def test_stylizer_strength_and_preserve_colors(style: Path, photo: Image.Image) -> None:
    full = np.asarray(Stylizer.from_checkpoint(style, precision="32-true")(photo)).astype(np.int16)
    original = np.asarray(photo).astype(np.int16)
    assert np.abs(full - original).mean() > 10, "the style changes the photo visibly"

    def stylized(**options: object) -> np.ndarray:
        return np.asarray(Stylizer.from_checkpoint(style, precision="32-true", **options)(photo)).astype(np.int16)

    assert np.array_equal(stylized(strength=0.0), original)
    assert np.array_equal(stylized(strength=1.0), full)
    assert np.abs(stylized(strength=0.5) - (original + full) / 2).max() <= 1
    rgb = stylized(preserve_colors=True)
    # Where no channel was clipped to the RGB cube (most pixels), within 8-bit rounding:
    inside = ((rgb > 0) & (rgb < 255)).all(axis=-1)
    assert inside.mean() > 0.8
    kept = ycbcr(rgb)[inside]
    assert np.abs(kept[:, 0] - ycbcr(full)[inside][:, 0]).max() <= 1, "the style's luminance"
    assert np.abs(kept[:, 1:] - ycbcr(original)[inside][:, 1:]).max() <= 1, "the photo's chroma"
    assert np.abs(kept[:, 1:] - ycbcr(full)[inside][:, 1:]).mean() > 5, "which differs from the style's"
    with pytest.raises(ClipstylerError, match=r"strength 1.5 is outside \[0, 1\]"):
        Stylizer.from_checkpoint(style, strength=1.5)


def test_predict_strength(style: Path, photo: Image.Image, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo.save(tmp_path / "photo.png")

    def predict(*options: str) -> np.ndarray:
        out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
        args = ["predict", "--ckpt_path", str(style), "--data.path", str(tmp_path / "photo.png"), "--output.dir", str(out)]
        assert main([*args, *QUIET, *options]) == 0, capsys.readouterr().err
        with Image.open(out / "photo.png") as image:
            return np.asarray(image).astype(np.int16)

    original = np.asarray(photo).astype(np.int16)
    full = predict()
    assert np.array_equal(predict("--strength", "0"), original)
    assert np.abs(predict("--strength", "0.5") - (original + full) / 2).max() <= 1
    api = Stylizer.from_checkpoint(style, precision="32-true")(photo)
    assert np.array_equal(full, np.asarray(api)), "strength 1 (the default) is the network's output"
    capsys.readouterr()
    args = ["predict", "--ckpt_path", str(style), "--data.path", str(tmp_path / "photo.png"), "--output.dir", str(tmp_path / "bad")]
    assert main([*args, "--strength", "2", *QUIET]) == 2
    assert "error: --strength 2: outside [0, 1]" in capsys.readouterr().err
