"""Large images in overlapping tiles: the tiling covers everything, blends to exactly 1, matches
an untiled pass closely, and bounds what the network sees at once."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from predict_support import he_checkpoint
from support import make_photo
from torchvision.transforms.v2.functional import pil_to_tensor

from clipstyler_fast.infer.stylizer import Stylizer
from clipstyler_fast.infer.tiling import axis_weights, stylize_tiled, tile_spans

# Tiled (the default 128-pixel overlap) vs untiled on a mid-size image, He-initialised networks,
# fp32: the largest difference must stay below 1.5% of the output's value range and the mean
# below 0.05% (measured: 0.53% and 0.006%). Tiles without overlap are about 100 times worse
# (checked below), so these bounds do discriminate.
TILE_MAX_TOLERANCE = 0.015
TILE_MEAN_TOLERANCE = 0.0005


@pytest.fixture(scope="module")
def he_style(trained_style: Path) -> Path:
    return he_checkpoint(trained_style.parents[2], trained_style)[0]


def test_tiles_cover_the_image_on_the_feature_grid_and_weights_sum_to_one() -> None:
    for overlap in (0, 8, 16, 64, 128):
        for tile in sorted({max(3 * overlap, 8), 3 * overlap + 40, 1024}):
            for length in (8, 16, 120, 1000, 1024, 1032, 4096, 4104):
                spans = tile_spans(length, tile, overlap)
                assert spans[0][0] == 0 and spans[-1][1] == length
                total = torch.zeros(length)
                for i, (start, stop) in enumerate(spans):
                    assert start % 8 == 0 and stop % 8 == 0, "tile borders must sit on the 1/8 feature grid"
                    assert stop - start <= max(tile, 8)
                    if i:
                        assert spans[i - 1][1] - start >= overlap
                    total[start:stop] += axis_weights(spans, i)
                torch.testing.assert_close(total, torch.ones(length), rtol=0, atol=1e-6)


def test_tile_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="multiples of 8"):
        tile_spans(100, 64, 16)
    with pytest.raises(ValueError, match="3 times the overlap"):
        tile_spans(512, 64, 32)


def test_blending_reproduces_a_pointwise_network_exactly() -> None:
    images = torch.rand(2, 3, 72, 136)
    out = stylize_tiled(lambda t: t * 2 - 1, images, tile=48, overlap=16)
    torch.testing.assert_close(out, images * 2 - 1, rtol=0, atol=1e-6)


def test_tiled_output_agrees_with_untiled_and_network_input_stays_bounded(he_style: Path) -> None:
    image = pil_to_tensor(make_photo(416, 400, seed=11)).float()[None] / 255
    options = dict(tile_size=384, tile_overlap=128, precision="32-true")
    untiled = Stylizer.from_checkpoint(he_style, **options)
    tiled = Stylizer.from_checkpoint(he_style, tile_above=0, **options)
    seen: list[tuple[int, ...]] = []
    tiled.network.register_forward_hook(lambda module, args, out: seen.append(tuple(args[0].shape)))
    with torch.inference_mode():
        reference = untiled.stylize(image)
        out = tiled.stylize(image)
        seamed = Stylizer.from_checkpoint(he_style, tile_above=0, tile_size=384, tile_overlap=0, precision="32-true").stylize(image)
    assert out.shape == reference.shape == (1, 3, 400, 416)
    assert len(seen) == 4 and all(h <= 384 and w <= 384 for *_, h, w in seen), seen
    span = (reference.max() - reference.min()).item()
    error = (out - reference).abs() / span
    assert error.max().item() < TILE_MAX_TOLERANCE, error.max().item()
    assert error.mean().item() < TILE_MEAN_TOLERANCE, error.mean().item()
    # The bounds are tight enough to catch plain tiles without blending.
    assert ((seamed - reference).abs() / span).max().item() > 5 * error.max().item()
