"""Shared fixtures (the helpers they use live in ``support.py``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import make_photo, write_adain_decoder, write_tiny_clip, write_vgg, write_vgg_normalised

os.environ.setdefault("PYTHONWARNINGS", "ignore::UserWarning:clip.clip")

# The synthetic world's session fixtures (its CLIP, start decoder and photos).
pytest_plugins = ["world_fixtures"]


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("weights")


@pytest.fixture(scope="session")
def clip_path(weights_dir: Path) -> Path:
    return write_tiny_clip(weights_dir / "tiny-clip.pt")


@pytest.fixture(scope="session")
def vgg_path(weights_dir: Path) -> Path:
    """Weights of the default (``adain``) encoder."""
    return write_vgg_normalised(weights_dir / "vgg_normalised.pth")


@pytest.fixture(scope="session")
def torchvision_vgg_path(weights_dir: Path) -> Path:
    return write_vgg(weights_dir / "vgg19-random.pth")


@pytest.fixture(scope="session")
def decoder_path(weights_dir: Path) -> Path:
    """A start decoder in the layout of AdaIN's ``decoder.pth``."""
    return write_adain_decoder(weights_dir / "decoder.pth")


@pytest.fixture(scope="session")
def content_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("content")
    (folder / "nested").mkdir()
    for i in range(8):
        target = folder / "nested" if i % 3 == 0 else folder
        make_photo(48 + 8 * (i % 3), 40 + 8 * (i % 4), seed=i).save(target / f"photo_{i}.png")
    return folder
