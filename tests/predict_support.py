"""Shared helpers of the predict tests: a trained tiny style checkpoint, a He-initialised one, a
directly written student, and input folders with every image mode and every kind of bad file."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from support import fit_args, make_photo

from clipstyler_fast.io.checkpoint_file import load_checkpoint_file


def trained_checkpoint(root: Path, clip_path: Path, vgg_path: Path) -> Path:
    """Train a tiny style network for 2 steps (once per test session) and return its ``style.ckpt``.

    Training reads CLIP from a private copy that is deleted afterwards: predicting with the
    checkpoint then proves that CLIP is never loaded.
    """
    style = root / "checkpoints" / "mosaic" / "style.ckpt"
    if style.exists():
        return style
    from clipstyler_fast.cli.main import main

    content = root / "content"
    content.mkdir(parents=True, exist_ok=True)
    for i in range(4):
        make_photo(40 + 8 * i, 40, seed=i).save(content / f"c{i}.png")
    clip_copy = root / "clip-deleted-after-training.pt"
    shutil.copy(clip_path, clip_copy)
    status = main(
        fit_args(clip_copy, vgg_path, content, "--trainer.default_root_dir", str(root), checkpoints=root / "checkpoints", steps=2, views=4)
    )
    assert status == 0 and style.exists()
    clip_copy.unlink()
    return style


def he_init(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """He-initialise every convolution: activations keep realistic magnitudes through the network
    (PyTorch's default init shrinks them, making outputs nearly constant)."""
    generator = torch.Generator().manual_seed(seed)
    for layer in module.modules():
        if isinstance(layer, torch.nn.Conv2d):
            fan_in = layer.weight[0].numel()
            with torch.no_grad():
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * (2 / fan_in) ** 0.5)
                layer.bias.zero_()
    return module


def he_checkpoint(root: Path, style: Path) -> tuple[Path, Path]:
    """A copy of ``style`` whose decoder, and a VGG file whose encoder, are He-initialised.

    Returns ``(checkpoint, vgg_file)``; the checkpoint records that VGG file.
    """
    from support import vgg_normalised_network

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


def quick_style(root: Path, prompt: str = "Mosaic", seed: int = 2) -> Path:
    """A style file written directly, without training: a He-initialised VGG file, which it
    records, and a He-initialised decoder whose last layer is rescaled so that each output channel
    has mean 0.5 and standard deviation 0.2 on a sample photo (a colourful texture, rarely clipped).

    Returns ``root/<seed>/style.ckpt``; the VGG file is shared by every style under ``root``.
    """
    from support import vgg_normalised_network

    from clipstyler_fast.nets.decoder import build_decoder
    from clipstyler_fast.nets.style_file import StyleFile, StyleRecord
    from clipstyler_fast.nets.vgg import load_vgg_encoder

    vgg, style = root / "he-vgg.pth", root / str(seed) / "style.ckpt"
    if not vgg.exists():
        root.mkdir(parents=True, exist_ok=True)
        torch.save(he_init(vgg_normalised_network(), seed=1).state_dict(), vgg)
    if not style.exists():
        style.parent.mkdir(parents=True, exist_ok=True)
        decoder = he_init(build_decoder(), seed)
        sample = torch.from_numpy(np.array(make_photo(64, 64, seed=seed))).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            raw = decoder(load_vgg_encoder(str(vgg), "adain")(sample))
            scale = 0.2 / raw.std(dim=(0, 2, 3))
            last = [m for m in decoder.modules() if isinstance(m, torch.nn.Conv2d)][-1]
            last.weight.mul_(scale.view(3, 1, 1, 1))
            last.bias.copy_((last.bias - raw.mean(dim=(0, 2, 3))) * scale + 0.5)
        StyleFile(StyleRecord(prompt=prompt, vgg_weights=str(vgg)), decoder.state_dict()).write(style)
    return style


def quick_student(root: Path, prompt: str = "Mosaic", seed: int = 3) -> Path:
    """A distilled student's file written directly, without distilling: a narrow student network,
    He-initialised, recorded as ``clipstyler-fast distill`` records one.

    Returns ``root/student-<seed>/student.ckpt``.
    """
    from clipstyler_fast.nets.student import STUDENT_ARCHITECTURE, StudentConfig, build_student
    from clipstyler_fast.nets.style_file import StyleFile, StyleRecord

    path = root / f"student-{seed}" / "student.ckpt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        config = StudentConfig(widths=(8, 16, 24), blocks=2, full_width=8)
        network = he_init(build_student(config), seed)
        record = StyleRecord(prompt=prompt, architecture=STUDENT_ARCHITECTURE, network="student", student=config.to_dict())
        StyleFile(record, network.state_dict()).write(path)
    return path


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
