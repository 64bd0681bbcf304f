"""Shared fixtures: tiny random-weight CLIP and VGG-19 files, and generated content images.

The weight files are written with the real model classes (clip-anytorch's ``CLIP``,
torchvision's ``vgg19``) and loaded back through the product's own loaders.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

os.environ.setdefault("PYTHONWARNINGS", "ignore::UserWarning:clip.clip")

TINY_CLIP = dict(
    embed_dim=32,
    image_resolution=32,
    vision_layers=1,
    vision_width=64,
    vision_patch_size=16,
    context_length=77,
    vocab_size=49408,
    transformer_width=64,
    transformer_heads=1,
    transformer_layers=1,
)


def write_tiny_clip(path: Path, seed: int = 0) -> Path:
    """A random CLIP ViT with clip-anytorch's own classes, saved as a plain state dict."""
    from clip.model import CLIP

    torch.manual_seed(seed)
    model = CLIP(**TINY_CLIP)
    torch.save(model.state_dict(), path)
    return path


def write_vgg(path: Path, seed: int = 0, full: bool = False) -> Path:
    """A random torchvision VGG-19 state dict (only the layers up to relu4_1 unless ``full``)."""
    from torchvision.models import vgg19

    torch.manual_seed(seed)
    model = vgg19()
    state = model.state_dict()
    if not full:
        state = {k: v for k, v in state.items() if k.startswith("features.") and int(k.split(".")[1]) < 21}
    torch.save(state, path)
    return path


def make_photo(width: int, height: int, seed: int) -> Image.Image:
    """A smooth synthetic 'photo': gradients, blobs and stripes, so crops differ in content."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    channels = []
    for c in range(3):
        fx, fy = rng.uniform(0.5, 4, size=2) * 2 * math.pi / max(width, height)
        phase = rng.uniform(0, 2 * math.pi)
        base = 0.5 + 0.3 * np.sin(fx * x + fy * y + phase)
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(5, max(width, height) / 2)
        blob = 0.4 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))
        channels.append(np.clip(base + blob * rng.choice([-1, 1]), 0, 1))
    array = (np.stack(channels, -1) * 255).astype(np.uint8)
    return Image.fromarray(array, "RGB")


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("weights")


@pytest.fixture(scope="session")
def clip_path(weights_dir: Path) -> Path:
    return write_tiny_clip(weights_dir / "tiny-clip.pt")


@pytest.fixture(scope="session")
def vgg_path(weights_dir: Path) -> Path:
    return write_vgg(weights_dir / "vgg19-random.pth")


@pytest.fixture(scope="session")
def content_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("content")
    (folder / "nested").mkdir()
    for i in range(8):
        target = folder / "nested" if i % 3 == 0 else folder
        make_photo(48 + 8 * (i % 3), 40 + 8 * (i % 4), seed=i).save(target / f"photo_{i}.png")
    return folder
