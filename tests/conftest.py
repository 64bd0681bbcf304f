"""Shared fixtures (the helpers they use live in ``support.py``)."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

import lightning.pytorch  # noqa: F401  (creates Lightning's log handlers, re-pointed below)
import pytest
from support import make_photo, style_checkpoint, write_adain_decoder, write_tiny_clip, write_vgg, write_vgg_normalised

os.environ.setdefault("PYTHONWARNINGS", "ignore::UserWarning:clip.clip")
# Caches the product writes (text directions, pre-trained decoders) go to a folder of this run,
# never to the user's ~/.cache.
os.environ.setdefault("TORCH_HOME", tempfile.mkdtemp(prefix="clipstyler-tests-torch-"))


class _CurrentStderr:
    """A stream that writes to whatever ``sys.stderr`` is now.

    Lightning's log handlers keep the ``sys.stderr`` of the moment Lightning was imported; under
    pytest that is one test's capture buffer, and every later test would lose Lightning's lines
    (the product's own info messages among them). Writing through this keeps each test's output
    in that test's capture.
    """

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


for _name in ("lightning", "lightning.pytorch", "lightning.fabric"):
    for _handler in logging.getLogger(_name).handlers:
        if type(_handler) is logging.StreamHandler:
            _handler.setStream(_CurrentStderr())  # type: ignore[arg-type]

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


ANY_PROMPT_BANK = ["Red", "Blue", "Mosaic", "Watercolor", "Sketch", "Neon"]


@pytest.fixture(scope="session")
def any_prompt_ckpt(tmp_path_factory: pytest.TempPathFactory, clip_path: Path, vgg_path: Path, content_dir: Path) -> Path:
    """An any-prompt ``style.ckpt`` trained for two steps through ``fit --data.prompts`` (a large
    learning rate, so that its prompts give visibly different outputs)."""
    extra = ["--model.holdout_prompts", "0", "--model.lr", "1e-2", "--trainer.limit_val_batches", "0"]
    root = tmp_path_factory.mktemp("any-prompt")
    return style_checkpoint(root, trained=(clip_path, vgg_path, content_dir), steps=2, bank=ANY_PROMPT_BANK, extra=extra)


@pytest.fixture(scope="session")
def trained_style(tmp_path_factory: pytest.TempPathFactory, clip_path: Path, vgg_path: Path) -> Path:
    """A style trained for two steps of four views through ``fit``, from a private copy of CLIP
    deleted afterwards: predicting with it then proves that CLIP is never loaded."""
    root = tmp_path_factory.mktemp("trained-style")
    content = root / "content"
    content.mkdir()
    for i in range(4):
        make_photo(40 + 8 * i, 40, seed=i).save(content / f"c{i}.png")
    clip = Path(shutil.copy(clip_path, root / "clip-deleted-after-training.pt"))
    style = style_checkpoint(root, trained=(clip, vgg_path, content), steps=2, views=4)
    clip.unlink()
    return style
