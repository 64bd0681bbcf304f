"""Session fixtures of the synthetic world: a small CLIP trained on it, a start decoder, photo folders.

Used by ``test_fidelity.py`` (``pytest_plugins``). Everything is trained here, in about a minute
and a half on two CPU cores, so no weight file is kept in the repository.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.fidelity import run, start_decoder, train_clip, world, world_vgg  # noqa: E402

# Steps (and images per style and step) of the fixtures, sized for CI; the accuracy test says
# they are enough.
CLIP_STEPS, CLIP_PER_CLASS = 250, 10
DECODER_STEPS = 150
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="session")
def world_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The world CLIP (clip-anytorch's ``CLIP``) as an fp16 state-dict file."""
    start = time.time()
    torch.manual_seed(0)
    model = train_clip.train(CLIP_STEPS, per_class=CLIP_PER_CLASS, log_every=0)
    path = train_clip.save(model, tmp_path_factory.mktemp("world") / "world-clip.pt")
    TIMINGS["world_clip"] = time.time() - start
    return path


@pytest.fixture(scope="session")
def world_vgg_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The world's VGG-19: random weights at a pretrained network's activation scale (``world_vgg.py``)."""
    return world_vgg.write_world_vgg(tmp_path_factory.mktemp("world") / "vgg19-world.pth")


@pytest.fixture(scope="session")
def world_decoder(tmp_path_factory: pytest.TempPathFactory, world_vgg_path: Path) -> Path:
    """A decoder trained to invert the world's VGG-19 on world photos."""
    start = time.time()
    decoder = start_decoder.train_start_decoder(world_vgg_path, DECODER_STEPS, batch=4, size=48, lr=1e-3, log_every=0)
    path = tmp_path_factory.mktemp("world") / "start-decoder.pt"
    torch.save(decoder.state_dict(), path)
    TIMINGS["world_decoder"] = time.time() - start
    return path


@pytest.fixture(scope="session")
def world_setup(tmp_path_factory: pytest.TempPathFactory, world_clip: Path, world_decoder: Path, world_vgg_path: Path) -> run.Setup:
    """Weights plus 16 training and 8 held-out world photos of 64 px, in a fresh folder."""
    workdir = tmp_path_factory.mktemp("fidelity")
    return run.prepare(
        workdir,
        world_clip,
        world_vgg_path,
        world_decoder,
        clip_steps=0,
        decoder_steps=0,
        train_photos=16,
        heldout_photos=8,
        photo_size=64,
    )


__all__ = ["world", "world_clip", "world_vgg_path", "world_decoder", "world_setup", "TIMINGS"]
