"""Planning the predict batches: one size per batch, bounded pixels, and every image dealt to
exactly one process."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from PIL import Image
from support import make_photo

from clipstyler_fast.errors import ImageReadError
from clipstyler_fast.infer.predict.data import deal_batches, plan_batches, probe_size


def test_batches_hold_one_size_and_respect_the_pixel_budget() -> None:
    rng = random.Random(0)
    sizes = {i: rng.choice([(16, 16), (16, 24), (400, 300), (1000, 1000)]) for i in range(60)}
    batches = plan_batches(sizes, batch_size=4, max_batch_pixels=500_000)
    assert sorted(i for b in batches for i in b) == list(range(60))
    for batch in batches:
        assert len({sizes[i] for i in batch}) == 1
        height, width = sizes[batch[0]]
        assert len(batch) <= 4 and (len(batch) == 1 or len(batch) * height * width <= 500_000)


@pytest.mark.parametrize("world_size", [1, 2, 3, 8])
def test_every_image_goes_to_exactly_one_process(world_size: int) -> None:
    sizes = {i: (8 * (1 + i % 5), 16) for i in range(23)}
    batches = plan_batches(sizes, batch_size=2, max_batch_pixels=10**9)
    shares = deal_batches(batches, sizes, world_size)
    assert len(shares) == world_size
    dealt = sorted(i for share in shares for batch in share for i in batch)
    assert dealt == list(range(23)), "no image repeated or lost"
    if world_size <= len(batches):
        assert all(shares), "every process gets work"


def test_probe_reads_sizes_with_orientation_without_decoding(tmp_path: Path) -> None:
    photo = make_photo(30, 20, seed=0)
    exif = photo.getexif()
    exif[0x0112] = 8  # rotated 270 degrees: decoded 20 wide, 30 high
    photo.save(tmp_path / "r.jpg", exif=exif)
    assert probe_size(tmp_path / "r.jpg") == (30, 20)
    Image.new("L", (3000, 3000)).save(tmp_path / "big.png")
    with pytest.raises(ImageReadError, match="exceeds the pixel limit of 1000000 .*; raise `max_pixels` to allow it$"):
        probe_size(tmp_path / "big.png", max_pixels=1_000_000)
    assert probe_size(tmp_path / "big.png", max_pixels=None) == (3000, 3000)
