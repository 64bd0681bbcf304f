"""Session fixtures of the synthetic world: a small CLIP trained on it, a start decoder, photo folders.

Used by ``test_fidelity.py`` (``pytest_plugins``). Everything is trained here, in a few minutes on two CPU cores, so no weight file is kept in the repository.
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

from benchmarks.fidelity import run, train_clip, world, world_vgg  # noqa: E402

# Steps (and images per style and step) of the fixtures, sized for CI; the accuracy test says
# they are enough.
CLIP_STEPS, CLIP_PER_CLASS = 250, 10
# The CI world's VGG-19 trains for fewer steps than the benchmark's; the realism test says it is enough.
WORLD_VGG_STEPS = 300
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
def world_vgg_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The world's VGG-19 (torchvision layout) and the decoder trained beside it (``world_vgg.py``)."""
    start = time.time()
    folder = tmp_path_factory.mktemp("world")
    vgg = world_vgg.write_world_vgg(folder / "vgg19-world.pth", folder / "start-decoder.pt", WORLD_VGG_STEPS)
    TIMINGS["world_vgg"] = time.time() - start
    return vgg, folder / "start-decoder.pt"


@pytest.fixture(scope="session")
def world_vgg_path(world_vgg_pair: tuple[Path, Path]) -> Path:
    """The world's VGG-19, trained on world photos until its relu4_1 sees their layout."""
    return world_vgg_pair[0]


@pytest.fixture(scope="session")
def world_decoder(world_vgg_pair: tuple[Path, Path]) -> Path:
    """A start decoder: the decoder trained with the world's VGG-19 to reconstruct world photos."""
    return world_vgg_pair[1]


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


__all__ = ["world", "world_clip", "world_vgg_pair", "world_vgg_path", "world_decoder", "world_setup", "TIMINGS"]
