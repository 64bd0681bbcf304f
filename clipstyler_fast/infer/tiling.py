"""Stylizing images too large for one pass: overlapping tiles blended with feathered weights.

Tiles start and end on multiples of 8 pixels, so every tile's relu4_1 feature grid lines up
with the whole image's. Neighbouring tiles overlap; across each overlap their weights
cross-fade in opposite directions and sum to exactly 1, so no seam shows and no normalisation
buffer is needed. Memory is bounded by one tile's activations plus the input and output images.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

GRID = 8


def tile_spans(length: int, tile: int, overlap: int, grid: int = GRID) -> list[tuple[int, int]]:
    """``(start, stop)`` of the tiles covering ``[0, length)`` along one axis.

    ``length`` must be a multiple of ``grid``. Tiles are at most ``tile`` long (rounded up to the
    grid), overlap by at least ``overlap`` and are spread evenly, so the last one is not a sliver.
    """
    if length % grid or tile % grid or overlap % grid:
        raise ValueError(f"length {length}, tile {tile} and overlap {overlap} must be multiples of {grid}")
    if tile < max(3 * overlap, grid):
        # Below that, the overlaps of a tile's two neighbours could meet and the weights not sum to 1.
        raise ValueError(f"tile size {tile} must be at least 3 times the overlap {overlap} (and at least {grid})")
    if length <= tile:
        return [(0, length)]
    count = math.ceil((length - overlap) / (tile - overlap))
    size = math.ceil((length + (count - 1) * overlap) / count / grid) * grid
    step = (length - size) / (count - 1)
    starts = [int(i * step) // grid * grid for i in range(count - 1)] + [length - size]
    return [(start, start + size) for start in starts]


def cross_fade(length: int, device: torch.device | None = None) -> torch.Tensor:
    """Weight of the incoming tile across an overlap of ``length`` pixels (the outgoing tile gets 1 minus it).

    The outer quarter on each side goes fully to the tile that is not near its own edge there
    (edge pixels see reflection padding instead of the true surroundings); the middle half fades
    linearly. Values are ``(k + 0.5 - length / 4) / (length / 2)`` clamped to [0, 1].
    """
    margin = length // 4
    ramp = max(length - 2 * margin, 1)
    return ((torch.arange(length, device=device) + 0.5 - margin) / ramp).clamp(0, 1)


def axis_weights(spans: list[tuple[int, int]], index: int, device: torch.device | None = None) -> torch.Tensor:
    """Blending weights of tile ``index`` along one axis: 1 inside, cross-fades over the overlaps.

    Neighbours use complementary cross-fades, so the weights of all tiles sum to exactly 1.
    """
    start, stop = spans[index]
    weights = torch.ones(stop - start, device=device)
    lead = spans[index - 1][1] - start if index > 0 else 0
    if lead > 0:
        weights[:lead] = cross_fade(lead, device)
    trail = stop - spans[index + 1][0] if index < len(spans) - 1 else 0
    if trail > 0:
        weights[-trail:] = 1 - cross_fade(trail, device)
    return weights


def stylize_tiled(
    network: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    tile: int = 1024,
    overlap: int = 128,
    on_tile: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Run ``network`` over ``(B, C, H, W)`` images (``H``, ``W`` multiples of 8) tile by tile.

    ``network`` must map a ``(B, C, h, w)`` tile to a ``(B, C_out, h, w)`` output; the blended
    float32 result has the full image size. ``on_tile(done, total)`` is called after each tile
    (a large image takes minutes on a CPU; this is what a progress bar follows).
    """
    height, width = images.shape[-2:]
    rows = tile_spans(height, tile, overlap)
    cols = tile_spans(width, tile, overlap)
    total = len(rows) * len(cols)
    out: torch.Tensor | None = None
    for i, (top, bottom) in enumerate(rows):
        wy = axis_weights(rows, i, images.device)
        for j, (left, right) in enumerate(cols):
            wx = axis_weights(cols, j, images.device)
            result = network(images[..., top:bottom, left:right]).float()
            if out is None:
                out = torch.zeros(*images.shape[:-3], result.shape[-3], height, width, device=images.device)
            out[..., top:bottom, left:right] += result * (wy[:, None] * wx[None, :])
            if on_tile is not None:
                on_tile(i * len(cols) + j + 1, total)
    assert out is not None
    return out
