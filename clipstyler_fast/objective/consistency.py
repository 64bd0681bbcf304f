"""Temporal consistency without optical flow: small random warps whose effect on the output is
known, and the penalty for an output that does not follow them.

A style network ``f`` that stylizes every frame of a video on its own flickers when its output
does not move with the picture: VGG's relu4_1 lies on a grid of 8-pixel cells, and a photo moved
by part of a cell can be drawn differently. The compound regularisation of Wang et al. (2020,
"Consistent Video Style Transfer via Compound Regularization") trains ``f`` to commute with the
warps a video makes, without any optical flow: warp a training photo ``x`` by a known random
``T`` (a translation, a small rotation and zoom, a little sensor noise) and penalise
``|f(T x + n) - T f(x)|`` over the pixels both sides cover.

Warps are 2x3 affine matrices in pixel coordinates (pixel centres at ``0 .. W-1``): the matrix
``A`` of a warp maps a pixel ``p`` of the warped image to the point ``A [p; 1]`` of the source it
shows. Sampling is bilinear with ``align_corners=True``, so a whole-pixel translation copies
pixels exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class WarpRanges:
    """How far the random warps reach.

    Attributes:
        shift: largest translation along each axis, in whole pixels (7: every offset within one
            8-pixel cell of relu4_1's grid, where a style's output moves least with the photo).
        angle: largest rotation, in degrees (either way).
        zoom: largest relative change of scale (0.05: 0.95x to 1.05x).
        noise: standard deviation of the Gaussian noise added to the warped photo (pixel values in [0, 1]).
    """

    shift: int = 7
    angle: float = 2.0
    zoom: float = 0.05
    noise: float = 0.02


DEFAULT_WARPS = WarpRanges()


def affine_matrices(shift: torch.Tensor, angle: torch.Tensor, scale: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The matrices ``(n, 2, 3)`` of the motions that rotate by ``angle`` (radians, ``(n,)``) and
    scale by ``scale`` (``(n,)``) about the image centre ``c``, then translate by ``shift`` (``(n, 2)``, x then y):
    a point ``q`` of the source moves to ``p = s R q' + c + d`` with ``q' = q - c``. Each matrix maps
    ``p`` back: ``A [p; 1] = R(-angle) (p - c - d) / s + c``."""
    centre = torch.tensor([(width - 1) / 2, (height - 1) / 2], dtype=torch.float64)
    cos, sin = torch.cos(angle.double()), torch.sin(angle.double())
    inverse = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2) / scale.double()[:, None, None]
    offset = centre - (inverse @ (centre + shift.double()).unsqueeze(-1)).squeeze(-1)
    return torch.cat([inverse, offset.unsqueeze(-1)], dim=-1).float()


def translation_matrices(shift: torch.Tensor) -> torch.Tensor:
    """The matrices ``(n, 2, 3)`` of pure translations by ``shift`` ``(n, 2)`` pixels (x right, y down)."""
    eye = torch.eye(2, dtype=torch.float32).expand(len(shift), 2, 2)
    return torch.cat([eye, -shift.float().unsqueeze(-1)], dim=-1)


def sample_warps(
    count: int, height: int, width: int, ranges: WarpRanges = DEFAULT_WARPS, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``count`` random warps ``(count, 2, 3)``: whole-pixel translations up to ``ranges.shift``
    along each axis, rotations up to ``ranges.angle`` degrees and zooms up to ``ranges.zoom``, all uniform."""
    shift = torch.randint(-ranges.shift, ranges.shift + 1, (count, 2), generator=generator).float()
    angle = (torch.rand(count, generator=generator) * 2 - 1) * math.radians(ranges.angle)
    scale = 1 + (torch.rand(count, generator=generator) * 2 - 1) * ranges.zoom
    return affine_matrices(shift, angle, scale, height, width)


def _source_points(matrices: torch.Tensor, height: int, width: int, device: torch.device) -> torch.Tensor:
    """``(n, H, W, 2)``: the source point (x, y) in pixels that each pixel of the warped image shows."""
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij")
    pixels = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1).to(device)
    return torch.einsum("hwk,njk->nhwj", pixels, matrices.to(device=device, dtype=torch.float32))


def coverage(matrices: torch.Tensor, height: int, width: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(n, 1, H, W)``: 1 where a pixel of the warped image shows a point inside the source
    (pixel centres ``0 .. W-1`` by ``0 .. H-1``), 0 where it would show what lies outside."""
    points = _source_points(matrices, height, width, torch.device(device))
    eps = 1e-4  # a whole-pixel translation lands exactly on the last pixel centre
    x, y = points[..., 0], points[..., 1]
    inside = (x >= -eps) & (x <= width - 1 + eps) & (y >= -eps) & (y <= height - 1 + eps)
    return inside.unsqueeze(1).float()


def _reflect(coordinate: torch.Tensor, size: int) -> torch.Tensor:
    """Coordinates outside ``[0, size - 1]`` mirrored back into it (about the first and last pixel centres)."""
    if size == 1:
        return torch.zeros_like(coordinate)
    period = 2 * (size - 1)
    folded = coordinate.abs().remainder(period)
    return torch.where(folded > size - 1, period - folded, folded)


def _translate(images: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Whole-pixel translations: image ``i`` at pixel ``p`` takes its pixel ``p + offsets[i]``, mirrored back inside."""
    height, width = images.shape[-2:]
    out = []
    for image, (dx, dy) in zip(images, offsets.tolist()):
        rows = _reflect(torch.arange(height, dtype=torch.float32) + dy, height).long().to(images.device)
        cols = _reflect(torch.arange(width, dtype=torch.float32) + dx, width).long().to(images.device)
        out.append(image.index_select(-2, rows).index_select(-1, cols))
    return torch.stack(out)


def warp(images: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """Warp each image ``(n, C, H, W)`` by its matrix ``(n, 2, 3)``: output pixel ``p`` takes the
    source at ``A [p; 1]``, sampled bilinearly; points outside the source are mirrored back into it,
    which keeps a warped photo looking like a photo.

    Whole-pixel translations copy pixels bit for bit (``grid_sample``'s normalised grid would round
    them by a few millionths); everything else goes through ``grid_sample`` with reflection."""
    matrices = matrices.to(device=images.device, dtype=torch.float32)
    offsets = matrices[:, :, 2]
    identity = torch.eye(2, device=images.device).expand_as(matrices[:, :, :2])
    if torch.equal(matrices[:, :, :2], identity) and torch.equal(offsets, offsets.round()):
        return _translate(images, offsets)
    height, width = images.shape[-2:]
    points = _source_points(matrices, height, width, images.device)
    # align_corners=True puts -1 and 1 on the first and last pixel centres, as the matrices do.
    scale = torch.tensor([2 / max(width - 1, 1), 2 / max(height - 1, 1)], device=images.device)
    grid = (points * scale - 1).to(images.dtype)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=True)


def masked_l1(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``sum(m |a - b|) / (C sum(m))``: the mean absolute difference of ``a`` and ``b`` ``(n, C, H, W)``
    over the pixels where ``mask`` ``(n, 1, H, W)`` is 1 (0 when no pixel is)."""
    total = (mask * (a.float() - b.float()).abs()).sum()
    return total / (a.shape[1] * mask.sum()).clamp_min(1.0)


def consistency_loss(
    network: Callable[[torch.Tensor], torch.Tensor],
    content: torch.Tensor,
    output: torch.Tensor,
    warps: torch.Tensor,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """The compound consistency term of one batch.

    ``L = sum_p m(p) |f(T x + n)(p) - (T f(x))(p)|_1 / (C sum_p m(p))``

    Args:
        network: ``f``, run on the warped photos (gradients flow through it).
        content: ``x``, the first ``len(warps)`` photos ``(n, 3, H, W)`` of the batch in [0, 1].
        output: ``f(x)`` for them, as the training step already computed it.
        warps: ``T``, one matrix ``(n, 2, 3)`` per photo (:func:`sample_warps`).
        noise: ``n``, added to the warped photos (which are then clamped to [0, 1]); None for none.

    ``m`` is :func:`coverage`: the pixels of ``T f(x)`` that show a point of ``f(x)``; elsewhere
    the warp shows padding, which ``f(T x)`` has no reason to match. Gradients flow through both
    sides, so the network learns to follow the warp rather than only to copy its own earlier output.
    """
    moved = warp(content, warps)
    if noise is not None:
        moved = (moved + noise.to(moved)).clamp(0, 1)
    mask = coverage(warps, content.shape[-2], content.shape[-1], content.device)
    return masked_l1(network(moved), warp(output, warps), mask)


def sensor_noise(shape: torch.Size, std: float, generator: torch.Generator | None = None) -> torch.Tensor | None:
    """Gaussian noise of ``std`` in the given shape, on the CPU (None when ``std`` is 0)."""
    return torch.randn(shape, generator=generator) * std if std > 0 else None
