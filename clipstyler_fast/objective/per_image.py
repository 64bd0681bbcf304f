"""The per-image objective of CLIPstyler's optimisation mode (``train_CLIPstyler.py``), as pure functions.

One network is optimised for one photo. Per step, with ``y`` the network's output for the photo
``x`` (both ``(1, 3, H, W)`` in [0, 1]), ``src = normalize(CLIP(x))`` and the text direction ``dT``:

    L = lambda_patch * Lpatch + lambda_content * Lc + lambda_tv * Ltv + lambda_dir * Ldir

- ``Lc = mse(relu4_2(y), relu4_2(x)) + mse(relu5_2(y), relu5_2(x))`` on torchvision's ImageNet
  VGG-19 (:class:`~clipstyler_fast.nets.vgg.ContentLayers` says why these two layers).
- ``Lpatch``: ``num_patches`` random ``patch_size`` squares of ``y``, each warped by its own random
  perspective (distortion 0.5, fill 0) and resized (bilinear) to CLIP's 224; per crop
  ``l = 1 - cos(normalize(normalize(CLIP(crop)) - src), dT)``, zeroed where ``l < threshold``; the mean.
- ``Ldir = 1 - cos(normalize(normalize(CLIP(y)) - src), dT)``.
- ``Ltv``: the sum of the L2 norms of the four neighbour differences (:func:`losses.total_variation`).

The published weights are 9000 / 150 / 2e-3 / 500, with 64 crops of 128 px and threshold 0.7.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from clipstyler_fast.objective import losses
from clipstyler_fast.objective.views import random_crops, sample_corners, warp


@dataclass(frozen=True)
class PerImageWeights:
    """The loss weights and the patch views of the per-image objective (published values)."""

    lambda_patch: float = 9000.0
    lambda_dir: float = 500.0
    lambda_content: float = 150.0
    lambda_tv: float = 2e-3
    num_patches: int = 64
    patch_size: int = 128
    distortion: float = 0.5
    threshold: float = 0.7


def patch_views(
    output: torch.Tensor, num_patches: int, patch_size: int, distortion: float, size: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``(B * num_patches, 3, size, size)``: random ``patch_size`` crops of each output, each warped by
    its own random perspective (fill 0), then resized (bilinear) to ``size``."""
    crop = min(patch_size, *output.shape[-2:])
    crops = random_crops(output, num_patches, crop, generator)
    warped = warp(crops, sample_corners(crops.shape[0], crop, crop, distortion, generator))
    if crop == size:
        return warped
    return F.interpolate(warped, size=(size, size), mode="bilinear", align_corners=False, antialias=crop > size)


def content_term(output_layers: tuple[torch.Tensor, ...], content_layers: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """``sum_l mse(output_l, content_l)`` over the content layers (relu4_2 and relu5_2)."""
    return torch.stack([losses.content_loss(a, b) for a, b in zip(output_layers, content_layers, strict=True)]).sum()


def per_image_terms(
    output: torch.Tensor,
    content_layers: tuple[torch.Tensor, ...],
    layers: Callable[[torch.Tensor], tuple[torch.Tensor, ...]],
    encode_image: Callable[[torch.Tensor], torch.Tensor],
    source_features: torch.Tensor,
    direction: torch.Tensor,
    weights: PerImageWeights,
    clip_size: int,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """The four unweighted terms and their weighted ``total`` for one step (see the module's formula).

    ``content_layers`` are the content photo's VGG layers, ``source_features`` its raw CLIP
    embedding ``(B, D)``; ``layers`` and ``encode_image`` are the frozen VGG and CLIP.
    """
    views = patch_views(output, weights.num_patches, weights.patch_size, weights.distortion, clip_size, generator)
    view_features = encode_image(views).view(output.shape[0], weights.num_patches, -1)
    terms = {
        "patch": losses.patch_directional_loss(view_features, source_features, direction, weights.threshold),
        "dir": losses.global_directional_loss(encode_image(output), source_features, direction),
        "content": content_term(layers(output), content_layers),
        "tv": losses.total_variation(output),
    }
    terms["total"] = (
        weights.lambda_patch * terms["patch"]
        + weights.lambda_content * terms["content"]
        + weights.lambda_tv * terms["tv"]
        + weights.lambda_dir * terms["dir"]
    )
    return terms
