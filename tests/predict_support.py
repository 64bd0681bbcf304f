"""Shared helpers of the predict tests: a He-initialised copy of a style checkpoint, one that
records another VGG source, and input folders with every image mode and every kind of bad file."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from support import he_init, make_photo, vgg_normalised_network

from clipstyler_fast.io.checkpoint_file import load_checkpoint_file


def he_checkpoint(root: Path, style: Path) -> tuple[Path, Path]:
    """A copy of ``style`` whose decoder, and a VGG file whose encoder, are He-initialised.

    Returns ``(checkpoint, vgg_file)``; the checkpoint records that VGG file.
    """
    from clipstyler_fast.nets.decoder import build_decoder

    ckpt, vgg = root / "he-style.ckpt", root / "he-vgg.pth"
    if ckpt.exists():
        return ckpt, vgg
    features = he_init(vgg_normalised_network(), seed=1)
    torch.save(features.state_dict(), vgg)
    checkpoint = load_checkpoint_file(style)
    decoder = he_init(build_decoder(), seed=2)
    checkpoint["state_dict"] = {f"decoder.{k}": v for k, v in decoder.state_dict().items()}
    checkpoint["hyper_parameters"]["vgg_weights"] = str(vgg)
    checkpoint["clipstyler_fast"]["vgg_weights"] = str(vgg)
    torch.save(checkpoint, ckpt)
    return ckpt, vgg


def with_vgg_source(style: Path, target: Path, vgg_source: str) -> Path:
    """A copy of ``style`` that records ``vgg_source`` as its VGG weights."""
    checkpoint = load_checkpoint_file(style)
    checkpoint["hyper_parameters"]["vgg_weights"] = vgg_source
    checkpoint["clipstyler_fast"]["vgg_weights"] = vgg_source
    torch.save(checkpoint, target)
    return target


def make_inputs(root: Path) -> tuple[dict[str, tuple[int, int, str]], dict[str, str]]:
    """Write a nested folder of good images in every mode and of bad files.

    Returns ``good``: relative input path -> (width, height, output mode) as the output must be,
    and ``bad``: relative input path -> a word its failure reason must contain.
    """
    (root / "sub" / "deeper").mkdir(parents=True, exist_ok=True)
    good: dict[str, tuple[int, int, str]] = {}
    photo = make_photo(24, 20, seed=1)

    def save(image: Image.Image, relative: str, mode: str = "RGB", **options: object) -> None:
        image.save(root / relative, **options)
        good[relative] = (image.width, image.height, mode)

    save(make_photo(37, 101, seed=2), "odd_37x101.png")
    save(Image.new("RGB", (1, 1), (200, 30, 90)), "one_pixel.png")
    save(make_photo(3000, 20, seed=4), "sub/wide_3000x20.jpg", quality=90)
    save(photo.convert("L"), "sub/gray.png")
    save(photo.convert("P"), "sub/palette.gif")
    save(photo.convert("P"), "sub/palette_transparent.png", "RGBA", transparency=0)
    save(photo.convert("CMYK"), "sub/deeper/cmyk.jpg")
    sixteen = Image.fromarray(np.asarray(photo.convert("L"), dtype=np.uint16) * 257)
    assert sixteen.mode.startswith("I;16")
    save(sixteen, "sub/deeper/sixteen.png")
    rgba = np.asarray(photo.convert("RGBA")).copy()
    rgba[..., 3] = np.linspace(0, 255, photo.width, dtype=np.uint8)[None, :]
    save(Image.fromarray(rgba, "RGBA"), "sub/rgba.png", "RGBA")
    save(photo.convert("LA"), "sub/la.png", "RGBA")
    save(photo.convert("1"), "sub/bilevel.png")
    # Stored 24x20 with EXIF orientation 6 (rotate 90): decoded upright as 20x24.
    exif = photo.getexif()
    exif[0x0112] = 6
    photo.save(root / "rotated.jpg", exif=exif)
    good["rotated.jpg"] = (photo.height, photo.width, "RGB")
    # Two inputs that would both become dup.png keep their whole names instead.
    make_photo(16, 24, seed=7).save(root / "dup.png")
    make_photo(24, 16, seed=8).save(root / "dup.jpg")
    good["dup.png"] = (16, 24, "RGB")
    good["dup.jpg"] = (24, 16, "RGB")

    bad: dict[str, str] = {}
    (root / "empty.png").write_bytes(b"")
    bad["empty.png"] = "empty"
    buffer = io.BytesIO()
    make_photo(64, 64, seed=5).save(buffer, "PNG")
    (root / "sub" / "truncated.png").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    bad["sub/truncated.png"] = "truncated"
    buffer = io.BytesIO()
    make_photo(64, 64, seed=6).save(buffer, "JPEG")
    (root / "truncated.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    bad["truncated.jpg"] = "truncated"
    (root / "sub" / "notes.jpg").write_text("this is not an image\n")
    bad["sub/notes.jpg"] = "not an image"
    Image.new("L", (2000, 2000)).save(root / "bomb.png")  # a few kB that decode to 4 megapixels
    bad["bomb.png"] = "pixel limit"
    return good, bad


def output_name(relative: str, suffix: str = ".png") -> str:
    """Where an input's output goes, as :func:`make_inputs` names them."""
    if relative.startswith("dup."):
        return relative + suffix
    return str(Path(relative).with_suffix(suffix))
